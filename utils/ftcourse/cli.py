"""The `ftcourse` command: `ftcourse doctor` (later: estimate, assign, grade, bench)."""

from __future__ import annotations

import argparse
import sys


def _doctor(_args: argparse.Namespace) -> int:
    from ftcourse import doctor

    return doctor.main()


def _mode(_args: argparse.Namespace) -> int:
    from ftcourse import env

    print(env.choose_mode().line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftcourse", description="Tools of the course 'Fine-Tuning LLMs'.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("doctor", help="check Python, package versions, device, mode and hub").set_defaults(func=_doctor)
    sub.add_parser("mode", help="print which mode (smoke/full) the course would use and why").set_defaults(func=_mode)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad input (e.g. FTCOURSE_MODE): one clear line, no traceback
        print(f"ftcourse {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
