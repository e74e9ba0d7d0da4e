"""`ftcourse bench lora`: the hand-written LoRALinear against peft's lora.Linear, and a merged model against its base.

Timings on a shared machine drift, so every figure is a ratio measured in one run: the two
contenders alternate (A B, B A, A B, …) on the same inputs and the median of the per-repeat
ratios is reported. Goals: hand-written forward+backward ≤ 1.0× peft; merged inference ≤ 1.02× base.
On a CUDA GPU the layers run in bf16 (adapters in fp32, as get_peft_model keeps them) with
synchronised timings; on CPU in fp32.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

GOAL_LAYER = 1.0
GOAL_MERGED = 1.02


@dataclass
class Timing:
    """Median seconds of each contender and the median of the per-repeat ratios (first / second)."""

    first: float
    second: float
    ratio: float
    low: float
    high: float
    repeats: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(first: Callable[[], object], second: Callable[[], object], device: torch.device,
            repeats: int | None = None, budget_s: float = 4.0, min_repeats: int = 5, max_repeats: int = 31,
            warmup: int = 2) -> Timing:
    """Time two callables interleaved, alternating which goes first; ratios are taken repeat by repeat.

    Without `repeats`, as many repeats as fit in about budget_s (judged from the warm-up), within limits.
    """
    fns = (first, second)
    pair = 0.0
    for _ in range(warmup):
        _sync(device)
        start = time.perf_counter()
        first()
        second()
        _sync(device)
        pair = time.perf_counter() - start
    if repeats is None:
        repeats = min(max_repeats, max(min_repeats, round(budget_s / max(pair, 1e-6))))
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeats):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            _sync(device)
            start = time.perf_counter()
            fns[which]()
            _sync(device)
            times[which].append(time.perf_counter() - start)
    ratios = sorted(a / b for a, b in zip(times[0], times[1], strict=True))
    quart = len(ratios) // 4
    return Timing(statistics.median(times[0]), statistics.median(times[1]), statistics.median(ratios),
                  ratios[quart], ratios[-1 - quart], repeats)


def _layers(d: int, r: int, device: torch.device, dtype: torch.dtype):
    """Our LoRALinear and peft's lora.Linear around copies of one d×d base, with identical factors."""
    from peft import LoraConfig
    from peft.tuners.lora import Linear as PeftLoraLinear
    from peft.tuners.tuners_utils import cast_adapter_dtype

    from ftcourse.lora.layer import LoRALinear

    torch.manual_seed(0)
    base = nn.Linear(d, d, bias=False).to(device=device, dtype=dtype)
    ours = LoRALinear(copy.deepcopy(base), r=r, lora_alpha=2 * r)
    theirs = PeftLoraLinear(copy.deepcopy(base), "default", config=LoraConfig(r=r, lora_alpha=2 * r), r=r,
                            lora_alpha=2 * r)
    cast_adapter_dtype(theirs, "default")  # fp32 adapters on a 16-bit base, as get_peft_model does
    theirs.base_layer.requires_grad_(False)  # get_peft_model freezes the base; the bare layer does not
    with torch.no_grad():
        ours.lora_B.weight.normal_(std=0.01)
        theirs.lora_A["default"].weight.copy_(ours.lora_A.weight)
        theirs.lora_B["default"].weight.copy_(ours.lora_B.weight)
    return ours, theirs


