"""Runs: one method on one task at one seed, measured the same way every time; sweeps of them.

`run_one` copies a base classifier, prepares it for the method (peft LoRA, full fine-tuning, or only
the new head), trains it with `ftcourse.train.train` and scores it on a validation set. It records:

- `accuracy` on the validation set and `losses`, the loss of every step;
- `trainable` parameters, and `checkpoint_bytes`: what saving the result writes, the trainable
  tensors' bytes (peft's adapter file for LoRA, the whole model for full fine-tuning);
- `peak_memory` in bytes with its `peak_memory_source`: "cuda" (torch.cuda.max_memory_allocated during
  the run, less what was allocated before) or "estimate" (`ftcourse.memory.estimate`'s peak at
  batch_size × max_length on CPU, for the methods it models; None otherwise);
- `seconds` of training (wall clock; compare timings with `ftcourse.bench.timing.compare`, not these).

>>> spec = experiments.settings("lesson08")
>>> runs = experiments.sweep(base, tok, train_set, val_set, spec, seeds=(0, 1, 2))
>>> print(experiments.format_summary(experiments.summarize(runs)))
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ftcourse.compat import import_peft
from ftcourse.experiments.spec import RUN_KEYS, Settings, check_setting

HEAD = "score"  # the new classification head of transformers' *ForSequenceClassification models
# Reference sweeps sit beside `ftcourse bench sweep`, which reproduces them (a path: experiments imports no bench).
REFERENCE = Path(__file__).resolve().parents[1] / "bench" / "reference"


@dataclass
class RunResult:
    """One trained setting at one seed: loss per step, validation accuracy, cost, memory and time.

    The fields after `seconds` came later: results read from older files have None there.
    """

    name: str
    seed: int
    settings: dict[str, object]
    losses: list[float]
    accuracy: float
    trainable: int
    seconds: float
    method: str | None = None
    checkpoint_bytes: int | None = None
    peak_memory: int | None = None
    peak_memory_source: str | None = None

    @property
    def final_loss(self) -> float:
        """Mean of the last three steps' losses (one batch's loss alone is noisy)."""
        tail = self.losses[-3:]
        return sum(tail) / len(tail) if tail else math.nan

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> RunResult:
        """A RunResult from a dict as `to_dict` (or an older version of it) wrote it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"run record has unknown field(s) {unknown}; valid: {', '.join(sorted(known))}")
        return cls(**data)


def checkpoint_bytes(model) -> int:
    """Bytes of the tensors saving this run writes: every trainable parameter (shared tensors once).

    For a peft model that is its adapter file's tensors (LoRA factors and `modules_to_save` copies);
    for a fully fine-tuned model every weight. The file adds a small header (safetensors' JSON).
    """
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def _split(merged: Mapping[str, object]) -> tuple[str, float | None, dict[str, object]]:
    """(method, lr, LoraConfig fields) of a resolved setting."""
    lora = {k: v for k, v in merged.items() if k not in RUN_KEYS}
    lr = merged.get("lr")
    return str(merged.get("method", "lora")), (float(lr) if lr is not None else None), lora


def prepare(base, *, baseline: Mapping[str, object] | None = None, name: str = "run", **setting):
    """A fresh copy of `base` (a sequence classifier) made ready for the setting's method; `base` is untouched.

    "lora": wrapped with peft's `get_peft_model(LoraConfig(task_type="SEQ_CLS", ...))` (lora_dropout 0
    unless set); "full": every parameter trains; "head": only the new head `score` trains.
    """
    from ftcourse.compat import quiet

    method, _lr, lora = _split(check_setting(name, setting, baseline))
    model = copy.deepcopy(base)
    if method == "lora":
        import_peft()  # quiet: its first import logs a bitsandbytes line
        from peft import LoraConfig, get_peft_model

        lora.setdefault("lora_dropout", 0.0)
        if isinstance(lora.get("target_modules"), tuple):
            lora["target_modules"] = list(lora["target_modules"])
        with quiet():
            model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", **lora))
    else:
        for pname, param in model.named_parameters():
            param.requires_grad = method == "full" or pname.startswith(HEAD)
    return model


def _precision(model) -> str:
    import torch

    dtype = next(model.parameters()).dtype
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def estimated_peak(base, method: str, lora: Mapping[str, object], batch_size: int, max_length: int) -> int | None:
    """The estimator's peak bytes for this run at batch_size × max_length, or None where it has no model of it."""
    from ftcourse.memory.estimate import estimate_training_memory

    if method not in ("full", "lora"):
        return None
    extra = {} if method == "full" else {"r": int(lora.get("r", 8)),
                                         "target_modules": lora.get("target_modules") or "q_proj,v_proj"}
    try:
        est = estimate_training_memory(base.config, method=method, precision=_precision(base), batch_size=batch_size,
                                       seq_len=max_length, **extra)
    except (ValueError, KeyError, TypeError):
        return None
    return est.peak


def record(name: str, model, history, accuracy: float, *, seed: int = 0, method: str | None = None,
           settings: Mapping[str, object] | None = None, peak_memory: int | None = None,
           peak_memory_source: str | None = None) -> RunResult:
    """A RunResult of a model trained elsewhere (e.g. by hand in a lesson): counts and checkpoint bytes from `model`."""
    from ftcourse.lora import trainable_parameters

    return RunResult(name=name, seed=seed, settings=dict(settings or {}), losses=list(history.losses),
                     accuracy=float(accuracy), trainable=trainable_parameters(model).trainable,
                     seconds=float(history.seconds), method=method, checkpoint_bytes=checkpoint_bytes(model),
                     peak_memory=peak_memory, peak_memory_source=peak_memory_source)


