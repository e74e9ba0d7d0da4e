"""A fair LoRA sweep: every setting trains on the same data, steps and starting model, repeated over seeds.

One run is a copy of a base classifier wrapped with a peft `LoraConfig` (or only its head trained),
trained with `train.train_classifier` and scored on a validation set. Repeating each setting with
several seeds and reporting mean ± standard deviation is what tells a real difference from luck:

>>> runs = sweep(base, tok, train_set, val_set, LESSON08, seeds=(0, 1, 2))
>>> print(format_summary(summarize(runs)))

`ftcourse bench sweep` runs the same thing from the command line (`--workers` in parallel, `--json`).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Everything a setting does not name stays at this baseline (lesson 08's).
BASELINE: dict[str, object] = dict(r=8, lora_alpha=16, target_modules="all-linear", use_rslora=False,
                                   use_dora=False, lr=3e-3)
RUN_KEYS = ("lr", "head_only")  # setting keys for the run itself; every other key goes to LoraConfig

# Lesson 08's settings: one knob changed at a time from BASELINE.
LESSON08: dict[str, dict[str, object]] = {
    "r=2 a=4": dict(r=2, lora_alpha=4),
    "r=8 a=16": {},
    "r=32 a=64": dict(r=32, lora_alpha=64),
    "r=2 a=16": dict(r=2),
    "r=32 a=16": dict(r=32),
    "r=32 a=16 rsLoRA": dict(r=32, use_rslora=True),
    "r=8 q,v only": dict(target_modules=["q_proj", "v_proj"]),
    "r=8 DoRA": dict(use_dora=True),
    "head only": dict(head_only=True),
    "lr=1e-3": dict(lr=1e-3),
    "lr=1e-2": dict(lr=1e-2),
}

# Configurations a learner might reasonably pick in lab07 (all within its 100,000-parameter budget),
# to check that the lab's accuracy threshold is fair across seeds and choices.
LAB07: dict[str, dict[str, object]] = {
    "r=4 all-linear lr=3e-3": dict(r=4, lora_alpha=8),
    "r=4 all-linear lr=1e-3": dict(r=4, lora_alpha=8, lr=1e-3),
    "r=4 all-linear lr=1e-2": dict(r=4, lora_alpha=8, lr=1e-2),
    "r=4 all-linear a=4": dict(r=4, lora_alpha=4),
    "r=16 q,v,o lr=3e-3": dict(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"]),
    "r=7 MLP lr=3e-3": dict(r=7, lora_alpha=14, target_modules=["gate_proj", "up_proj", "down_proj"]),
}

# name -> (settings, training sizes); the command-line options override the sizes.
SWEEPS: dict[str, tuple[dict[str, dict[str, object]], dict[str, int]]] = {
    "lesson08": (LESSON08, dict(n_train=256, n_val=256, epochs=1, batch_size=32)),
    "lab07": (LAB07, dict(n_train=2000, n_val=400, epochs=2, batch_size=16)),
}


@dataclass
class RunResult:
    """One trained setting at one seed: its loss per step, validation accuracy, cost and time."""

    name: str
    seed: int
    settings: dict[str, object]
    losses: list[float]
    accuracy: float
    trainable: int
    seconds: float

    @property
    def final_loss(self) -> float:
        """Mean of the last three steps' losses (one batch's loss alone is noisy)."""
        tail = self.losses[-3:]
        return sum(tail) / len(tail)


@dataclass
class SettingSummary:
    """A setting over its seeds: mean and sample standard deviation of accuracy and final loss."""

    name: str
    seeds: list[int]
    trainable: int
    accuracy_mean: float
    accuracy_sd: float
    final_loss_mean: float
    final_loss_sd: float
    seconds_mean: float
    accuracies: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def accuracy_se(self) -> float:
        """Standard error of the mean accuracy over seeds (nan with one seed)."""
        return self.accuracy_sd / math.sqrt(self.n) if self.n > 1 else math.nan


def _check_setting(name: str, setting: Mapping[str, object]) -> None:
    from peft import LoraConfig

    valid = set(RUN_KEYS) | set(LoraConfig.__dataclass_fields__)
    unknown = sorted(set(setting) - valid)
    if unknown:
        raise ValueError(f"setting {name!r} has unknown key(s) {unknown}; valid: {', '.join(RUN_KEYS)} and "
                         "LoraConfig's fields (r, lora_alpha, target_modules, use_rslora, use_dora, ...)")


def lora_run(base, tokenizer, train_set, val_set, *, name: str = "run", seed: int = 0, epochs: int = 1,
             batch_size: int = 32, max_length: int = 48, **setting) -> RunResult:
    """Train one setting on a fresh copy of `base` (a sequence classifier) and score it on `val_set`.

    `setting` holds `lr`, `head_only=True` (train only the new head `score`, no adapter) or any
    `LoraConfig` field; whatever it omits comes from BASELINE.
    """
    from peft import LoraConfig, get_peft_model

    from ftcourse import env, evaluate, train
    from ftcourse.lora.inject import trainable_parameters

    _check_setting(name, setting)
    merged = {**BASELINE, **setting}
    lr, head_only = float(merged.pop("lr")), bool(merged.pop("head_only", False))
    env.seed_everything(seed)
    model = copy.deepcopy(base)
    if head_only:
        for pname, param in model.named_parameters():
            param.requires_grad = pname.startswith("score")
    else:
        merged.setdefault("lora_dropout", 0.0)
        with warnings.catch_warnings():  # peft 0.21 calls a helper that transformers 5.23 marks deprecated
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", **merged))
    history = train.train_classifier(model, tokenizer, train_set, epochs=epochs, lr=lr, batch_size=batch_size,
                                     max_length=max_length, seed=seed, progress=False)
    accuracy = evaluate.accuracy(model, tokenizer, val_set, max_length=max_length)
    return RunResult(name=name, seed=seed, settings=dict(setting), losses=history.losses, accuracy=accuracy,
                     trainable=trainable_parameters(model).trainable, seconds=history.seconds)


def sweep(base, tokenizer, train_set, val_set, settings: Mapping[str, Mapping[str, object]],
          seeds: Iterable[int] = (0,), progress: bool = True, **sizes) -> list[RunResult]:
    """Every setting at every seed (settings in the inner loop, so a cut-short sweep has whole seeds)."""
    from tqdm.auto import tqdm

    seeds = list(seeds)
    if not settings or not seeds:
        raise ValueError("a sweep needs at least one setting and one seed")
    for name, setting in settings.items():
        _check_setting(name, setting)
    jobs = [(name, seed) for seed in seeds for name in settings]
    runs = []
    for name, seed in tqdm(jobs, desc="sweep", disable=not progress):
        runs.append(lora_run(base, tokenizer, train_set, val_set, name=name, seed=seed, **sizes,
                             **settings[name]))
    return runs


def summarize(runs: Sequence[RunResult]) -> list[SettingSummary]:
    """One summary per setting name, in the order the names first appear."""
    by_name: dict[str, list[RunResult]] = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    out = []
    for name, group in by_name.items():
        accs = [r.accuracy for r in group]
        losses = [r.final_loss for r in group]
        out.append(SettingSummary(
            name=name, seeds=[r.seed for r in group], trainable=group[0].trainable,
            accuracy_mean=statistics.fmean(accs), accuracy_sd=statistics.stdev(accs) if len(accs) > 1 else math.nan,
            final_loss_mean=statistics.fmean(losses),
            final_loss_sd=statistics.stdev(losses) if len(losses) > 1 else math.nan,
            seconds_mean=statistics.fmean(r.seconds for r in group), accuracies=accs))
    return out


def format_summary(summaries: Sequence[SettingSummary]) -> str:
    """A text table: trainable parameters, accuracy mean ± sd (and range), final loss mean ± sd."""
    lines = [f"{'setting':<24}{'trainable':>10}{'seeds':>6}{'val acc mean ± sd':>20}{'min–max':>14}"
             f"{'final loss ± sd':>18}{'s/run':>7}"]
    for s in summaries:
        lines.append(f"{s.name:<24}{s.trainable:>10,}{s.n:>6}{s.accuracy_mean:>13.3f} ± {s.accuracy_sd:.3f}"
                     f"{min(s.accuracies):>8.3f}–{max(s.accuracies):.3f}"
                     f"{s.final_loss_mean:>11.3f} ± {s.final_loss_sd:.3f}{s.seconds_mean:>7.1f}")
    return "\n".join(lines)


def load_results(path: str | Path) -> tuple[dict, list[RunResult]]:
    """Read what `ftcourse bench sweep --json` wrote: (its metadata, the runs)."""
    data = json.loads(Path(path).read_text())
    return data["meta"], [RunResult(**r) for r in data["runs"]]


REFERENCE = Path(__file__).with_name("reference")


def reference_sweep(name: str = "lesson08") -> tuple[dict, list[RunResult]]:
    """A sweep measured with `ftcourse bench sweep` and shipped with the course (its command is in the metadata).

    "lesson08": lesson 08's settings, 3 epochs over 2,000 sentences, 10 seeds; "lab07": configurations
    within lab07's budget, 10 seeds. Both were run on an H200; rerun the command to measure your own.
    """
    files = {p.stem.rsplit("_", 1)[0]: p for p in sorted(REFERENCE.glob("*.json"))}
    if name not in files:
        raise ValueError(f"no reference sweep {name!r}; valid choices: {', '.join(files)}")
    return load_results(files[name])


# -- ftcourse bench sweep ---------------------------------------------------------------------------
def _load(n_train: int, n_val: int, device: str):
    import torch

    from ftcourse import data, env, models

    sentiment = data.sentiment_dataset()
    train_set = sentiment["train"].select(range(min(n_train, len(sentiment["train"]))))
    val_set = sentiment["validation"].select(range(min(n_val, len(sentiment["validation"]))))
    tokenizer = models.load_tokenizer("small")
    env.seed_everything(0)
    base = models.load_classifier("small", dtype=torch.float32, device=device)
    return base, tokenizer, train_set, val_set


_WORKER: dict[str, object] = {}


def _worker_init(n_train: int, n_val: int, device: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["loaded"] = _load(n_train, n_val, device)


def _worker_run(job: tuple[str, int, dict, dict]) -> RunResult:
    name, seed, setting, sizes = job
    return lora_run(*_WORKER["loaded"], name=name, seed=seed, **sizes, **setting)


def bench_main(argv: list[str] | None = None) -> int:
    """`ftcourse bench sweep`: a named sweep over seeds; prints the summary table, optionally writes JSON."""
    import torch

    p = argparse.ArgumentParser(prog="ftcourse bench sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", choices=list(SWEEPS), default="lesson08", help="which settings (default: lesson08)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per setting (default: 0 1 2)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these settings of the sweep")
    for key in ("n_train", "n_val", "epochs", "batch_size"):
        p.add_argument("--" + key.replace("_", "-"), type=int, help="default: the sweep's own")
    p.add_argument("--max-length", type=int, default=48)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (each loads its own model)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default: 1)")
    p.add_argument("--json", metavar="PATH", help="write every run (losses included) to this JSON file")
    args = p.parse_args(argv)
    settings, sizes = SWEEPS[args.sweep]
    settings = dict(settings)
    if args.only:
        unknown = [n for n in args.only if n not in settings]
        if unknown:
            p.error(f"unknown setting(s) {unknown}; this sweep has: {', '.join(settings)}")
        settings = {n: settings[n] for n in args.only}
    sizes = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in sizes.items()}
    for key, value in sizes.items():
        if value < 1:
            p.error(f"--{key.replace('_', '-')} must be at least 1, got {value}")
    if args.workers < 1 or args.threads < 1:
        p.error("--workers and --threads must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("ftcourse bench sweep: --device cuda asked for, but no CUDA GPU is available", file=sys.stderr)
        return 2
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    n_train, n_val = sizes.pop("n_train"), sizes.pop("n_val")
    sizes["max_length"] = args.max_length
    start = time.perf_counter()
    if args.workers == 1:
        torch.set_num_threads(args.threads)
        runs = sweep(*_load(n_train, n_val, device), settings, seeds=args.seeds, **sizes)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(name, seed, dict(settings[name]), sizes) for seed in args.seeds for name in settings]
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(n_train, n_val, device, args.threads)) as pool:
            runs = list(pool.map(_worker_run, jobs))
    seconds = time.perf_counter() - start
    gpu = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {args.threads} thread(s) per worker"
    print(f"ftcourse bench sweep --sweep {args.sweep}: {len(settings)} settings × {len(args.seeds)} seeds on {gpu}; "
          f"{n_train} training / {n_val} validation sentences, {sizes['epochs']} epoch(s) at batch "
          f"{sizes['batch_size']} ({len(runs[0].losses)} steps per run); {seconds:.0f} s in all")
    print(format_summary(summarize(runs)))
    if args.json:
        import transformers

        meta = dict(sweep=args.sweep, seeds=args.seeds, n_train=n_train, n_val=n_val, device=gpu,
                    torch=torch.__version__, transformers=transformers.__version__, seconds=round(seconds, 1),
                    command=shlex.join(["ftcourse", "bench", "sweep", *(argv if argv is not None else sys.argv[1:])]),
                    **sizes)
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": [asdict(r) for r in runs]}, indent=0))
    return 0


__all__ = ["BASELINE", "LAB07", "LESSON08", "SWEEPS", "RunResult", "SettingSummary", "bench_main",
           "format_summary", "load_results", "lora_run", "reference_sweep", "summarize", "sweep"]


if __name__ == "__main__":
    raise SystemExit(bench_main(sys.argv[1:]))
