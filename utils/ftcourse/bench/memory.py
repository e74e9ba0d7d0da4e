"""`ftcourse bench memory`: the estimator against measurement on a grid of real training steps.

Each row builds a random-weight model from a config (no download), runs one step (forward,
backward, optimizer step) under `measure_training_memory`, and prints estimate, measurement,
error %, the 20-bytes-per-parameter rule and the accelerate-style figure. On CPU the goal is
|total error| ≤ 5 % with weights, gradients and optimizer states exact. On CUDA the estimate's
peak is compared with torch.cuda.max_memory_allocated of a steady (second) step, less the allocator's
cuBLAS workspace held before the step (column "ws MiB"), goal ≤ 10 %; fp32 rows of grouped-query
models are estimated with attention="math", the SDPA kernel CUDA falls back to there. QLoRA rows (bitsandbytes NF4,
double quant) run on CPU too: bitsandbytes 0.50 quantizes and trains Linear4bit on x86 CPUs.

`--json` writes `{"meta": …, "rows": […]}`; the H200 rows in `ftcourse.bench.REFERENCE /
"cuda_memory_h200.json"` were written this way, and a unit test holds the estimator to them.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
from dataclasses import dataclass

from ftcourse.bench import report
from ftcourse.compat import enable_activation_checkpointing, import_peft, quiet
from ftcourse.memory.breakdown import Breakdown, gib
from ftcourse.memory.estimate import accelerate_style, attention_kernel, estimate_training_memory, rule_of_thumb

PROG = "ftcourse bench memory"
EXACT = ("weights", "quant_constants", "adapter_weights", "gradients", "optimizer_states")
METHOD_ROWS = {"full": ("full", None), "lora-qv": ("lora", ("q_proj", "v_proj")), "lora-all": ("lora", "all-linear"),
               "qlora-all": ("qlora", "all-linear")}
DEFAULT_GRID = {
    "tiny": ["1x128", "4x512", "8x1024"],
    "SmolLM2-135M": ["1x128", "4x512"],
}


@dataclass
class Row:
    """One bench row: what ran, the estimate, the measurement."""

    model: str
    method: str
    precision: str
    batch: int
    seq: int
    checkpointing: bool
    estimate: Breakdown
    measured: Breakdown
    seconds: float

    def compared(self, cuda: bool) -> tuple[int, int]:
        """(estimate, measurement) that the error is computed on: totals on CPU, peaks on CUDA."""
        if cuda:
            return self.estimate.peak, self.measured.peak  # the allocator's peak less its cuBLAS workspace
        return self.estimate.total, self.measured.total

    def error(self, cuda: bool) -> float:
        est, meas = self.compared(cuda)
        return 100.0 * (est - meas) / meas

    def exact(self) -> bool:
        return all(getattr(self.estimate, k) == getattr(self.measured, k) for k in EXACT)


def build_model(config: dict, method: str, targets, precision: str, checkpointing: bool, rank: int,
                device: str = "cpu"):
    """A random-weight model from a config dict, prepared for `method` (LoRA via peft, QLoRA NF4 + double quant)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = {k: v for k, v in config.items() if k != "_name_or_path"}
    config = AutoConfig.for_model(**cfg)
    config.use_cache = False
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "mixed": torch.float32}[precision]
    torch.manual_seed(0)
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=dtype)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # quantize through a local save, never the hub
            model.save_pretrained(tmp)
            model = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=qc, dtype=dtype, device_map=device)
    else:
        with torch.device(device):  # initialise on the device: a 1B model's random init is slow on a CPU
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    if method in ("lora", "qlora"):
        import_peft()  # quiet: its first import logs a bitsandbytes line
        from peft import LoraConfig, get_peft_model

        with quiet():
            model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                     target_modules=list(targets) if targets != "all-linear"
                                                     else "all-linear"))
    if checkpointing:
        enable_activation_checkpointing(model)
    return model


def _optimizer(name: str, params):
    import torch

    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-4)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-4)
    import bitsandbytes as bnb

    return (bnb.optim.PagedAdamW8bit if name.startswith("paged") else bnb.optim.AdamW8bit)(params, lr=1e-4)


def run_row(model_name: str, method_row: str, precision: str, batch: int, seq: int, checkpointing: bool,
            optimizer: str = "adamw", rank: int = 16, device: str = "cpu", warmup: bool = False) -> Row:
    """Estimate and measure one configuration (`warmup`: measure the second step, a steady one)."""
    import torch

    from ftcourse.memory.configs import load_config
    from ftcourse.memory.measure import measure_training_memory

    method, targets = METHOD_ROWS[method_row]
    config = load_config(model_name)
    attention = attention_kernel(config, precision, device)
    est = estimate_training_memory(config, method=method, precision=precision, optimizer=optimizer,
                                   batch_size=batch, seq_len=seq, activation_checkpointing=checkpointing,
                                   r=rank, target_modules=targets, attention=attention)
    start = time.perf_counter()
    model = build_model(config, method, targets, precision, checkpointing, rank, device)
    opt = _optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config["vocab_size"], (batch, seq), generator=generator).to(device)
    autocast = torch.bfloat16 if precision == "mixed" else None  # mixed: fp32 weights, bf16 autocast
    measured = measure_training_memory(model, {"input_ids": ids}, opt, autocast_dtype=autocast, warmup=warmup)
    seconds = time.perf_counter() - start
    del model, opt
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return Row(model_name, method_row, precision, batch, seq, checkpointing, est, measured, seconds)


