"""`ftcourse bench sweep`: a settings file of `ftcourse.experiments` over seeds, printed as a summary table.

Every setting trains on the same data, steps and starting model, repeated over seeds (`--workers`
processes in parallel, each loading its own copy). `--json` writes every run, losses included, with
the meta block; `ftcourse.experiments.load_results` reads it back. The reference sweeps in
`ftcourse.bench.REFERENCE` were written by this command (their meta block holds the command line).
"""

from __future__ import annotations

import argparse
import sys
import time

from ftcourse import experiments
from ftcourse.bench import report

PROG = "ftcourse bench sweep"
THREADS_DEFAULT = 1


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


def _worker_run(job: tuple[str, int, dict, dict, dict]) -> experiments.RunResult:
    name, seed, baseline, setting, sizes = job
    return experiments.run_one(*_WORKER["loaded"], name=name, seed=seed, baseline=baseline, **sizes, **setting)


def build_parser() -> argparse.ArgumentParser:
    """The `ftcourse bench sweep` arguments (sizes default to the settings file's own)."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", choices=experiments.settings_names(), default="lesson08",
                   help="which settings file of ftcourse.experiments (default: lesson08)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per setting (default: 0 1 2)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these settings of the sweep")
    for key in experiments.SIZE_KEYS:
        p.add_argument("--" + key.replace("_", "-"), type=int, help="default: the settings file's own")
    p.add_argument("--device", choices=report.DEVICE_CHOICES, default="auto",
                   help="auto: ftcourse.env's choice (cuda when available, else cpu)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (each loads its own model)")
    p.add_argument("--threads", type=int, default=THREADS_DEFAULT, help="torch CPU threads per process (default: 1)")
    p.add_argument("--json", metavar="PATH", help="write every run (losses included) to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print the summary table, optionally write JSON; returns the exit status."""
    import torch

    p = build_parser()
    args = p.parse_args(argv)
    spec = experiments.settings(args.sweep)
    if args.only:
        try:
            spec = spec.select(args.only)
        except ValueError as exc:
            p.error(str(exc))
    sizes = {"epochs": 1, "batch_size": 32, "max_length": 48, "n_train": 256, "n_val": 256, **spec.sizes}
    for key in experiments.SIZE_KEYS:
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                p.error(f"--{key.replace('_', '-')} must be at least 1, got {value}")
            sizes[key] = value
    if args.workers < 1 or args.threads < 1:
        p.error("--workers and --threads must be at least 1")
    if any(seed < 0 for seed in args.seeds):
        p.error("--seeds must be non-negative")
    try:
        device = report.resolve_device(args.device, supported=("cuda", "cpu"))  # the sweep trains on CUDA or CPU
    except report.NoDevice as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    n_train, n_val = sizes.pop("n_train"), sizes.pop("n_val")
    start = time.perf_counter()
    if args.workers == 1:
        torch.set_num_threads(args.threads)
        runs = experiments.sweep(*_load(n_train, n_val, device.type), spec, seeds=args.seeds, **sizes)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(name, seed, dict(spec.baseline), dict(spec.settings[name]), sizes)
                for seed in args.seeds for name in spec.settings]
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(n_train, n_val, device.type, args.threads)) as pool:
            runs = list(pool.map(_worker_run, jobs))
    seconds = time.perf_counter() - start
    where = report.device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s) per worker"
    print(f"{PROG} --sweep {args.sweep}: {len(spec.settings)} settings × {len(args.seeds)} seeds on {where}; "
          f"{n_train} training / {n_val} validation sentences, {sizes['epochs']} epoch(s) at batch "
          f"{sizes['batch_size']} ({len(runs[0].losses)} steps per run); {seconds:.0f} s in all")
    print(experiments.format_summary(experiments.summarize(runs)))
    if args.json:
        block = report.meta(PROG, argv, device=where, dtype=torch.float32, sweep=args.sweep, seeds=args.seeds,
                            n_train=n_train, n_val=n_val, workers=args.workers, threads=args.threads,
                            seconds=round(seconds, 1), **sizes)
        report.write_json(args.json, block, runs=[r.to_dict() for r in runs])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
