"""QLoRA with the real libraries: a preset loaded in 4 bits by bitsandbytes, prepared by peft, LoRA on top.

>>> model = load_qlora("small")                  # smoke: the embedded tiny model; full: SmolLM2 from the hub
>>> model = load_qlora("small", classifier=True)  # a sequence classifier: LoRA plus the new head `score`

- `bnb_4bit_config(compute_dtype)`: the QLoRA paper's settings (NF4, double quantization), not transformers'
  defaults (fp4, no double quantization, fp32 compute);
- `disable_cpu_repacking(model)`: turns off bitsandbytes' in-place CPU repacking on every `Linear4bit`, which on
  AVX512-BF16 CPUs silently breaks training after any eval forward (reference/quant.md §3);
- `load_qlora(name, ...)`: 4-bit load, `prepare_model_for_kbit_training`, the repacking fix, `get_peft_model`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ftcourse import env
from ftcourse.compat import import_peft, quiet
from ftcourse.lora.layer import check_hyperparameters
from ftcourse.models import load_classifier, load_model
from ftcourse.models.registry import DEFAULT_PRESET


def default_compute_dtype() -> torch.dtype:
    """env.dtype() on CUDA (bf16, fp16 on a T4). On CPU bf16 where the CPU computes it natively (AVX512-BF16):
    the QLoRA recipe's dtype at full speed; elsewhere torch only emulates bf16 (slow), so fp32."""
    if env.has_cuda():
        return env.dtype()
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return torch.bfloat16 if native else torch.float32


def bnb_4bit_config(compute_dtype: torch.dtype | None = None):
    """transformers' `BitsAndBytesConfig` for QLoRA: NF4, double quantization, `compute_dtype` (default above)."""
    from transformers import BitsAndBytesConfig

    dtype = compute_dtype or default_compute_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"compute_dtype must be a floating-point torch.dtype, got {compute_dtype!r}")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype)


def linear4bit_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) for every bitsandbytes `Linear4bit` in `model` (inside peft's LoRA wrappers too)."""
    with quiet():
        import bitsandbytes as bnb
    return [(name, m) for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]


def disable_cpu_repacking(model: nn.Module) -> int:
    """Set `support_avx512bf16_for_cpu = False` on every bnb `Linear4bit`; return how many were on.

    On AVX512-BF16 CPUs bitsandbytes repacks a 4-bit weight in place at the first eval-mode no-grad forward, for
    a bf16 inference kernel without autograd: after `model.train()` the base passes no input gradient (and a
    layer with a bias raises). Harmless elsewhere: on CUDA or other CPUs the flag is never consulted.
    """
    changed = 0
    for _, layer in linear4bit_modules(model):
        if getattr(layer, "support_avx512bf16_for_cpu", False):
            changed += 1
        layer.support_avx512bf16_for_cpu = False
    return changed


def load_qlora(name: str = DEFAULT_PRESET, *, classifier: bool = False, r: int = 16, lora_alpha: float = 32,
               target_modules: str | Iterable[str] = "all-linear", lora_dropout: float = 0.0,
               compute_dtype: torch.dtype | None = None, checkpointing: bool = True, num_labels: int = 2):
    """A peft model: preset `name` in 4 bits (NF4, double quant), kbit-prepared, repacking off, LoRA on top.

    `classifier=True` loads a sequence classifier (task SEQ_CLS: the new head `score` trains in full);
    otherwise a causal LM. Activation checkpointing is non-reentrant (peft's default, reentrant, warns).
    The model comes back in train mode.
    """
    check_hyperparameters(r, lora_alpha, lora_dropout)  # before the (slow, in full mode) load
    import_peft()
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    quantization = bnb_4bit_config(compute_dtype)
    with quiet():
        if classifier:
            model = load_classifier(name, num_labels, quantization_config=quantization)
        else:
            model = load_model(name, quantization_config=quantization)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
        disable_cpu_repacking(model)
        targets = list(target_modules) if isinstance(target_modules, list | tuple | set) else target_modules
        config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=targets,
                            task_type=TaskType.SEQ_CLS if classifier else TaskType.CAUSAL_LM)
        model = get_peft_model(model, config)
    return model.train()


__all__ = ["bnb_4bit_config", "default_compute_dtype", "disable_cpu_repacking", "linear4bit_modules", "load_qlora"]
