"""peft's adapter folder, for every method: two files, written atomically, read with clear errors.

A peft adapter is a folder with `adapter_config.json` (the method's config as a dict, with
`peft_type`) and `adapter_model.safetensors`, one tensor per trainable piece, named
`base_model.model.<module path>.<piece>.weight`: peft's wrapper prefix, the module path in the base
model, then the piece (`lora_A`, `ia3_l`, ...), with peft's adapter name ("default") dropped.
A method by hand keeps its pieces at `<module path>.<piece>.weight`, so the mapping is the prefix
(and, for a live PeftModel's keys, the adapter name).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ftcourse._util import atomic_write, atomic_write_text

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
ADAPTER_NAME = "default"


def to_peft_key(key: str) -> str:
    """`model.layers.0.self_attn.q_proj.lora_A.weight` → peft's saved key (prefix `base_model.model.`)."""
    return PEFT_PREFIX + key


def from_peft_key(key: str, pieces: Iterable[str] = ("lora_A", "lora_B"), adapter: str = ADAPTER_NAME) -> str:
    """peft's saved key → ours; a live PeftModel's adapter name after a piece (`lora_A.default.`) is dropped too."""
    key = key.removeprefix(PEFT_PREFIX)
    for piece in pieces:
        key = key.replace(f".{piece}.{adapter}.", f".{piece}.")
    return key


def write_adapter(path: str | os.PathLike, config: Mapping, tensors: Mapping[str, torch.Tensor]) -> Path:
    """Write `config` (sorted, indented, as peft writes it) and `tensors` (our keys) as a peft folder; returns it.

    Each file is written atomically, weights first, so a reader never sees a config without its weights.
    """
    from safetensors.torch import save_file

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    saved = {to_peft_key(k): v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(saved, tmp, metadata={"format": "pt"}))
    atomic_write_text(folder / CONFIG_NAME, json.dumps(dict(config), indent=2, sort_keys=True))
    return folder


def read_adapter_files(path: str | os.PathLike, peft_type: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The config dict and the raw tensors (peft's keys) of a peft folder holding a `peft_type` adapter."""
    from safetensors.torch import load_file

    folder = Path(path)
    config_file, weights_file = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_file.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {folder}: not a peft adapter folder")
    if not weights_file.is_file():
        hint = " (found adapter_model.bin: re-save it with safe_serialization=True)" \
            if (folder / "adapter_model.bin").is_file() else ""
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {folder}{hint}")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{config_file} is not valid JSON: {exc}") from None
    if config.get("peft_type") != peft_type:
        raise ValueError(f"{folder} holds a {config.get('peft_type')!r} adapter, not {peft_type}")
    raw = load_file(str(weights_file))
    if not raw:
        raise ValueError(f"{weights_file} holds no tensors")
    return config, raw


__all__ = ["ADAPTER_NAME", "CONFIG_NAME", "PEFT_PREFIX", "WEIGHTS_NAME", "from_peft_key", "read_adapter_files",
           "to_peft_key", "write_adapter"]
