"""Putting `LoRALinear` into a model: the method-neutral `ftcourse.inject` with LoRA's layer and names.

>>> model = inject_lora(load_model("tiny"), ["q_proj", "v_proj"], r=8, lora_alpha=16)
trainable params: 30,720 || all params: 3,178,944 || trainable%: 0.9664
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import nn

from ftcourse import inject
from ftcourse._util import renamed
from ftcourse.inject import ALL_LINEAR, print_trainable_parameters
from ftcourse.lora.layer import LoRALinear, check_hyperparameters

FACTORS = ("lora_A", "lora_B")
OLD_NAMES = (("alpha", "lora_alpha"), ("dropout", "lora_dropout"), ("rank", "r"), ("lora_r", "r"),
             ("targets", "target_modules"))


def lora_modules(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    """(name, layer) for every LoRALinear in the model, in module order."""
    yield from inject.modules_of(model, LoRALinear)


def linear_module_names(model: nn.Module) -> list[str]:
    """Full names of the model's linear layers (a LoRALinear counts as one; its insides do not)."""
    return inject.linear_module_names(model, LoRALinear)


def match_targets(model: nn.Module, target_modules: str | Iterable[str]) -> list[str]:
    """Full names of the modules `target_modules` selects (peft's rules; see `ftcourse.inject.match_targets`)."""
    return inject.match_targets(model, target_modules, LoRALinear, "LoRA")


def is_lora_parameter(name: str) -> bool:
    """True for the full name of a LoRA factor's weight (`….lora_A.weight`, `….lora_B.weight`)."""
    return any(f".{factor}." in f".{name}" for factor in FACTORS)


def freeze_all_but_lora(model: nn.Module, train_lora: bool = True) -> None:
    """requires_grad=False everywhere except lora_A / lora_B (frozen too when train_lora is False)."""
    inject.freeze_all_but(model, is_lora_parameter if train_lora else lambda _name: False)


def inject_lora(model: nn.Module, target_modules: str | Iterable[str], r: int = 8, lora_alpha: float = 8,
                lora_dropout: float = 0.0, use_rslora: bool = False, *, verbose: bool = True, **old) -> nn.Module:
    """Wrap the targeted nn.Linear layers in LoRALinear (in place), freeze the rest, return the model.

    Arguments carry peft's LoraConfig names (an old spelling such as `alpha=` raises a TypeError naming
    the new one). The model is left untouched when any argument is bad. It prints peft's trainable-parameter
    line (verbose=False silences it); `trainable_parameters(model)` returns the same counts.
    """
    for before, now in OLD_NAMES:
        renamed("inject_lora", before, now, old)
    if old:
        raise TypeError(f"inject_lora() got unexpected keyword(s) {sorted(old)}")
    check_hyperparameters(r, lora_alpha, lora_dropout)
    selected = match_targets(model, target_modules)
    inject.replace_modules(model, selected, lambda base: LoRALinear(base, r, lora_alpha, lora_dropout, use_rslora))
    freeze_all_but_lora(model)
    if verbose:
        print_trainable_parameters(model)
    return model


__all__ = ["ALL_LINEAR", "FACTORS", "freeze_all_but_lora", "inject_lora", "is_lora_parameter", "linear_module_names",
           "lora_modules", "match_targets"]
