"""Model configs as dicts, with no hub and no weights: what the estimator and parameter counts read.

Every name comes from the one registry (`ftcourse.models.registry`): the embedded model, the real
architectures whose config.json ships with the package, and the presets, which mean the model they
load in the current mode (the embedded model in smoke mode, the real one in full mode), exactly as
`models.load_model(preset)` does. A config.json path or folder works too, and in full mode a hub id.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftcourse import env
from ftcourse.models import registry

# short name -> hub id of the architectures whose config ships with the package
KNOWN: dict[str, str] = dict(registry.ARCHITECTURES)


def names() -> list[str]:
    """Every name `load_config` understands without the hub: the embedded model, the architectures, the presets."""
    return [registry.EMBEDDED, *registry.architecture_names(), *(p for p in registry.preset_names()
                                                                 if p != registry.EMBEDDED)]


def read_config_file(path: str | Path) -> dict:
    """A config.json as a dict (a directory means its config.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read a model config from {path}: {exc}") from None


def load_config(name_or_path, mode: str | None = None) -> dict:
    """A config dict from a name in `names()`, a hub id (config only, full mode), a config.json or a folder.

    A preset gives the config of the model it loads in `mode` (default: the current mode).
    """
    if not isinstance(name_or_path, str | Path) or not str(name_or_path).strip():
        raise ValueError(f"model must be a name or path, got {name_or_path!r}; valid choices: {', '.join(names())}")
    text = str(name_or_path)
    if text in registry.PRESETS and mode is None:
        mode = env.mode()
    known = registry.config_path(text, mode or "smoke")
    if known is not None:
        config = read_config_file(known)
        config.setdefault("_name_or_path", text)
        return config
    path = Path(text)
    if path.exists():
        config = read_config_file(path)
        config.setdefault("_name_or_path", text)
        return config
    if "/" in text and env.mode() == "full":
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(text).to_dict()
        except (OSError, ValueError) as exc:
            raise ValueError(f"could not fetch the config of {text!r} from the hub: {exc}") from None
    raise ValueError(f"unknown model {text!r}; valid choices: {', '.join(names())}, a config.json path, "
                     "or a hub id in full mode")


__all__ = ["KNOWN", "load_config", "names", "read_config_file"]
