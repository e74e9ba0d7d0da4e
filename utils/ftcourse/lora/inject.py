"""Putting `LoRALinear` into a model: target matching as peft does it, freezing, parameter counts.

Target names are matched like peft's `target_modules`: a list matches a module whose full name
equals an entry or ends with "." + entry (so "q_proj" hits every layer's q_proj); a single string
is a regular expression that must match the full name; "all-linear" takes every nn.Linear except
the output head. Counts are the ones `print_trainable_parameters` prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from torch import nn

from ftcourse.lora.layer import LoRALinear, check_hyperparameters

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class TrainableReport:
    """Trainable and total parameter counts, as peft's `get_nb_trainable_parameters` returns them."""

    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100 * self.trainable / self.total if self.total else 0.0

    def line(self) -> str:
        """The exact line `PeftModel.print_trainable_parameters()` prints."""
        return f"trainable params: {self.trainable:,d} || all params: {self.total:,d} || trainable%: {self.percent:.4f}"

    def __str__(self) -> str:
        return self.line()


def trainable_parameters(model: nn.Module) -> TrainableReport:
    """Count parameters with requires_grad and all parameters (shared/tied tensors once, like peft)."""
    trainable = total = 0
    for _, param in model.named_parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return TrainableReport(trainable, total)


def print_trainable_parameters(model: nn.Module) -> TrainableReport:
    """Print the peft-identical "trainable params: … || all params: … || trainable%: …" line."""
    report = trainable_parameters(model)
    print(report.line())
    return report


def lora_modules(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    """(name, layer) for every LoRALinear in the model, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            yield name, module


def _inside_lora(name: str, lora_names: list[str]) -> bool:
    return any(name.startswith(prefix + ".") for prefix in lora_names)


def linear_module_names(model: nn.Module) -> list[str]:
    """Full names of the model's linear layers (a LoRALinear counts as one; its insides do not)."""
    lora_names = [n for n, _ in lora_modules(model)]
    return [n for n, m in model.named_modules()
            if n and isinstance(m, nn.Linear | LoRALinear) and not _inside_lora(n, lora_names)]


def output_head_name(model: nn.Module) -> str | None:
    """The output projection (`lm_head` in causal LMs) that "all-linear" leaves out, as peft does."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if head is None:
        return None
    return next((n for n, m in model.named_modules() if m is head), None)


def _describe_linears(model: nn.Module) -> str:
    names = linear_module_names(model)
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
    return f"the model's linear modules are: {', '.join(leaves) or '(none)'} ({len(names)} in all)"


def match_targets(model: nn.Module, target_modules: str | Iterable[str]) -> list[str]:
    """Full names of the modules that `target_modules` selects, matched the way peft matches them.

    Every entry of a list must select at least one module (peft only complains when none match
    at all; a typo in one entry is worth an error here). Selected modules must be nn.Linear.
    """
    lora_names = [n for n, _ in lora_modules(model)]
    candidates = [n for n, _ in model.named_modules() if n and not _inside_lora(n, lora_names)]
    modules = dict(model.named_modules())
    if isinstance(target_modules, str):
        if target_modules.lower() == ALL_LINEAR:
            head = output_head_name(model)
            selected = [n for n in linear_module_names(model) if n != head]
        else:
            selected = [n for n in candidates if re.fullmatch(target_modules, n)]
        if not selected:
            raise ValueError(f"target_modules={target_modules!r} matches no module (a single string is a regular "
                             f"expression on the full name, as in peft; pass a list such as "
                             f"[{target_modules!r}] to match by name); {_describe_linears(model)}")
    else:
        targets = list(target_modules)
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"target_modules must be 'all-linear', a regex, or a non-empty list of module names, "
                             f"got {target_modules!r}; {_describe_linears(model)}")
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in candidates)]
        if missing:
            raise ValueError(f"target module(s) {missing} not found in the model; {_describe_linears(model)}")
        selected = [n for n in candidates if any(n == t or n.endswith("." + t) for t in targets)]
    for name in selected:
        module = modules[name]
        if isinstance(module, LoRALinear):
            raise ValueError(f"{name} already has LoRA; merge_lora(model) first or start from a fresh model")
        if not isinstance(module, nn.Linear):
            raise ValueError(f"target {name} is a {type(module).__name__}, but LoRA here wraps nn.Linear only; "
                             f"{_describe_linears(model)}")
    return selected


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted path `name`."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def freeze_all_but_lora(model: nn.Module, train_lora: bool = True) -> None:
    """requires_grad=False everywhere except lora_A / lora_B (frozen too when train_lora is False)."""
    model.requires_grad_(False)
    for _, layer in lora_modules(model):
        layer.lora_A.requires_grad_(train_lora)
        layer.lora_B.requires_grad_(train_lora)


def inject_lora(model: nn.Module, target_modules: str | Iterable[str], r: int = 8, alpha: float = 8,
                dropout: float = 0.0, use_rslora: bool = False, *, verbose: bool = True) -> nn.Module:
    """Wrap the targeted nn.Linear layers in LoRALinear (in place), freeze the rest, return the model.

    The model is left untouched when any argument is bad. It prints peft's trainable-parameter
    line (verbose=False silences it); `trainable_parameters(model)` returns the same counts.
    """
    check_hyperparameters(r, alpha, dropout)
    selected = match_targets(model, target_modules)
    modules = dict(model.named_modules())
    for name in selected:
        set_module(model, name, LoRALinear(modules[name], r, alpha, dropout, use_rslora))
    freeze_all_but_lora(model)
    if verbose:
        print_trainable_parameters(model)
    return model
