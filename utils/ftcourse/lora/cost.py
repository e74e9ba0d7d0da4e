"""LoRA's size rule: what an adapter costs, from a model's config alone (no weights, no training).

Each adapted d_in × d_out weight adds A (r × d_in) and B (d_out × r): r · (d_in + d_out) parameters,
in every decoder layer. peft counts the same (a test checks it), so the size is known before training.
The memory estimator imports `lora_tensor_sizes` and `resolve_targets` from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from ftcourse._util import check_positive_int
from ftcourse.inject import ALL_LINEAR
from ftcourse.memory.params import LINEAR_MODULES, Architecture, architecture


def resolve_targets(target_modules: str | Iterable[str] | None) -> tuple[str, ...]:
    """Target modules as a tuple of decoder-layer module names; "all-linear" means every linear of a layer.

    Accepts "all-linear", a list, or a comma-separated string; None means peft's Llama default (q_proj, v_proj).
    """
    valid = f"valid choices: {ALL_LINEAR}, {', '.join(LINEAR_MODULES)} (a list or a comma-separated string)"
    if target_modules is None:
        return ("q_proj", "v_proj")
    if isinstance(target_modules, str):
        if target_modules.strip() == ALL_LINEAR:
            return LINEAR_MODULES
        items = [t.strip() for t in target_modules.split(",")]
    elif isinstance(target_modules, Iterable):
        items = list(target_modules)
    else:
        raise ValueError(f"target_modules={target_modules!r} is not valid; {valid}")
    bad = [t for t in items if not isinstance(t, str) or t not in LINEAR_MODULES]
    if bad or not items:
        raise ValueError(f"target_modules {bad or items!r} not in this config; {valid}")
    return tuple(dict.fromkeys(items))


def lora_tensor_sizes(arch: Architecture, r: int, targets: Iterable[str]) -> list[int]:
    """numel of every LoRA factor: A (r × d_in) and B (d_out × r) per adapted linear, in every layer."""
    shapes = arch.linear_shapes()
    return [r * n for t in targets for n in shapes[t]] * arch.num_layers


def adapter_parameters(config, r: int, target_modules: str | Iterable[str] = ALL_LINEAR) -> int:
    """Trainable LoRA parameters for rank `r` on `target_modules` ("all-linear", a list, or "q_proj,v_proj").

    `config` is anything `ftcourse.memory.architecture` reads: a known name ("tiny", "SmolLM2-135M", ...),
    a config dict or file, or a transformers config.
    """
    check_positive_int("r", r)
    return sum(lora_tensor_sizes(architecture(config), r, resolve_targets(target_modules)))


def adapter_megabytes(config, r: int, target_modules: str | Iterable[str] = ALL_LINEAR,
                      bytes_per_parameter: int = 4) -> float:
    """The adapter file's weights in MB (10**6 bytes): 4 bytes per parameter in fp32, 2 in bf16."""
    return adapter_parameters(config, r, target_modules) * bytes_per_parameter / 1e6


__all__ = ["adapter_megabytes", "adapter_parameters", "lora_tensor_sizes", "resolve_targets"]
