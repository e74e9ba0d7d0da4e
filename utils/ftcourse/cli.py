"""The `ftcourse` command: `doctor`, `mode`, `estimate`, `bench`, `assign` and `grade`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftcourse.bench import BENCHES, SUMMARIES


def _doctor(_args: argparse.Namespace) -> int:
    from ftcourse import doctor

    return doctor.main()


def _mode(_args: argparse.Namespace) -> int:
    from ftcourse import env

    print(env.choose_mode().line())
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from ftcourse.memory.estimate import estimate_main

    return estimate_main(args.rest)


def _bench(args: argparse.Namespace) -> int:
    from ftcourse import bench

    return bench.main(args.what, args.rest)


def _find_root(start: Path) -> Path | None:
    """The course repository containing `start`: the nearest folder with a pyproject.toml."""
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def _renderer(root: Path):
    """Badge and setup cells regenerated exactly as `python -m ftcourse.notebooks render` would."""
    from ftcourse import notebooks

    try:
        settings = notebooks.course_settings(root)
    except (KeyError, OSError, ValueError):
        return None
    return lambda nb, relpath: notebooks.render(nb, relpath, settings["repository"], settings["branch"])


def _assign(args: argparse.Namespace) -> int:
    from ftcourse.grading import assign

    solutions = Path(args.solutions)
    labs = Path(args.labs) if args.labs else solutions.parent / "labs"
    root = _find_root(solutions) or solutions.parent
    render = _renderer(root)
    if args.check:
        problems = assign.drift(solutions, labs, root, render, args.checks)
        print("\n".join(problems) or f"{labs} matches a fresh assign of {solutions}")
        return 1 if problems else 0
    changed = assign.assign(solutions, labs, root, render, args.checks)
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(changed)} lab(s) updated in {labs}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from ftcourse.grading import grade

    options = grade.Options(timeout=args.timeout, kernel_name=args.kernel, solutions_dir=args.solutions,
                            checks_dir=args.checks)
    results = grade.grade(args.notebooks, args.out, options)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"ftcourse grade: error: {r.error}", file=sys.stderr)
    print(f"reports in {args.out}/: summary.md, results.json, junit.xml" + (", grades.csv" if len(results) > 1 else ""))
    return 2 if failed else 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftcourse", description="Tools of the course 'Fine-Tuning LLMs'.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("doctor", help="check Python, package versions, device, mode and hub").set_defaults(func=_doctor)
    sub.add_parser("mode", help="print which mode (smoke/full) the course would use and why").set_defaults(func=_mode)

    # estimate and every bench declare their own options (and --help): what follows their name is theirs.
    sub.add_parser("estimate", add_help=False, help="predict the memory of a training run "
                                                    "(ftcourse estimate --help for options)").set_defaults(
        func=_estimate, passthrough=True)
    bench = sub.add_parser("bench", help="measure and print figures: " + ", ".join(BENCHES),
                           description="Benchmarks print figures (with --json, a file with its meta block); "
                                       "`ftcourse bench NAME --help` shows the options of each.")
    benches = bench.add_subparsers(dest="what", required=True, metavar="NAME")
    for name, summary in SUMMARIES.items():
        benches.add_parser(name, add_help=False, help=summary).set_defaults(func=_bench, passthrough=True)

    assign = sub.add_parser("assign", help="write the student labs (labs/) from the solutions (solutions/)",
                            description="Generate labs/labNN_*.ipynb from solutions/labNN_*.ipynb: answers become "
                                        "stubs, outputs are cleared, check and locked cells become read-only.")
    assign.add_argument("--solutions", default="solutions", help="folder of solution notebooks (default: solutions)")
    assign.add_argument("--labs", help="folder to write (default: labs next to the solutions folder)")
    assign.add_argument("--checks", type=Path, help="extra folder of labNN.py check modules (default: the package's)")
    assign.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if labs/ differs from a fresh assign")
    assign.set_defaults(func=_assign)

    grade = sub.add_parser("grade", help="grade lab notebooks (never modifies them)",
                           description="Execute each notebook in a fresh kernel with its check cells restored, score "
                                       "every question on its own, and write summary.md, results.json, junit.xml "
                                       "(and grades.csv for several notebooks) under --out. Exit code 0 whenever "
                                       "grading ran, whatever the score.")
    grade.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="lab notebooks (labNN_*.ipynb)")
    grade.add_argument("--out", default="grading-out", help="folder for reports and executed copies "
                                                            "(default: grading-out)")
    grade.add_argument("--timeout", type=_positive, default=120.0,
                       help="seconds per cell unless the lab's metadata sets one (default: 120)")
    grade.add_argument("--solutions", type=Path, help="folder with the canonical solutions/labNN_*.ipynb "
                                                      "(default: ./solutions, then the course repository's)")
    grade.add_argument("--checks", type=Path, help="extra folder of labNN.py check modules (default: the package's)")
    grade.add_argument("--kernel", default="python3", help="Jupyter kernel to run the notebooks (default: python3)")
    grade.set_defaults(func=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    try:
        return args.func(args)
    except ValueError as exc:  # bad input (e.g. FTCOURSE_MODE, a broken lab): one clear line, no traceback
        print(f"ftcourse {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
