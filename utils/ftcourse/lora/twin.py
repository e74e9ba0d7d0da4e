"""LoRA's twin: the functions that tie the hand-written LoRA to peft's, in both directions.

- `peft_config(**hp)`: the `LoraConfig` for our hyper-parameters (the same field names).
- `peft_linear(base, **hp)`: peft's `lora.Linear` around a copy of `base`, as `get_peft_model` would build it.
- `copy_into_peft(ours, theirs)`: our factors into peft's layers of the same names (model or single layer).
- `from_peft(theirs)`: a plain copy of peft's base model with our `LoRALinear` layers carrying peft's factors.
Tests, benches and lessons use these instead of reaching into `lora_A["default"]` themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from ftcourse.compat import import_peft, quiet
from ftcourse.inject import set_module
from ftcourse.lora.inject import FACTORS, freeze_all_but_lora, lora_modules
from ftcourse.lora.layer import LoRALinear, check_hyperparameters
from ftcourse.peft_format import ADAPTER_NAME


def peft_config(target_modules: str | Iterable[str] | None = None, r: int = 8, lora_alpha: float = 8,
                lora_dropout: float = 0.0, use_rslora: bool = False, **fields):
    """peft's `LoraConfig` with exactly these hyper-parameters (extra LoraConfig fields pass through)."""
    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft import LoraConfig

    check_hyperparameters(r, lora_alpha, lora_dropout)
    targets = list(target_modules) if isinstance(target_modules, list | tuple) else target_modules
    return LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, use_rslora=use_rslora,
                      target_modules=targets, **fields)


def peft_linear(base: nn.Linear, r: int = 8, lora_alpha: float = 8, lora_dropout: float = 0.0,
                use_rslora: bool = False) -> nn.Module:
    """peft's `lora.Linear` around a copy of `base`: base frozen, fp32 adapters on a 16-bit base (as get_peft_model)."""
    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft.tuners.lora import Linear as PeftLoraLinear
    from peft.tuners.tuners_utils import cast_adapter_dtype

    config = peft_config(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, use_rslora=use_rslora)
    with quiet():
        layer = PeftLoraLinear(copy.deepcopy(base), ADAPTER_NAME, config=config, r=r, lora_alpha=lora_alpha,
                               lora_dropout=lora_dropout, use_rslora=use_rslora)
    cast_adapter_dtype(layer, ADAPTER_NAME)
    layer.base_layer.requires_grad_(False)  # get_peft_model freezes the base; a bare layer does not
    return layer.train(base.training)


def _peft_factor(layer: nn.Module, factor: str) -> nn.Linear:
    return getattr(layer, factor)[ADAPTER_NAME]


def _pairs(ours: nn.Module, theirs: nn.Module) -> list[tuple[str, LoRALinear, nn.Module]]:
    """(name, our layer, peft's layer) for every LoRA layer; a single layer pairs with a single layer."""
    if isinstance(ours, LoRALinear):
        return [("", ours, theirs)]
    inner = theirs.base_model.model if hasattr(theirs, "base_model") and hasattr(theirs.base_model, "model") \
        else theirs
    pairs = []
    for name, layer in lora_modules(ours):
        try:
            other = inner.get_submodule(name)
        except AttributeError:
            raise ValueError(f"peft's model has no module {name}: the two models adapt different layers") from None
        if not hasattr(other, "lora_A") or ADAPTER_NAME not in other.lora_A:
            raise ValueError(f"peft's {name} is a {type(other).__name__} without a LoRA adapter {ADAPTER_NAME!r}; "
                             "were both built with the same target_modules?")
        pairs.append((name, layer, other))
    if not pairs:
        raise ValueError("our model has no LoRA layers to copy (inject_lora first)")
    return pairs


@torch.no_grad()
def copy_into_peft(ours: nn.Module, theirs: nn.Module) -> nn.Module:
    """Copy every lora_A / lora_B of `ours` (a model or a LoRALinear) into `theirs` (a PeftModel or lora.Linear)."""
    for name, layer, other in _pairs(ours, theirs):
        for factor in FACTORS:
            target = _peft_factor(other, factor).weight
            source = getattr(layer, factor).weight
            if target.shape != source.shape:
                raise ValueError(f"{name or 'layer'}.{factor}: ours is {tuple(source.shape)}, peft's is "
                                 f"{tuple(target.shape)} (different r?)")
            target.copy_(source)
    return theirs


def peft_grads(ours: nn.Module, theirs: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """`name.factor` → (our gradient, peft's gradient) for every LoRA factor, after both ran backward."""
    return {f"{name}.{factor}": (getattr(layer, factor).weight.grad, _peft_factor(other, factor).weight.grad)
            for name, layer, other in _pairs(ours, theirs) for factor in FACTORS}


@torch.no_grad()
def from_peft(theirs: nn.Module, is_trainable: bool = False) -> nn.Module:
    """A copy of peft's base model with our LoRALinear in place of each peft LoRA layer, with peft's factors.

    Needs one uniform setting (peft's `rank_pattern` / `alpha_pattern` are refused) and plain LoRA.
    """
    config = theirs.peft_config[ADAPTER_NAME]
    for field in ("use_dora", "rank_pattern", "alpha_pattern", "lora_bias"):
        if getattr(config, field, None):
            raise ValueError(f"the peft model uses {field}={getattr(config, field)!r}, which plain LoRA here does "
                             "not implement")
    inner = copy.deepcopy(theirs.base_model.model)
    peft_layers = [(n, m) for n, m in inner.named_modules() if hasattr(m, "lora_A") and ADAPTER_NAME in m.lora_A]
    for name, layer in peft_layers:
        ours = LoRALinear(layer.base_layer, config.r, config.lora_alpha, config.lora_dropout, config.use_rslora)
        for factor in FACTORS:
            getattr(ours, factor).weight.copy_(_peft_factor(layer, factor).weight)
        set_module(inner, name, ours)
    freeze_all_but_lora(inner, train_lora=is_trainable)
    return inner


__all__ = ["copy_into_peft", "from_peft", "peft_config", "peft_grads", "peft_linear"]