def run_one(base, tokenizer, train_set, val_set, *, name: str = "run", seed: int = 0, epochs: int = 1,
            batch_size: int = 32, max_length: int = 48, baseline: Mapping[str, object] | None = None,
            **setting) -> RunResult:
    """Train one setting on a fresh copy of `base` and score it on `val_set`.

    `setting` holds `method`, `lr` or any `LoraConfig` field; whatever it omits comes from `baseline`
    (a settings file's: `experiments.settings("lesson08").baseline`). Seeded with `seed` before the copy
    (LoRA's random A) and for the order of the batches, so the same seed gives the same run.
    """
    import torch

    from ftcourse import env, evaluate, train

    method, lr, lora = _split(check_setting(name, setting, baseline))
    if lr is None:
        raise ValueError(f"setting {name!r} has no lr: give lr= or a baseline with one")
    device = next(base.parameters()).device
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    env.seed_everything(seed)
    model = prepare(base, baseline=baseline, name=name, **setting)
    batches = train.classification_batches(tokenizer, train_set, batch_size=batch_size, max_length=max_length,
                                           seed=seed)
    history = train.train(model, batches, epochs=epochs, lr=lr, progress=False)
    if cuda:
        torch.cuda.synchronize(device)
        peak, source = torch.cuda.max_memory_allocated(device) - before, "cuda"
    else:
        peak = estimated_peak(base, method, lora, batch_size, max_length)
        source = "estimate" if peak is not None else None
    accuracy = evaluate.accuracy(model, tokenizer, val_set, max_length=max_length)
    return record(name, model, history, accuracy, seed=seed, method=method, settings=setting, peak_memory=peak,
                  peak_memory_source=source)


def sweep(base, tokenizer, train_set, val_set, settings: Settings | Mapping[str, Mapping[str, object]],
          seeds: Iterable[int] = (0,), *, baseline: Mapping[str, object] | None = None, progress: bool = True,
          **sizes) -> list[RunResult]:
    """Every setting at every seed (settings in the inner loop, so a cut-short sweep has whole seeds).

    `settings`: a Settings (its baseline is used unless `baseline` is given) or a mapping name → setting.
    `sizes`: epochs, batch_size, max_length for `run_one`.
    """
    from tqdm.auto import tqdm

    if isinstance(settings, Settings):
        baseline = settings.baseline if baseline is None else baseline
        settings = settings.settings
    seeds = list(seeds)
    if not settings or not seeds:
        raise ValueError("a sweep needs at least one setting and one seed")
    for name, setting in settings.items():
        check_setting(name, setting, baseline)
    jobs = [(name, seed) for seed in seeds for name in settings]
    return [run_one(base, tokenizer, train_set, val_set, name=name, seed=seed, baseline=baseline, **sizes,
                    **settings[name])
            for name, seed in tqdm(jobs, desc="sweep", disable=not progress)]


def normalize_meta(meta: Mapping) -> dict:
    """A results file's meta block in today's shape: `date` (older files: `measured_on`), every version key."""
    out = dict(meta)
    if "date" not in out:
        out["date"] = out.get("measured_on")
    for key in ("dtype", "torch", "transformers", "peft", "bitsandbytes"):
        out.setdefault(key, None)
    return out


def load_results(path: str | Path) -> tuple[dict, list[RunResult]]:
    """Read what `ftcourse bench sweep --json` wrote: (its meta block, the runs); older files load too."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "meta" not in data or "runs" not in data:
        raise ValueError(f"{path} is not a sweep results file: it needs 'meta' and 'runs'")
    return normalize_meta(data["meta"]), [RunResult.from_dict(r) for r in data["runs"]]


def reference_names() -> list[str]:
    """The reference sweeps that ship with the package ("lab07", "lesson08")."""
    return list(_reference_files())


def _reference_files() -> dict[str, list[Path]]:
    """Reference sweep name → its files (`<name>_<where>.json`), largest first: the main run, then additions."""
    files: dict[str, list[Path]] = {}
    for p in REFERENCE.glob("*.json"):
        if not p.stem.startswith("cuda_"):
            files.setdefault(p.stem.rsplit("_", 1)[0], []).append(p)
    return {name: sorted(paths, key=lambda p: (-p.stat().st_size, p.name)) for name, paths in sorted(files.items())}


def reference_sweep(name: str = "lesson08") -> tuple[dict, list[RunResult]]:
    """A sweep measured with `ftcourse bench sweep` and shipped with the course (its command is in the meta block).

    "lesson08": lesson 08's settings, 3 epochs over 2,000 sentences, 10 seeds; "lab07": configurations
    within lab07's budget, 10 seeds. A sweep may ship in parts (settings added later, run elsewhere with
    the same sizes and seeds, e.g. `lesson08_cpu.json` beside `lesson08_h200.json`): the runs of every part
    are returned together; the meta block is the main part's, with `parts` listing each part's meta and
    the settings it holds. Rerun the commands to measure your own.
    """
    files = _reference_files()
    if name not in files:
        raise ValueError(f"no reference sweep {name!r}; valid choices: {', '.join(files)}")
    metas, runs = [], []
    for path in files[name]:
        meta, part = load_results(path)
        names = list(dict.fromkeys(r.name for r in part))
        overlap = sorted(set(names) & {r.name for r in runs})
        if overlap:
            raise ValueError(f"reference sweep {name!r}: setting(s) {overlap} appear in more than one part "
                             f"({path.name})")
        metas.append({**meta, "file": path.name, "settings": names})
        runs.extend(part)
    return {**metas[0], "parts": metas}, runs


__all__ = ["HEAD", "REFERENCE", "RunResult", "checkpoint_bytes", "estimated_peak", "load_results", "normalize_meta",
           "prepare", "record", "reference_names", "reference_sweep", "run_one", "sweep"]
