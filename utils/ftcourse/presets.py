"""Sizes and step counts per mode, in one table, so that a lesson's cells never branch on the mode.

>>> from ftcourse.presets import training_preset
>>> p = training_preset("sentiment")          # the current mode (ftcourse.env.mode())
>>> p["n_train"], p["epochs"], p["batch_size"]

Smoke values are sized for two CPU cores (the whole lesson under 45 s) and chosen so that both
full fine-tuning and LoRA clearly learn on the embedded model (1,600 sentences: 50 steps of 32);
full values are sized for a free Colab T4 with SmolLM2-135M. Learning rates differ by method:
LoRA trains far fewer parameters, each starting from zero (B = 0), and needs a larger step
(Hu et al. 2021 use 2e-4 to 5e-4 on RoBERTa where full fine-tuning uses 1e-5 to 3e-5).
"""

from __future__ import annotations

import copy

# task -> mode -> settings. Keys:
#   n_train     training examples used (the first n of the shuffled training split)
#   epochs      passes over them
#   batch_size  sequences per optimizer step
#   max_length  tokens per sequence after truncation
#   lr_full     AdamW learning rate for full fine-tuning
#   lr_lora     AdamW learning rate for LoRA
#   r, lora_alpha   LoRA rank and alpha (peft's names) (scaling alpha / r)
#   probe_shapes (batch, sequence) pairs at which activation memory is measured
TRAINING: dict[str, dict[str, dict[str, object]]] = {
    "sentiment": {
        "smoke": dict(n_train=1600, epochs=1, batch_size=32, max_length=48, lr_full=1e-3, lr_lora=3e-3,
                      r=16, lora_alpha=32, probe_shapes=((8, 16), (16, 16), (16, 32))),
        "full": dict(n_train=20000, epochs=1, batch_size=16, max_length=64, lr_full=3e-5, lr_lora=5e-4,
                     r=16, lora_alpha=32, probe_shapes=((4, 64), (8, 64), (8, 128))),
    },
}

# mode -> seconds of timing per comparison a lesson makes with ftcourse.bench.timing.compare
# (interleaved repeats: at least 5 whatever the budget, so a smoke lesson stays fast and still has a spread)
TIMING_BUDGET_S: dict[str, float] = {"smoke": 1.5, "full": 6.0}

# A dry run (FTCOURSE_DRY_RUN=1, see ftcourse.env.dry_run and ftcourse.standin) is full mode on a CPU against a
# stand-in hub: it keeps full mode's batch sizes, lengths, learning rates and ranks and caps only what sets the
# run time, here and nowhere else: training examples and epochs (so steps) and seconds per timing.
DRY_RUN_CAPS: dict[str, int] = {"n_train": 256, "epochs": 1}
DRY_RUN_TIMING_BUDGET_S = TIMING_BUDGET_S["smoke"]


def _dry_run(mode: str) -> bool:
    from ftcourse import env

    return mode == "full" and env.dry_run()


def timing_budget(mode: str | None = None) -> float:
    """Seconds a lesson spends on one interleaved timing in `mode` (default: `ftcourse.env.mode()`; dry run: capped)."""
    if mode is None:
        from ftcourse import env

        mode = env.mode()
    if not isinstance(mode, str) or mode not in TIMING_BUDGET_S:
        raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(TIMING_BUDGET_S)}")
    budget = TIMING_BUDGET_S[mode]
    return min(budget, DRY_RUN_TIMING_BUDGET_S) if _dry_run(mode) else budget


def tasks() -> tuple[str, ...]:
    """The task names the table knows."""
    return tuple(TRAINING)


def training_preset(task: str, mode: str | None = None) -> dict[str, object]:
    """The settings for `task` in `mode` (default: `ftcourse.env.mode()`), as a fresh dict the caller may change.

    In a dry run (`ftcourse.env.dry_run()`) full mode's n_train and epochs are capped by `DRY_RUN_CAPS`.
    """
    if not isinstance(task, str) or task not in TRAINING:
        raise ValueError(f"unknown task {task!r}; valid choices: {', '.join(TRAINING)}")
    if mode is None:
        from ftcourse import env

        mode = env.mode()
    per_mode = TRAINING[task]
    if not isinstance(mode, str) or mode not in per_mode:
        raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(per_mode)}")
    preset = copy.deepcopy(per_mode[mode])
    if _dry_run(mode):
        preset.update({key: min(preset[key], cap) for key, cap in DRY_RUN_CAPS.items() if key in preset})
    return preset


__all__ = ["DRY_RUN_CAPS", "DRY_RUN_TIMING_BUDGET_S", "TIMING_BUDGET_S", "TRAINING", "tasks", "timing_budget",
           "training_preset"]
