"""`ftcourse bench …`: commands that measure and print figures; tests never assert on their timings.

One module per command, each with `build_parser()` (its own options and --help) and
`main(argv) -> exit status`; `ftcourse.cli` only looks the name up here and dispatches:

- `memory`: the training-memory estimator against measured training steps (`ftcourse.bench.memory`);
- `lora`: the hand-written LoRA layer against peft's, merged against unmerged (`ftcourse.bench.lora`);
- `sweep`: a settings file of `ftcourse.experiments` over seeds (`ftcourse.bench.sweep`).

Shared by all: `timing.compare` (interleaved repeats → median ratio and p25–p75) and
`report` (device and dtype from `ftcourse.env`, the JSON writer with its `meta` block).
Reference results that a command reproduces sit beside it, in `REFERENCE` (bench/reference/).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ftcourse._util import check_choice

BENCHES: dict[str, str] = {
    "lora": "ftcourse.bench.lora",
    "memory": "ftcourse.bench.memory",
    "sweep": "ftcourse.bench.sweep",
}
# One line per command for `ftcourse bench --help`, without importing torch to print it.
SUMMARIES: dict[str, str] = {
    "lora": "hand-written LoRALinear vs peft's layer; merged model vs base (ratios)",
    "memory": "the memory estimator against measured training steps",
    "sweep": "a settings file of ftcourse.experiments over seeds (lesson08, lab07)",
}
REFERENCE = Path(__file__).resolve().with_name("reference")


def load(name: str):
    """The module of bench `name` (imported on first use)."""
    return importlib.import_module(BENCHES[check_choice("bench", name, BENCHES)])


def main(name: str, argv: list[str] | None = None) -> int:
    """Run `ftcourse bench <name> <argv...>`; returns the exit status."""
    return load(name).main(argv)


__all__ = ["BENCHES", "REFERENCE", "SUMMARIES", "load", "main"]
