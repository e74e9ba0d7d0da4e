"""Estimate the memory of a training step from a config, term by term, before anything is built.

Accounting (bytes; P = parameters, N = batch × sequence tokens, e = bytes of the compute dtype):

Weights and gradients
- fp32 4 B/param, bf16 and fp16 2 B/param; a gradient has its parameter's dtype.
- `mixed` is torch.autocast (what `Trainer(bf16=True)` does): fp32 weights (4), fp32 grads (4),
  fp32 AdamW m and v (8), plus a bf16 copy of every linear weight that autocast makes and keeps
  for backward (2, counted in activations) = 18 B/param with AdamW, the transformers docs' figure.
  The ZeRO paper's 16 B/param (2 + 2 + 12) is a different scheme (bf16 weights, fp32 master copy
  inside the optimizer, as DeepSpeed does); this estimator does not use it.
- LoRA: the base is frozen (no gradient, no optimizer state). Adapters hold r·(in + out) weights
  per targeted module and layer, in fp32: peft's `autocast_adapter_dtype=True` upcasts bf16/fp16
  adapters to fp32 (`adapter_precision` overrides this).
- QLoRA: the layers' linear weights are NF4, 0.5 B/param; embeddings, norms and lm_head stay in the
  compute dtype. Constants per quantized weight of n values, block size 64: without double quant one
  fp32 absmax per block (4 + 32/64 = 4.5 bits/param); with double quant one uint8 per block plus one
  fp32 per 256 blocks, a 256-entry fp32 code table and an fp32 offset (4.127 bits/param).

Optimizer states (after the first step)
- adamw (torch): m and v in the parameter's dtype (8 B/param fp32, 4 bf16) plus a 4-byte fp32
  step counter per parameter tensor.
- adamw_8bit / paged_adamw_8bit (bitsandbytes): tensors of at least 4096 values keep m and v as
  uint8 plus one fp32 absmax per 256 values each (2 + 8/256 B/param); smaller tensors keep fp32 m
  and v; two shared 256-entry fp32 quantization maps. Paged is the same bytes: paging only moves
  them to CPU under pressure, it does not lower the steady state.
- sgd (no momentum): no state.

Activations: what autograd saves for backward, counted the way `measure_training_memory` counts
it, calibrated on Llama-style blocks with torch's SDPA on CPU (flash kernel, enable_gqa: K and V
stay at key/value-head size, the s×s scores are never stored). The rule, derived op by op and
exact on the measurements: see `_layer_saves`. Logits: the loss upcasts logits to fp32 and
`log_softmax` saves its N×V fp32 output; the bf16 logits themselves are not saved. The batch is
assumed unpadded (no attention mask; with one, transformers repeats K/V to all heads).
Checkpointing (transformers' non-reentrant default) keeps each layer's input (N·h·e) instead.
Under autocast (`mixed`) the residual stream and RMSNorm stay fp32, every linear with an fp32 input
saves its own bf16 copy of it (q, k, v, gate, up, lm_head: one each), and every linear whose input
requires grad saves the bf16 copy of its weight — frozen ones too, so LoRA under autocast holds
2 B per frozen linear parameter in activations.

Overhead: the gradient of the logits and of log_softmax during backward (2 × N·V·4), and under
checkpointing one layer's recomputed activations. Step transient: what the optimizer step allocates
for a moment (torch's foreach AdamW: one temporary per state tensor, the size of the gradients).
These are transients a CPU measurement cannot see; CUDA's max_memory_allocated does.

Peak (measured on an H200 against max_memory_allocated of a steady step, see `ftcourse bench
memory`): gradients and activations do not coexist in full. Backward frees each layer's activations
as it fills that layer's gradients, and the step runs after they are all gone, so
peak = weights + constants + adapters + optimizer states + max(activations + overhead,
gradients + step transient). The allocator's cuBLAS workspace (about 64-96 MiB) comes on top; the
hardware margin covers it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ftcourse._util import check_bool, check_choice, check_positive_int, renamed
from ftcourse.lora.cost import lora_tensor_sizes, resolve_targets
from ftcourse.memory.breakdown import Breakdown, gib
from ftcourse.memory.params import Architecture, architecture, count_parameters
from ftcourse.quant import nf4_constant_bytes, packed_bytes

METHODS = ("full", "lora", "qlora")
PRECISIONS = ("fp32", "bf16", "fp16", "mixed")
OPTIMIZERS = ("adamw", "adamw_8bit", "paged_adamw_8bit", "sgd")
ATTENTION = ("flash", "math")
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
BNB_MIN_8BIT_SIZE = 4096
BNB_OPTIM_BLOCK = 256


@dataclass(frozen=True)
class _Step:
    """What decides the saved activations: tokens, dtypes and which modules train."""

    n: int  # tokens in the batch
    e: int  # bytes of the compute dtype (2 under autocast)
    a: int  # bytes of the LoRA adapters' dtype
    full: bool
    lora: tuple[str, ...]
    r: int
    mixed: bool  # torch.autocast over fp32 weights
    seq: int = 1  # tokens per sequence (the math attention kernel saves seq × seq probabilities)
    attention: str = "flash"

    @property
    def norm_bytes(self) -> int:
        """Bytes per element of RMSNorm's output (fp32 under autocast: the norm runs on fp32 weights)."""
        return 4 if self.mixed else self.e


