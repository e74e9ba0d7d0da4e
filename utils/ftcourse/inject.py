"""Putting a method's modules into a model, for every method: target matching, replacement, freezing, counting.

Targets are matched as peft's `target_modules` matches them: a list selects a module whose full name
equals an entry or ends with "." + entry (so "q_proj" hits every layer's q_proj); a single string is a
regular expression on the full name; "all-linear" takes every nn.Linear except the output head. A
method passes the module type it wraps with (`wrapper`), so names inside a wrapper are not offered
again and a module wrapped twice is refused. Counts are the ones `print_trainable_parameters` prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from torch import nn

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


def modules_of(model: nn.Module, kind: type[nn.Module]) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) for every module of type `kind`, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, kind):
            yield name, module


def _inside(name: str, prefixes: list[str]) -> bool:
    return any(name.startswith(prefix + ".") for prefix in prefixes)


def linear_module_names(model: nn.Module, wrapper: type[nn.Module] | None = None) -> list[str]:
    """Full names of the model's linear layers (a `wrapper` module counts as one; its insides do not)."""
    kinds = (nn.Linear,) if wrapper is None else (nn.Linear, wrapper)
    wrapped = [n for n, _ in modules_of(model, wrapper)] if wrapper is not None else []
    return [n for n, m in model.named_modules() if n and isinstance(m, kinds) and not _inside(n, wrapped)]


def output_head_name(model: nn.Module) -> str | None:
    """The output projection (`lm_head` in causal LMs) that "all-linear" leaves out, as peft does."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if head is None:
        return None
    return next((n for n, m in model.named_modules() if m is head), None)


def describe_linears(model: nn.Module, wrapper: type[nn.Module] | None = None) -> str:
    """"the model's linear modules are: down_proj, ... (42 in all)", for error messages."""
    names = linear_module_names(model, wrapper)
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
    return f"the model's linear modules are: {', '.join(leaves) or '(none)'} ({len(names)} in all)"


def matches(name: str, target: str) -> bool:
    """peft's rule for one list entry: the full name, or a suffix after a dot."""
    return name == target or name.endswith("." + target)


def match_targets(model: nn.Module, target_modules: str | Iterable[str], wrapper: type[nn.Module] | None = None,
                  method: str = "LoRA") -> list[str]:
    """Full names of the nn.Linear modules that `target_modules` selects, matched the way peft matches them.

    Every entry of a list must select at least one module (peft only complains when none match at all;
    a typo in one entry is worth an error here). Selected modules must be nn.Linear and not already
    wrapped by `wrapper`.
    """
    wrapped = [n for n, _ in modules_of(model, wrapper)] if wrapper is not None else []
    candidates = [n for n, _ in model.named_modules() if n and not _inside(n, wrapped)]
    modules = dict(model.named_modules())
    if isinstance(target_modules, str):
        if target_modules.lower() == ALL_LINEAR:
            head = output_head_name(model)
            selected = [n for n in linear_module_names(model, wrapper) if n != head]
        else:
            selected = [n for n in candidates if re.fullmatch(target_modules, n)]
        if not selected:
            raise ValueError(f"target_modules={target_modules!r} matches no module (a single string is a regular "
                             f"expression on the full name, as in peft; pass a list such as "
                             f"[{target_modules!r}] to match by name); {describe_linears(model, wrapper)}")
    else:
        targets = list(target_modules) if isinstance(target_modules, Iterable) else []
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"target_modules must be 'all-linear', a regex, or a non-empty list of module names, "
                             f"got {target_modules!r}; {describe_linears(model, wrapper)}")
        missing = [t for t in targets if not any(matches(n, t) for n in candidates)]
        if missing:
            raise ValueError(f"target module(s) {missing} not found in the model; {describe_linears(model, wrapper)}")
        selected = [n for n in candidates if any(matches(n, t) for t in targets)]
    for name in selected:
        module = modules[name]
        if wrapper is not None and isinstance(module, wrapper):
            raise ValueError(f"{name} already has {method}; merge it first or start from a fresh model")
        if not isinstance(module, nn.Linear):
            raise ValueError(f"target {name} is a {type(module).__name__}, but {method} here wraps nn.Linear only; "
                             f"{describe_linears(model, wrapper)}")
    return selected


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted path `name`."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def replace_modules(model: nn.Module, names: Iterable[str], build: Callable[[nn.Module], nn.Module]) -> list[str]:
    """Put build(old) in place of each named module; all are built before any is set, so a failure changes nothing."""
    names = list(names)
    modules = dict(model.named_modules())
    built = {name: build(modules[name]) for name in names}
    for name, module in built.items():
        set_module(model, name, module)
    return names


def freeze_all_but(model: nn.Module, trainable: Callable[[str], bool]) -> None:
    """requires_grad=False everywhere, then True for the parameters whose full name `trainable` accepts."""
    model.requires_grad_(False)
    for name, param in model.named_parameters():
        if trainable(name):
            param.requires_grad_(True)


__all__ = ["ALL_LINEAR", "TrainableReport", "describe_linears", "freeze_all_but", "linear_module_names",
           "match_targets", "matches", "modules_of", "output_head_name", "print_trainable_parameters",
           "replace_modules", "set_module", "trainable_parameters"]
