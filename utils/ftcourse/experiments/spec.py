"""Settings are data: one JSON file per sweep in experiments/settings/, read and checked by one loader.

A file holds a `baseline` (every key a run needs), named `settings` (each changes only what it names;
the rest comes from the baseline), the training `sizes`, and a `description`:

>>> spec = settings("lesson08")
>>> spec.names()[:3]
['r=2 a=4', 'r=8 a=16', 'r=32 a=64']
>>> spec.resolve("r=2 a=4")["r"], spec.sizes["batch_size"]
(2, 32)

Keys of a setting: `method` ("lora", "full": every weight trains, "head": only the new
classification head trains), `lr`, and for LoRA any field of peft's `LoraConfig`
(`r`, `lora_alpha`, `target_modules`, `use_rslora`, `use_dora`, ...). A key outside those,
a bad method or a bad size raises ValueError naming what is valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ftcourse._util import check_choice, check_positive_int, check_positive_number
from ftcourse.compat import import_peft

SETTINGS_DIR = Path(__file__).resolve().with_name("settings")
METHODS = ("lora", "full", "head")
RUN_KEYS = ("method", "lr")  # keys for the run itself; every other key goes to peft's LoraConfig
SIZE_KEYS = ("n_train", "n_val", "epochs", "batch_size", "max_length")
FILE_KEYS = ("description", "baseline", "settings", "sizes")


def lora_config_fields() -> tuple[str, ...]:
    """The init fields of peft's LoraConfig, sorted (peft is imported here)."""
    import dataclasses

    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft import LoraConfig

    return tuple(sorted(f.name for f in dataclasses.fields(LoraConfig) if f.init))


def valid_keys() -> tuple[str, ...]:
    """Every key a setting may have: the run keys, then LoraConfig's fields."""
    return (*RUN_KEYS, *(k for k in lora_config_fields() if k not in RUN_KEYS))


def check_setting(name: str, setting: Mapping[str, object],
                  baseline: Mapping[str, object] | None = None) -> dict[str, object]:
    """The run's full setting (`baseline` overridden by `setting`) if it is valid, else a ValueError naming
    the valid keys or choices. LoRA keys in `setting` itself with a method other than "lora" are refused."""
    for what, part in (("setting", setting), ("baseline of setting", baseline or {})):
        if not isinstance(part, Mapping):
            raise ValueError(f"{what} {name!r} must be a mapping of keys to values, got {type(part).__name__}")
    merged = {**(baseline or {}), **setting}
    valid = valid_keys()
    unknown = sorted(set(merged) - set(valid))
    if unknown:
        raise ValueError(f"setting {name!r} has unknown key(s) {unknown}; valid keys: {', '.join(valid)}")
    method = check_choice(f"setting {name!r}: method", merged.get("method", "lora"), METHODS)
    lora_keys = sorted(set(setting) - set(RUN_KEYS))
    if method != "lora" and lora_keys:
        raise ValueError(f"setting {name!r} sets LoRA key(s) {lora_keys} with method={method!r}; "
                         "they apply to method='lora' only")
    if "lr" in merged:
        check_positive_number(f"setting {name!r}: lr", merged["lr"])
    return merged


def check_sizes(sizes: Mapping[str, object]) -> dict[str, int]:
    """Training sizes as a dict if every key is known and every value a positive int."""
    unknown = sorted(set(sizes) - set(SIZE_KEYS))
    if unknown:
        raise ValueError(f"unknown size(s) {unknown}; valid keys: {', '.join(SIZE_KEYS)}")
    return {key: check_positive_int(key, value) for key, value in sizes.items()}


@dataclass(frozen=True)
class Settings:
    """A sweep read from a settings file: baseline, named settings (in file order), sizes, description."""

    name: str
    description: str
    baseline: dict[str, object]
    settings: dict[str, dict[str, object]]
    sizes: dict[str, int]

    def names(self) -> list[str]:
        return list(self.settings)

    def resolve(self, name: str) -> dict[str, object]:
        """Everything a run of setting `name` uses: the baseline, overridden by the setting."""
        check_choice("setting", name, self.settings)
        return {**self.baseline, **self.settings[name]}

    def select(self, names: Iterable[str]) -> Settings:
        """The same sweep with only the settings in `names` (in that order)."""
        names = list(names)
        unknown = [n for n in names if n not in self.settings]
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; this sweep has: {', '.join(self.settings)}")
        return Settings(self.name, self.description, dict(self.baseline), {n: self.settings[n] for n in names},
                        dict(self.sizes))


def settings_names() -> list[str]:
    """The settings files that ship with the package (file names without .json)."""
    return sorted(p.stem for p in SETTINGS_DIR.glob("*.json"))


def parse_settings(data: Mapping, name: str = "settings") -> Settings:
    """Check a settings file's content (already parsed from JSON) and return it as Settings."""
    if not isinstance(data, Mapping):
        raise ValueError(f"settings {name!r} must be a JSON object with keys {', '.join(FILE_KEYS)}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ValueError(f"settings {name!r} has unknown key(s) {unknown}; valid keys: {', '.join(FILE_KEYS)}")
    missing = [k for k in ("baseline", "settings") if k not in data]
    if missing:
        raise ValueError(f"settings {name!r} lacks {missing}; a settings file has {', '.join(FILE_KEYS)}")
    baseline = check_setting(f"{name}: baseline", data["baseline"])
    baseline.setdefault("method", "lora")
    if "lr" not in baseline:
        raise ValueError(f"settings {name!r}: the baseline needs an lr")
    raw = data["settings"]
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"settings {name!r}: 'settings' must map at least one name to a setting")
    named: dict[str, dict[str, object]] = {}
    for key, value in raw.items():
        check_setting(str(key), value, baseline)
        named[str(key)] = dict(value)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"settings {name!r}: description must be a string")
    return Settings(name, description, baseline, named, check_sizes(data.get("sizes", {})))


def settings(name: str | Path) -> Settings:
    """The settings file `name` ("lesson08", "lab07", …), or a path to a .json file of the same shape."""
    path = Path(name)
    if path.suffix != ".json":
        check_choice("settings", str(name), settings_names())
        path = SETTINGS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    return parse_settings(data, path.stem)


__all__ = ["FILE_KEYS", "METHODS", "RUN_KEYS", "SETTINGS_DIR", "SIZE_KEYS", "Settings", "check_setting",
           "check_sizes", "lora_config_fields", "parse_settings", "settings", "settings_names", "valid_keys"]