def _layer_saves(arch: Architecture, st: _Step, grad_in: bool) -> tuple[int, bool, bool]:
    """Bytes one decoder layer saves for backward, whether its output requires grad, whether attention does.

    Op by op (N tokens, h hidden, q = heads·head_dim, kv = kv_heads·head_dim, i intermediate, e bytes of
    the compute dtype), as measured with torch's CPU kernels:
    - RMSNorm: if its input requires grad, the fp32 input (4h per token; in fp32 the input itself)
      and rsqrt (4); with a trainable norm weight also the normalized hidden (h·e; fp32 under autocast).
    - A trainable linear saves its input (shared by q/k/v and by gate/up). A LoRA module saves its
      input in the adapter dtype (a separate copy per module when that differs from e) and lora_A's
      output (r·a). A frozen linear saves nothing but its weight, which is a parameter.
    - Under autocast every linear casts its fp32 input to bf16 on its own (q, k, v, gate, up: one copy
      each) and saves the bf16 copy of its weight whenever its input requires grad (frozen ones too).
    - SDPA, once anything feeding it requires grad: q (q·e), k and v (kv·e each), output (q·e, also
      o_proj's input) and logsumexp (4 per head). RoPE's cos/sin are shared, counted per model.
    - attention="math" (torch's composite SDPA: CUDA picks it for fp32 with grouped-query attention)
      saves per op: q if k trains, K repeated to all heads if q trains, V repeated, the softmax
      probabilities (heads·seq·e per token); no logsumexp, and not the output.
    - SwiGLU MLP: silu saves the gate output, the product saves silu(gate) and up (i·e each).
    """
    h, q, kv, i = arch.hidden_size, arch.q_dim, arch.kv_dim, arch.intermediate_size
    n, e = st.n, st.e
    shapes = arch.linear_shapes()
    total = 0
    shared: set[str] = set()

    def once(key: str, nbytes: int) -> None:
        nonlocal total
        if key not in shared:
            shared.add(key)
            total += nbytes

    def linear(name: str, key: str, input_grad: bool, input_fp32: bool) -> bool:
        nonlocal total
        fan_in, fan_out = shapes[name]
        if st.full:
            if st.mixed:
                total += 2 * fan_in * fan_out + (n * fan_in * 2 if input_fp32 else 0)
                if not input_fp32:
                    once(key, n * fan_in * e)
            else:
                once(key, n * fan_in * e)
            return True
        if st.mixed and input_grad:
            total += 2 * fan_in * fan_out  # the frozen weight's bf16 copy, needed for the input's gradient
        if name in st.lora:
            if st.mixed:
                total += n * fan_in * 2 + n * st.r * 2 + 2 * st.r * fan_out + (2 * st.r * fan_in if input_grad else 0)
            else:
                if st.a == e:
                    once(key, n * fan_in * e)
                else:
                    total += n * fan_in * st.a
                total += n * st.r * st.a
            return True
        return input_grad

    def norm(input_grad: bool) -> None:
        nonlocal total
        if input_grad:
            total += n * (4 * h + 4)
        if st.full:
            total += n * h * st.norm_bytes

    norm(grad_in)
    q_grad = linear("q_proj", "x1", grad_in, st.mixed)
    k_grad = linear("k_proj", "x1", grad_in, st.mixed)
    v_grad = linear("v_proj", "x1", grad_in, st.mixed)
    attn_grad = q_grad or k_grad or v_grad
    if attn_grad and st.attention == "math":
        # q (for k's gradient), K repeated to every query head (for q's), V repeated and the softmax
        # probabilities (for each other's); the output is not kept, so a trainable o_proj saves its own
        total += n * q * e * (int(k_grad) + int(q_grad) + 1) + n * arch.num_heads * st.seq * e
    elif attn_grad:
        total += n * (2 * q + 2 * kv) * e + n * arch.num_heads * 4
        shared.add("attn")  # o_proj's input is SDPA's output, already saved
    o_grad = linear("o_proj", "attn", attn_grad, False)
    h1_grad = grad_in or o_grad
    norm(h1_grad)
    gate_grad = linear("gate_proj", "x2", h1_grad, st.mixed)
    up_grad = linear("up_proj", "x2", h1_grad, st.mixed)
    if gate_grad:
        total += n * i * e * 2  # silu's input (gate output) and the product's copy of up
    if up_grad:
        total += n * i * e  # the product's copy of silu(gate)
    down_grad = linear("down_proj", "prod", gate_grad or up_grad, False)
    return total, h1_grad or down_grad, attn_grad


