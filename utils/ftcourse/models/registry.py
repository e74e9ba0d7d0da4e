"""The one registry of the models the course names: presets per mode, hub ids, shipped configs.

Two kinds of names, one table each, and every list the course offers is derived from them:
- **presets** (`tiny`, `small`, ...) are what lessons load: the same name gives the embedded tiny model
  in smoke mode and a hub checkpoint in full mode, so a lesson's cells never change between modes.
- **architectures** (`SmolLM2-135M`, ...) are real models whose config.json ships with the package
  (models/configs/), so the memory estimator can size them with no hub and no weights.
`models.load_model` and `memory.configs.load_config` both read this module; nothing else keeps a list.
"""

from __future__ import annotations

from pathlib import Path

from ftcourse._util import check_choice

EMBEDDED = "tiny"
TINY_DIR = Path(__file__).with_name("tiny")
CONFIG_DIR = Path(__file__).with_name("configs")

# architecture short name -> hub id (its config ships as models/configs/<short name>.json)
ARCHITECTURES: dict[str, str] = {
    "SmolLM2-135M": "HuggingFaceTB/SmolLM2-135M",
    "SmolLM2-360M": "HuggingFaceTB/SmolLM2-360M",
    "Qwen2.5-0.5B": "Qwen/Qwen2.5-0.5B",
    "Qwen2.5-1.5B": "Qwen/Qwen2.5-1.5B",
    "Llama-3.2-1B": "meta-llama/Llama-3.2-1B",
    "Mistral-7B": "mistralai/Mistral-7B-v0.1",
}

# preset -> the architecture it loads in full mode (None: the embedded model in both modes); smoke mode
# always loads the embedded model.
PRESETS: dict[str, str | None] = {
    "tiny": None,
    "small": "SmolLM2-135M",
    "medium": "SmolLM2-360M",
    "qwen2.5-0.5b": "Qwen2.5-0.5B",
    "qwen2.5-1.5b": "Qwen2.5-1.5B",
    "llama-3.2-1b": "Llama-3.2-1B",
}
DEFAULT_PRESET = "small"
MODES = ("smoke", "full")


def preset_names() -> list[str]:
    """Names `load_model` accepts as presets, in table order."""
    return list(PRESETS)


def architecture_names() -> list[str]:
    """Real architectures whose config ships with the package."""
    return list(ARCHITECTURES)


def hub_ids() -> list[str]:
    """Hub ids the registry knows (each architecture's)."""
    return list(ARCHITECTURES.values())


def preset_target(preset: str, mode: str) -> str:
    """What `preset` loads in `mode`: EMBEDDED or a hub id."""
    check_choice("preset", preset, PRESETS)
    check_choice("mode", mode, MODES)
    arch = PRESETS[preset]
    return EMBEDDED if mode == "smoke" or arch is None else ARCHITECTURES[arch]


def architecture_of(name: str) -> str | None:
    """The architecture short name for a short name or hub id (any case), else None."""
    lowered = name.lower()
    for short, hub_id in ARCHITECTURES.items():
        if lowered in (short.lower(), hub_id.lower()):
            return short
    return None


def config_path(name: str, mode: str) -> Path | None:
    """The shipped config.json for a preset (as loaded in `mode`), an architecture or a hub id; None if unknown."""
    if name.lower() in (EMBEDDED, "embedded"):
        return TINY_DIR / "config.json"
    if name in PRESETS:
        target = preset_target(name, mode)
        return TINY_DIR / "config.json" if target == EMBEDDED else CONFIG_DIR / f"{architecture_of(target)}.json"
    arch = architecture_of(name)
    return CONFIG_DIR / f"{arch}.json" if arch else None


__all__ = ["ARCHITECTURES", "CONFIG_DIR", "DEFAULT_PRESET", "EMBEDDED", "PRESETS", "TINY_DIR", "architecture_names",
           "architecture_of", "config_path", "hub_ids", "preset_names", "preset_target"]