def _step(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    params = [p for p in layer.parameters() if p.requires_grad]

    def run() -> None:
        x.grad = None
        for p in params:
            p.grad = None
        layer(x).backward(grad)

    return run


def bench_layers(shapes: list[int], ranks: list[int], batch: int, seq: int, repeats: int | None,
                 device: torch.device, dtype: torch.dtype, budget_s: float = 4.0) -> list[tuple]:
    """Rows (d, r, ours ms, peft ms, ratio, low, high, repeats) of forward+backward on a (batch, seq, d) input."""
    rows = []
    for d in shapes:
        x = torch.randn(batch, seq, d, device=device, dtype=dtype, requires_grad=True)
        grad = torch.randn(batch, seq, d, device=device, dtype=dtype)
        for r in ranks:
            ours, theirs = _layers(d, r, device, dtype)
            t = compare(_step(ours, x, grad), _step(theirs, x, grad), device, repeats, budget_s)
            rows.append((d, r, 1e3 * t.first, 1e3 * t.second, t.ratio, t.low, t.high, t.repeats))
            print(f"  {d:>5}×{d:<5} r={r:<3} hand-written {1e3 * t.first:9.2f} ms   peft {1e3 * t.second:9.2f} ms   "
                  f"ratio {t.ratio:.3f}", file=sys.stderr, flush=True)
            del ours, theirs
    return rows


def bench_merged(batch: int, seq: int, repeats: int | None, device: torch.device, dtype: torch.dtype, r: int = 16,
                 budget_s: float = 6.0) -> dict:
    """Inference of the embedded model: merged and unmerged all-linear LoRA against the base, and the base
    against itself (the noise floor: two identical runs differ by this much on this machine right now)."""
    from ftcourse import models
    from ftcourse.lora.inject import inject_lora, lora_modules
    from ftcourse.lora.merge import merge_lora

    base = models.load_model("tiny", device=str(device), dtype=dtype).eval()
    adapted = inject_lora(copy.deepcopy(base), "all-linear", r=r, lora_alpha=2 * r, verbose=False).eval()
    with torch.no_grad():
        for _, layer in lora_modules(adapted):
            layer.lora_B.weight.normal_(std=0.01)
    merged = merge_lora(copy.deepcopy(adapted))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, base.config.vocab_size, (batch, seq), generator=gen).to(device)

    def forward(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                model(input_ids=ids)
        return run

    with torch.inference_mode():
        diff = (merged(input_ids=ids).logits.float() - adapted(input_ids=ids).logits.float()).abs().max().item()
    timed = {name: compare(forward(model), forward(base), device, repeats, budget_s, min_repeats=7, warmup=1)
             for name, model in (("merged", merged), ("unmerged", adapted), ("control", copy.deepcopy(base)))}
    return {**timed, "max_abs_diff": diff, "r": r}


def _verdict(ratio: float, low: float, goal: float) -> str:
    """"meets", or "is within noise of" when the median misses but a quarter of the repeats meet it, or "misses"."""
    return "meets" if ratio <= goal else "is within noise of" if low <= goal else "misses"


def table(rows: list[tuple], merged: dict | None, device: torch.device, dtype: torch.dtype, batch: int,
          seq: int) -> str:
    """The printed report: one row per shape and rank, then the merged-model rows and the verdicts."""
    dname = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    lines = [f"LoRA bench · {dname} · {str(dtype).removeprefix('torch.')} · input {batch}×{seq} tokens · "
             "medians over interleaved repeats (n), p25–p75 of the per-repeat ratios", ""]
    if rows:
        lines += ["forward+backward of one layer (input grad + LoRA grads; base frozen), hand-written / peft",
                  f"{'shape':>11}  {'r':>3}  {'hand-written ms':>15}  {'peft ms':>9}  {'ratio':>6}  "
                  f"{'p25–p75':>11}  {'n':>3}", "-" * 69]
        for d, r, ours, theirs, ratio, low, high, n in rows:
            lines.append(f"{f'{d}×{d}':>11}  {r:>3}  {ours:>15.2f}  {theirs:>9.2f}  {ratio:>6.3f}  "
                         f"{f'{low:.3f}–{high:.3f}':>11}  {n:>3}")
        worst = max(rows, key=lambda row: row[4])
        lines += [f"worst median ratio {worst[4]:.3f}: {_verdict(worst[4], worst[5], GOAL_LAYER)} the goal "
                  f"hand-written ≤ {GOAL_LAYER:.2f}× peft", ""]
    if merged:
        lines += [f"inference of the embedded model with all-linear LoRA r={merged['r']}, against the base model",
                  f"{'model':>24}  {'ms':>9}  {'base ms':>9}  {'ratio':>6}  {'p25–p75':>11}  {'n':>3}", "-" * 69]
        labels = (("merged", "merged (merge_lora)"), ("unmerged", "LoRA, not merged"),
                  ("control", "base itself (noise floor)"))
        for name, label in labels:
            t = merged[name]
            lines.append(f"{label:>24}  {1e3 * t.first:>9.2f}  {1e3 * t.second:>9.2f}  {t.ratio:>6.3f}  "
                         f"{f'{t.low:.3f}–{t.high:.3f}':>11}  {t.repeats:>3}")
        t = merged["merged"]
        lines += [f"merged/base {t.ratio:.3f}: {_verdict(t.ratio, t.low, GOAL_MERGED)} the goal "
                  f"≤ {GOAL_MERGED:.2f}× base "
                  f"(merged vs unmerged logits: max abs diff {merged['max_abs_diff']:.2e})"]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _tokens(text: str) -> tuple[int, int]:
    try:
        batch, seq = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BATCHxSEQ such as 4x512, got {text!r}") from None
    if batch < 1 or seq < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return batch, seq


def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of `ftcourse bench lora` / `python -m ftcourse.lora.bench`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ftcourse bench lora", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", type=_ints, default=[576, 2048, 4096], help="square layer sizes d (d×d)")
    parser.add_argument("--ranks", type=_ints, default=[8, 16, 64], help="LoRA ranks")
    parser.add_argument("--tokens", type=_tokens, default=(4, 512), help="batch×sequence, e.g. 4x512")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per contender (default: as many as fit in --budget, at least 5)")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timing per row when --repeats is unset")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice); 1 is steadier on a busy shared machine")
    parser.add_argument("--skip-layers", action="store_true", help="only the merged-model inference rows")
    parser.add_argument("--skip-merged", action="store_true", help="only the layer rows")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.budget > 0:
        parser.error("--budget must be positive")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("ftcourse bench lora: --device cuda asked for, but no CUDA GPU is available", file=sys.stderr)
        return 2
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else (
        torch.float16 if device.type == "cuda" else torch.float32)
    batch, seq = args.tokens
    print(f"ftcourse bench lora: {device.type}, {str(dtype).removeprefix('torch.')}; progress on stderr",
          file=sys.stderr, flush=True)
    rows = [] if args.skip_layers else bench_layers(args.shapes, args.ranks, batch, seq, args.repeats, device,
                                                    dtype, args.budget)
    merged = None if args.skip_merged else bench_merged(batch, seq, args.repeats, device, dtype,
                                                        budget_s=1.5 * args.budget)
    print(table(rows, merged, device, dtype, batch, seq))
    missed = bool(rows) and max(row[4] for row in rows) > GOAL_LAYER
    missed = missed or bool(merged) and merged["merged"].ratio > GOAL_MERGED
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(bench_main(sys.argv[1:]))