def _activations(arch: Architecture, batch: int, seq: int, st: _Step, checkpointing: bool) -> tuple[int, int]:
    """(bytes saved for backward at the end of forward, the largest one-layer recompute) for the model."""
    n, h, e = st.n, arch.hidden_size, st.e
    saved = n * 8 if st.full else 0  # the embedding saves input_ids (int64) when its weight trains
    grad, rope = st.full, False
    layer_max = 0
    for _ in range(arch.num_layers):
        layer, grad_out, attn_grad = _layer_saves(arch, st, grad)
        layer_max = max(layer_max, _layer_saves(arch, st, True)[0])
        saved += n * h * st.norm_bytes if checkpointing else layer  # checkpoints keep only layer inputs
        grad, rope = grad_out, rope or attn_grad
    if rope and not checkpointing:
        saved += 2 * seq * arch.head_dim * st.norm_bytes  # RoPE cos and sin (weights' dtype), batch 1, shared
    if grad:  # the final norm
        saved += n * (4 * h + 4)
    if st.full:
        saved += n * h * st.norm_bytes + n * h * e  # final norm's normalized hidden, lm_head's input
    if st.mixed and (st.full or grad):
        saved += 2 * arch.vocab_size * h  # lm_head's bf16 weight copy
    # fp32 log_softmax output (N×V), shifted labels (int64; the loss pads labels by one position and slices:
    # with batch 1 the slice is a view of the padded b×(s+1) tensor, otherwise a contiguous N copy), loss scalar
    labels = 8 * batch * (seq + 1) if batch == 1 else 8 * n
    saved += n * arch.vocab_size * 4 + labels + 4
    return saved, layer_max if checkpointing else 0


def _adam8bit_bytes(sizes: Iterable[int]) -> int:
    total, any8 = 0, False
    for numel in sizes:
        if numel >= BNB_MIN_8BIT_SIZE:
            any8 = True
            total += 2 * numel + 2 * 4 * math.ceil(numel / BNB_OPTIM_BLOCK)
        else:
            total += 2 * 4 * numel
    return total + (2 * 256 * 4 if any8 else 0)


def _optimizer_bytes(optimizer: str, sizes: list[int], dtype_bytes: int) -> int:
    if optimizer == "sgd":
        return 0
    if optimizer == "adamw":
        return sum(2 * dtype_bytes * s + 4 for s in sizes)
    return _adam8bit_bytes(sizes)


def attention_kernel(config, precision: str, device: str) -> str:
    """The SDPA kernel torch runs in training, as `estimate_training_memory(attention=...)` names it.

    CUDA has no fused kernel for fp32 with grouped-query attention and falls back to "math"; everything
    else the course runs (CPU, and CUDA in bf16/fp16 or under autocast) saves what "flash" saves.
    """
    arch = architecture(config)
    gqa = arch.kv_dim < arch.q_dim
    return "math" if device == "cuda" and precision == "fp32" and gqa else "flash"


