"""Merging: fold each LoRA update into its base weight, so the adapted model is a plain model again.

After `merge_lora` the model has exactly the base architecture (plain nn.Linear everywhere), so
inference costs what the base costs; the price is that the adapter can no longer be switched off.
"""

from __future__ import annotations

from torch import nn

from ftcourse.inject import set_module
from ftcourse.lora.inject import lora_modules


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base weight and put the plain nn.Linear back (in place).

    All merged weights are computed and checked before any is written, so an adapter with a
    non-finite update raises and leaves the model as it was.
    """
    layers = list(lora_modules(model))
    if not layers:
        raise ValueError("the model has no LoRA layers to merge (inject_lora or load_adapter first)")
    merged = {}
    for name, layer in layers:
        try:
            merged[name] = layer.base_layer.weight.detach() if layer.merged else layer.merged_weight()
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    for name, layer in layers:
        layer.base_layer.weight.data = merged[name]
        set_module(model, name, layer.base_layer)
    return model
