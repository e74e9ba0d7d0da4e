"""Configs of the real architectures the course estimates, shipped as data (no hub needed).

Written from the models' published config.json files; only the fields that decide sizes
matter here. `load_config` turns a short name, a hub id, a preset, a path or the embedded
model into a config dict.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
KNOWN: dict[str, str] = {
    "SmolLM2-135M": "HuggingFaceTB/SmolLM2-135M",
    "SmolLM2-360M": "HuggingFaceTB/SmolLM2-360M",
    "Qwen2.5-0.5B": "Qwen/Qwen2.5-0.5B",
    "Qwen2.5-1.5B": "Qwen/Qwen2.5-1.5B",
    "Llama-3.2-1B": "meta-llama/Llama-3.2-1B",
    "Mistral-7B": "mistralai/Mistral-7B-v0.1",
}


def names() -> list[str]:
    """Model names `load_config` understands without the hub: the embedded model, presets and KNOWN."""
    from ftcourse.models import PRESETS

    return ["tiny", *KNOWN, *(p for p in PRESETS if p != "tiny")]


def _by_name(name: str) -> Path | None:
    from ftcourse.models import PRESETS, TINY_DIR

    lowered = name.lower()
    if lowered in ("tiny", "embedded"):
        return TINY_DIR / "config.json"
    if name in PRESETS and lowered != "tiny":
        name = PRESETS[name]["full"]
    for short, hub_id in KNOWN.items():
        if lowered in (short.lower(), hub_id.lower()):
            return HERE / f"{short}.json"
    return None


def load_config(name_or_path) -> dict:
    """A config dict from a known name, preset, hub id (config only, full mode), config.json or directory."""
    from ftcourse.memory.params import read_config_file

    if not isinstance(name_or_path, str | Path) or not str(name_or_path).strip():
        raise ValueError(f"model must be a name or path, got {name_or_path!r}; known names: {', '.join(names())}")
    text = str(name_or_path)
    known = _by_name(text)
    if known is not None:
        config = read_config_file(known)
        config.setdefault("_name_or_path", text)
        return config
    path = Path(text)
    if path.exists():
        config = read_config_file(path)
        config.setdefault("_name_or_path", text)
        return config
    if "/" in text:
        from ftcourse import env

        if env.mode() == "full":
            from transformers import AutoConfig

            try:
                return AutoConfig.from_pretrained(text).to_dict()
            except (OSError, ValueError) as exc:
                raise ValueError(f"could not fetch the config of {text!r} from the hub: {exc}") from None
    raise ValueError(f"unknown model {text!r}; valid choices: {', '.join(names())}, a config.json path, "
                     "or a hub id in full mode")