def _param_sizes(arch: Architecture) -> list[int]:
    """numel of every parameter tensor of the model, in no particular order."""
    h, v = arch.hidden_size, arch.vocab_size
    per_layer = [h, h]
    for name, (fan_in, fan_out) in arch.linear_shapes().items():
        per_layer.append(fan_in * fan_out)
        if arch.linear_biases()[name]:
            per_layer.append(fan_out)
    return [v * h, h, *per_layer * arch.num_layers] + ([] if arch.tied else [v * h])


def estimate_training_memory(config, method: str = "full", precision: str = "fp32", optimizer: str = "adamw",
                             batch_size: int = 1, seq_len: int = 512, activation_checkpointing: bool = False,
                             r: int = 16, target_modules: str | Iterable[str] | None = None,
                             adapter_precision: str | None = None, double_quant: bool = True,
                             attention: str = "flash", label: str = "", **old) -> Breakdown:
    """Predict the bytes of one training step (weights, constants, adapters, grads, optimizer, activations).

    `config` is a config dict, a transformers config, a config.json path or a known model name.
    Every term's rule is in this module's docstring; `total` is comparable to a CPU measurement, `peak`
    to CUDA's max_memory_allocated in a steady step. `attention` is the SDPA kernel: "flash" (CPU, and
    CUDA in bf16/fp16) or "math" (CUDA in fp32 with grouped-query attention).
    """
    for before in ("lora_r", "rank"):
        renamed("estimate_training_memory", before, "r", old)
    if old:
        raise TypeError(f"estimate_training_memory() got unexpected keyword(s) {sorted(old)}")
    method = check_choice("method", method, METHODS)
    precision = check_choice("precision", precision, PRECISIONS)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    check_positive_int("batch_size", batch_size)
    check_positive_int("seq_len", seq_len)
    check_bool("activation_checkpointing", activation_checkpointing)
    check_bool("double_quant", double_quant)
    if method == "qlora" and precision == "mixed":
        raise ValueError("precision='mixed' is not valid with method='qlora'; valid choices: fp32, bf16, fp16 "
                         "(the compute dtype)")
    attention = check_choice("attention", attention, ATTENTION)
    rank = check_positive_int("r", r)
    lora_targets = resolve_targets(target_modules)
    a = BYTES[check_choice("adapter_precision", adapter_precision or "fp32", tuple(BYTES))]
    arch = architecture(config)
    counts = count_parameters(config)
    weight_b = 4 if precision == "mixed" else BYTES[precision]
    e = 2 if precision == "mixed" else BYTES[precision]  # compute (activation) dtype
    result = Breakdown(label=label or f"{arch.name or arch.family} {method} {precision} {optimizer} "
                                      f"b{batch_size}×s{seq_len}{' ckpt' if activation_checkpointing else ''}")
    sizes = _param_sizes(arch)
    if method == "full":
        targets: tuple[str, ...] = ()
        lora_r_used = 0
        result.weights = counts.total * weight_b
        result.gradients = counts.total * weight_b
        result.optimizer_states = _optimizer_bytes(optimizer, sizes, weight_b)
        a = e
    else:
        lora_r_used, targets = rank, lora_targets
        adapter_sizes = lora_tensor_sizes(arch, lora_r_used, targets)
        adapter_params = sum(adapter_sizes)
        result.adapter_weights = adapter_params * a
        result.gradients = adapter_params * a
        result.optimizer_states = _optimizer_bytes(optimizer, adapter_sizes, a)
        if method == "lora":
            result.weights = counts.total * weight_b
        else:
            quantized = [fi * fo for fi, fo in arch.linear_shapes().values()] * arch.num_layers
            result.weights = (counts.total - sum(quantized)) * weight_b + sum(packed_bytes(s) for s in quantized)
            result.quant_constants = sum(nf4_constant_bytes(s, double_quant) for s in quantized)
        result.notes["adapter_parameters"] = adapter_params
    step = _Step(n=batch_size * seq_len, e=e, a=a, full=method == "full", lora=targets, r=lora_r_used,
                 mixed=precision == "mixed", seq=seq_len, attention=attention)
    saved, recompute = _activations(arch, batch_size, seq_len, step, activation_checkpointing)
    result.activations = saved
    logits_grad = 2 * batch_size * seq_len * arch.vocab_size * 4
    if recompute and attention == "math":  # the backward of seq × seq probabilities needs one more of them
        recompute += 2 * batch_size * seq_len * arch.num_heads * seq_len * e
    result.overhead = max(logits_grad, recompute)  # freed before the first layer is recomputed
    # torch's AdamW (foreach) computes sqrt(v) for every parameter at once: one temporary per state tensor
    result.step_transient = result.gradients if optimizer == "adamw" else 0
    result.notes.update(parameters=counts.total, trainable=(counts.total if method == "full"
                                                             else result.notes["adapter_parameters"]))
    return result


