"""What a LoRA adapter costs, from a model's config alone (no weights, no training).

Each adapted d_in × d_out weight adds A (r × d_in) and B (d_out × r): r · (d_in + d_out) parameters,
in every decoder layer. peft counts the same (a test checks it), so the size is known before training.
"""

from __future__ import annotations

from collections.abc import Iterable


def adapter_parameters(config, r: int, target_modules: str | Iterable[str] = "all-linear") -> int:
    """Trainable LoRA parameters for rank `r` on `target_modules` ("all-linear", a list, or "q_proj,v_proj").

    `config` is anything `ftcourse.memory.architecture` reads: a known name ("tiny", "SmolLM2-135M", ...),
    a config dict or file, or a transformers config.
    """
    from ftcourse.memory.estimate import _check_positive, lora_tensor_sizes, resolve_targets
    from ftcourse.memory.params import architecture

    _check_positive("r", r)
    return sum(lora_tensor_sizes(architecture(config), r, resolve_targets(target_modules)))


def adapter_megabytes(config, r: int, target_modules: str | Iterable[str] = "all-linear",
                      bytes_per_parameter: int = 4) -> float:
    """The adapter file's weights in MB (10**6 bytes): 4 bytes per parameter in fp32, 2 in bf16."""
    return adapter_parameters(config, r, target_modules) * bytes_per_parameter / 1e6


__all__ = ["adapter_megabytes", "adapter_parameters"]
