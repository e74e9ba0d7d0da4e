"""`make test-portable`: the numerical tests under every CPU kernel family and thread count, with their margins.

Floating-point sums depend on the kernels (ATen picks AVX-512, AVX2 or plain C at run time) and on how many
threads split a reduction. This runs the tests marked `numeric` under ATEN_CPU_CAPABILITY=default, avx2 and
the machine's own choice, each with 1 and 2 threads, and prints the worst margin (error / tolerance, from
`ftcourse.numerics`) each comparison reached over all runs: below 1 passes, and the closer to 1, the less
room a new CPU has. Exit status 1 if any run fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = ("default", "avx2", "")  # "" = the machine's own choice
THREADS = (1, 2)


def run(capability: str, threads: int, margins: Path, extra: list[str]) -> int:
    env = dict(os.environ, FTCOURSE_MODE="smoke", HF_HUB_OFFLINE="1", FTCOURSE_MARGINS=str(margins),
               FTCOURSE_TEST_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    label = f"ATEN_CPU_CAPABILITY={capability or '(machine)'} threads={threads}"
    print(f"== {label}", flush=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "numeric", "-p", "no:cacheprovider", "tests/unit", *extra]
    return subprocess.call(cmd, cwd=ROOT, env=env)


def report(margins: Path) -> str:
    worst: dict[tuple[str, str], float] = defaultdict(float)
    for line in margins.read_text().splitlines():
        row = json.loads(line)
        test = row["test"].split("::", 1)[-1]
        key = (test, row["what"])
        worst[key] = max(worst[key], row["margin"])
    by_test: dict[str, float] = defaultdict(float)
    for (test, _what), value in worst.items():
        by_test[test] = max(by_test[test], value)
    lines = [f"{'worst margin':>12}  test (error / tolerance over every capability and thread count)"]
    for test, value in sorted(by_test.items(), key=lambda kv: -kv[1]):
        lines.append(f"{value:>12.3f}  {test}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        margins = Path(tmp) / "margins.jsonl"
        margins.touch()
        for capability in CAPABILITIES:
            for threads in THREADS:
                if run(capability, threads, margins, argv):
                    failures.append(f"{capability or 'machine'}/{threads}")
        print(report(margins))
    if failures:
        print(f"FAILED under: {', '.join(failures)}")
        return 1
    print(f"all {len(CAPABILITIES) * len(THREADS)} runs passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