def rule_of_thumb(config, bytes_per_param: int = 20) -> int:
    """The seeds' "20 bytes per parameter" rule: no batch, no sequence, no method."""
    return count_parameters(config).total * bytes_per_param


def accelerate_style(config, precision: str = "fp32") -> int:
    """`accelerate estimate-memory`'s "Training using Adam" figure: its largest single component, not a total.

    accelerate (commands/estimate.py, `estimate_training_usage`) sizes the model in fp32 (S = 4 B/param)
    and lists model S, gradients, optimizer 2S and a "step" term; the row shows the largest of them:
    fp32 → step = 4S (16 B/param); float16/bfloat16 (which it treats as mixed precision) → optimizer
    = 2S (8 B/param). No activations, batch, sequence length or LoRA (FACTS: 2.00 GiB for
    SmolLM2-135M in fp32, −59 % against the measured 4.94).
    """
    precision = check_choice("precision", precision, PRECISIONS)
    fp32_size = 4 * count_parameters(config).total
    return 4 * fp32_size if precision == "fp32" else 2 * fp32_size


def build_parser() -> argparse.ArgumentParser:
    """The `ftcourse estimate` arguments."""
    p = argparse.ArgumentParser(prog="ftcourse estimate", description="Predict the memory of a training run "
                                "from a model config (no weights loaded) and print the breakdown.")
    p.add_argument("model", metavar="MODEL_OR_CONFIG",
                   help="a known name (tiny, SmolLM2-135M, ...), a preset, a config.json or folder, or a hub id")
    p.add_argument("--method", default="full", help=f"one of {', '.join(METHODS)} (default: full)")
    p.add_argument("--precision", default="fp32", help=f"one of {', '.join(PRECISIONS)} (default: fp32)")
    p.add_argument("--optimizer", default="adamw", help=f"one of {', '.join(OPTIMIZERS)} (default: adamw)")
    p.add_argument("--batch", type=int, default=1, help="sequences per step (default: 1)")
    p.add_argument("--seq", type=int, default=512, help="tokens per sequence (default: 512)")
    p.add_argument("--checkpointing", action="store_true", help="activation checkpointing on")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank r (default: 16)")
    p.add_argument("--targets", default="q_proj,v_proj",
                   help="LoRA target modules, comma-separated, or all-linear (default: q_proj,v_proj)")
    return p


def estimate_main(argv: list[str]) -> int:
    """`ftcourse estimate ...`: print the breakdown and a GPU suggestion; 2 on bad input."""
    from ftcourse.memory.hardware import suggest_hardware

    args = build_parser().parse_args(argv)
    try:
        est = estimate_training_memory(args.model, method=args.method, precision=args.precision,
                                       optimizer=args.optimizer, batch_size=args.batch, seq_len=args.seq,
                                       activation_checkpointing=args.checkpointing, r=args.rank,
                                       target_modules=args.targets)
    except ValueError as exc:
        print(f"ftcourse estimate: error: {exc}", file=sys.stderr)
        return 2
    print(est.table())
    print(f"20 B/param rule: {gib(rule_of_thumb(args.model)):.3f} GiB · accelerate-style (its largest component): "
          f"{gib(accelerate_style(args.model, args.precision)):.3f} GiB")
    print(suggest_hardware(est.peak).line())
    return 0


if __name__ == "__main__":
    sys.exit(estimate_main(sys.argv[1:]))