HEADER = (f"{'model':<13}{'method':<10}{'prec':<5}{'b×s':>8}{'ckpt':>5}{'estimate':>10}{'measured':>10}{'error':>8}"
          f"{'Δ bytes':>9}{'exact':>6}{'act est':>9}{'act meas':>9}{'20B/p':>8}{'accel':>8}{'s':>6}{'ws MiB':>7}")


def format_row(row: Row, cuda: bool = False) -> str:
    """One line of the bench table (GiB)."""
    est, meas = row.compared(cuda)
    config = row.model
    return (f"{row.model:<13}{row.method:<10}{row.precision:<5}{f'{row.batch}×{row.seq}':>8}"
            f"{'on' if row.checkpointing else 'off':>5}{gib(est):>10.3f}{gib(meas):>10.3f}"
            f"{row.error(cuda):>+7.2f}%{est - meas:>+9,}"
            f"{'yes' if row.exact() else 'NO':>6}{gib(row.estimate.activations):>9.3f}"
            f"{gib(row.measured.activations):>9.3f}{gib(rule_of_thumb(config)):>8.3f}"
            f"{gib(accelerate_style(config, row.precision)):>8.3f}{row.seconds:>6.1f}"
            f"{row.measured.notes.get('cuda_untracked_before_step', 0) / 2**20:>7.0f}")


def _shape(text: str) -> tuple[int, int]:
    try:
        batch, seq = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r} must look like 4x512 (batch x sequence)") from None
    if batch <= 0 or seq <= 0:
        raise argparse.ArgumentTypeError(f"shape {text!r} needs positive batch and sequence")
    return batch, seq


def build_parser() -> argparse.ArgumentParser:
    """The `ftcourse bench memory` arguments."""
    p = argparse.ArgumentParser(prog=PROG, description="Estimate vs measured training memory, one training step "
                                "per row (random weights from a config; nothing is downloaded).")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_GRID), help="tiny and/or SmolLM2-135M, ...")
    p.add_argument("--methods", nargs="+", default=list(METHOD_ROWS), choices=list(METHOD_ROWS),
                   help="qlora-all runs in bf16/fp16 only (NF4 with double quant, bitsandbytes; CPU works too)")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16", "mixed"])
    p.add_argument("--shapes", nargs="+", type=_shape, help="batch×sequence, e.g. 1x128 4x512 (default per model)")
    p.add_argument("--checkpointing", choices=["off", "on", "both"], default="both")
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "adamw_8bit", "paged_adamw_8bit", "sgd"])
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--device", choices=report.DEVICE_CHOICES, default="auto",
                   help="auto: ftcourse.env's choice (cuda when available, else cpu)")
    p.add_argument("--first-step", action="store_true",
                   help="measure the first step (no optimizer states yet during forward and backward) instead "
                        "of a steady one; CUDA peaks differ, CPU tensor counts do not")
    p.add_argument("--json", metavar="PATH", help="also write every row, with all components, to this JSON file "
                                                  "(rewritten after each row)")
    return p


def row_record(row: Row) -> dict:
    """A JSON-ready dict of one row: its settings, and estimate and measurement by component."""
    fields = ("weights", "quant_constants", "adapter_weights", "gradients", "optimizer_states", "activations",
              "overhead")
    return {"model": row.model, "method": row.method, "precision": row.precision, "batch": row.batch,
            "seq": row.seq, "checkpointing": row.checkpointing, "seconds": round(row.seconds, 2),
            "estimate": {f: getattr(row.estimate, f) for f in fields} | {"peak": row.estimate.peak},
            "measured": {f: getattr(row.measured, f) for f in fields}
            | {k: v for k, v in row.measured.notes.items() if isinstance(v, int | float)}}


def main(argv: list[str] | None = None) -> int:
    """Run the grid, print one row per configuration and a summary; 1 if a row misses the goal."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rank < 1:
        parser.error("--rank must be at least 1")
    try:
        # the measurement counts CPU tensors or reads the CUDA allocator; MPS has neither
        device = report.resolve_device(args.device, supported=("cuda", "cpu")).type
    except report.NoDevice as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    cuda = device == "cuda"
    methods = list(args.methods)
    ckpts = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
    goal = 10.0 if cuda else 5.0
    print(f"{PROG} on {device}: totals in GiB; goal |error| ≤ {goal:.0f} % "
          f"({'peak vs max_memory_allocated' if cuda else 'total vs exact tensor bytes'}); "
          "20B/p = 20 bytes/param rule, accel = accelerate estimate-memory's largest component")
    print(HEADER)
    block = report.meta(PROG, argv, device=report.device_name(device),
                        dtype=",".join(args.precisions), optimizer=args.optimizer, rank=args.rank,
                        step="first" if args.first_step else "steady")
    worst, misses, records = 0.0, 0, []
    for model_name in args.models:
        shapes = args.shapes or [_shape(s) for s in DEFAULT_GRID.get(model_name, ["1x128", "4x512"])]
        for method, precision, (batch, seq), ckpt in itertools.product(methods, args.precisions, shapes, ckpts):
            if method == "qlora-all" and precision in ("fp32", "mixed"):
                continue
            row = run_row(model_name, method, precision, batch, seq, ckpt, args.optimizer, args.rank, device,
                          warmup=not args.first_step)
            print(format_row(row, cuda), flush=True)
            records.append(row_record(row))
            if args.json:
                report.write_json(args.json, block, rows=records)
            worst = max(worst, abs(row.error(cuda)))
            misses += abs(row.error(cuda)) > goal or not row.exact()
    print(f"worst |error| {worst:.2f} %; rows missing the goal or not exact: {misses}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
