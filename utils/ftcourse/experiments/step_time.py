"""The time column of the course: a method's training step against full fine-tuning's, on the same batch.

>>> t = experiments.step_timing(base, batch, {"method": "lora", "r": 16, "target_modules": "all-linear"})
>>> print(t.line("LoRA step", "full step"))          # median ratio of interleaved repeats, p25–p75
>>> t = experiments.step_timing(base, batch, my_model)   # a model made by hand (lesson 06) works too

Both contenders are fresh copies (`experiments.prepare`, or a deep copy of a given model) stepped by the
course's own loop body (`train.step_function`) and timed with `ftcourse.bench.timing.compare` within
`ftcourse.presets.timing_budget()`, so every lesson gets its ratio the same way; `base` is untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

FULL = {"method": "full"}
DEFAULT_LR = 1e-3  # a step's cost does not depend on the learning rate; AdamW needs one


def _contender(base, which, baseline: Mapping[str, object] | None, lr: float | None, name: str):
    """(a model to step, its lr): a setting prepared on a copy of `base`, or a copy of a model given as is."""
    import torch

    from ftcourse.experiments.runs import _split, prepare
    from ftcourse.experiments.spec import check_setting

    if isinstance(which, torch.nn.Module):
        return copy.deepcopy(which), lr or DEFAULT_LR
    if not isinstance(which, Mapping):
        raise ValueError(f"{name} must be a setting (a dict such as {{'method': 'lora', 'r': 8}}) or a model, "
                         f"got {type(which).__name__}")
    _method, setting_lr, _lora = _split(check_setting(name, dict(which), baseline))
    return prepare(base, baseline=baseline, name=name, **which), lr or setting_lr or DEFAULT_LR


def step_timing(base, batch: Mapping, setting, *, against=FULL, baseline: Mapping[str, object] | None = None,
                lr: float | None = None, budget_s: float | None = None):
    """Time one training step of `setting` against one of `against` (default: full fine-tuning) on `batch`.

    `setting` / `against`: a setting as `prepare` takes it (method, lr, LoraConfig fields; the rest from
    `baseline`) or a model already made ready (copied, not changed). Returns a `bench.timing.Timing`
    whose ratio is setting / against. `budget_s` defaults to `ftcourse.presets.timing_budget()`.
    """
    from ftcourse import train
    from ftcourse.bench.timing import compare
    from ftcourse.presets import timing_budget

    if not isinstance(batch, Mapping) or "input_ids" not in batch or "labels" not in batch:
        raise ValueError("batch must be a mapping with 'input_ids' and 'labels' (a training batch)")
    first, first_lr = _contender(base, setting, baseline, lr, "setting")
    second, second_lr = _contender(base, against, baseline, lr, "against")
    device = next(first.parameters()).device
    step_first = train.step_function(first, batch, lr=first_lr)
    step_second = train.step_function(second, batch, lr=second_lr)
    return compare(step_first, step_second, device=device, budget_s=budget_s or timing_budget())


__all__ = ["FULL", "step_timing"]
