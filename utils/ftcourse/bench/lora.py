"""`ftcourse bench lora`: the hand-written LoRALinear against peft's lora.Linear, and a merged model against its base.

Every figure is a ratio measured in one run with `ftcourse.bench.timing.compare`: the two
contenders alternate (A B, B A, A B, …) on the same inputs and the median of the per-repeat
ratios is reported with its p25–p75. Goals: hand-written forward+backward ≤ 1.0× peft; merged
inference ≤ 1.02× base. Device and dtype come from `ftcourse.env`: on a CUDA GPU the layers run
in bf16 (fp16 on a T4; adapters in fp32, as get_peft_model keeps them), on CPU in fp32.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable

import torch
from torch import nn

from ftcourse.bench import report
from ftcourse.bench.timing import Timing, compare

PROG = "ftcourse bench lora"
GOAL_LAYER = 1.0
GOAL_MERGED = 1.02


def _layers(d: int, r: int, device: torch.device, dtype: torch.dtype):
    """Our LoRALinear and peft's lora.Linear around copies of one d×d base, with identical factors."""
    from ftcourse.lora import LoRALinear, copy_into_peft, peft_linear

    torch.manual_seed(0)
    base = nn.Linear(d, d, bias=False).to(device=device, dtype=dtype)
    ours = LoRALinear(copy.deepcopy(base), r=r, lora_alpha=2 * r)
    with torch.no_grad():
        ours.lora_B.weight.normal_(std=0.01)
    theirs = peft_linear(base, r=r, lora_alpha=2 * r)
    copy_into_peft(ours, theirs)
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
                 device: torch.device, dtype: torch.dtype, budget_s: float = 4.0) -> list[dict]:
    """One row per (d, r): forward+backward of our layer and peft's on a (batch, seq, d) input, as a Timing."""
    rows = []
    for d in shapes:
        x = torch.randn(batch, seq, d, device=device, dtype=dtype, requires_grad=True)
        grad = torch.randn(batch, seq, d, device=device, dtype=dtype)
        for r in ranks:
            ours, theirs = _layers(d, r, device, dtype)
            t = compare(_step(ours, x, grad), _step(theirs, x, grad), device, repeats, budget_s)
            rows.append({"d": d, "r": r, "timing": t})
            print(f"  {d:>5}×{d:<5} r={r:<3} {t.line('hand-written', 'peft')}", file=sys.stderr, flush=True)
            del ours, theirs
    return rows


def bench_merged(batch: int, seq: int, repeats: int | None, device: torch.device, dtype: torch.dtype, r: int = 16,
                 budget_s: float = 6.0) -> dict:
    """Inference of the embedded model: merged and unmerged all-linear LoRA against the base, and the base
    against itself (the noise floor: two identical runs differ by this much on this machine right now)."""
    from ftcourse import models
    from ftcourse.lora import inject_lora, lora_modules, merge_lora

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


def table(rows: list[dict], merged: dict | None, device: torch.device, dtype: torch.dtype, batch: int,
          seq: int) -> str:
    """The printed report: one row per shape and rank, then the merged-model rows and the verdicts."""
    lines = [f"LoRA bench · {report.device_name(device)} · {report.dtype_name(dtype)} · input {batch}×{seq} tokens · "
             "medians over interleaved repeats (n), p25–p75 of the per-repeat ratios", ""]
    if rows:
        lines += ["forward+backward of one layer (input grad + LoRA grads; base frozen), hand-written / peft",
                  f"{'shape':>11}  {'r':>3}  {'hand-written ms':>15}  {'peft ms':>9}  {'ratio':>6}  "
                  f"{'p25–p75':>11}  {'n':>3}", "-" * 69]
        for row in rows:
            d, t = row["d"], row["timing"]
            lines.append(f"{f'{d}×{d}':>11}  {row['r']:>3}  {1e3 * t.first:>15.2f}  {1e3 * t.second:>9.2f}  "
                         f"{t.ratio:>6.3f}  {f'{t.low:.3f}–{t.high:.3f}':>11}  {t.repeats:>3}")
        worst = max((row["timing"] for row in rows), key=lambda t: t.ratio)
        lines += [f"worst median ratio {worst.ratio:.3f}: {_verdict(worst.ratio, worst.low, GOAL_LAYER)} the goal "
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


def _timing_record(t: Timing) -> dict:
    return {"first_s": t.first, "second_s": t.second, "ratio": t.ratio, "p25": t.low, "p75": t.high,
            "repeats": t.repeats}


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


def build_parser() -> argparse.ArgumentParser:
    """The `ftcourse bench lora` arguments."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", type=_ints, default=[576, 2048, 4096], help="square layer sizes d (d×d)")
    p.add_argument("--ranks", type=_ints, default=[8, 16, 64], help="LoRA ranks")
    p.add_argument("--tokens", type=_tokens, default=(4, 512), help="batch×sequence, e.g. 4x512")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per contender (default: as many as fit in --budget, at least 5)")
    p.add_argument("--budget", type=float, default=4.0, help="seconds of timing per row when --repeats is unset")
    p.add_argument("--device", choices=report.DEVICE_CHOICES, default="auto",
                   help="auto: ftcourse.env's choice (cuda, then mps, then cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice); 1 is steadier on a busy shared machine")
    p.add_argument("--skip-layers", action="store_true", help="only the merged-model inference rows")
    p.add_argument("--skip-merged", action="store_true", help="only the layer rows")
    p.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    p.add_argument("--json", metavar="PATH", help="also write every row (with the meta block) to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `ftcourse bench lora` / `python -m ftcourse.bench.lora`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.budget > 0:
        parser.error("--budget must be positive")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    try:
        device = report.resolve_device(args.device)
    except report.NoDevice as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    dtype = report.compute_dtype(device)
    batch, seq = args.tokens
    print(f"{PROG}: {device.type}, {report.dtype_name(dtype)}; progress on stderr", file=sys.stderr, flush=True)
    rows = [] if args.skip_layers else bench_layers(args.shapes, args.ranks, batch, seq, args.repeats, device,
                                                    dtype, args.budget)
    merged = None if args.skip_merged else bench_merged(batch, seq, args.repeats, device, dtype,
                                                        budget_s=1.5 * args.budget)
    print(table(rows, merged, device, dtype, batch, seq))
    if args.json:
        block = report.meta(PROG, argv, device=device, dtype=dtype, batch=batch, seq=seq,
                            goal_layer=GOAL_LAYER, goal_merged=GOAL_MERGED)
        merged_record = None if merged is None else {
            "r": merged["r"], "max_abs_diff": merged["max_abs_diff"],
            **{name: _timing_record(merged[name]) for name in ("merged", "unmerged", "control")}}
        report.write_json(args.json, block,
                          layers=[{"d": row["d"], "r": row["r"], **_timing_record(row["timing"])} for row in rows],
                          merged=merged_record)
    missed = bool(rows) and max(row["timing"].ratio for row in rows) > GOAL_LAYER
    missed = missed or bool(merged) and merged["merged"].ratio > GOAL_MERGED
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
