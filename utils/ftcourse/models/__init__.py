"""Models by preset name: the same name gives the embedded tiny model in smoke mode and a
hub checkpoint in full mode, so a lesson's cells never change between the two.

>>> model = load_model("small")      # smoke: the embedded tiny model; full: SmolLM2-135M
>>> tok = load_tokenizer("small")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ftcourse import env
from ftcourse.compat import no_progress_bars
from ftcourse.models.registry import DEFAULT_PRESET, EMBEDDED, PRESETS, TINY_DIR, hub_ids, preset_target

TINY_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "checksums.json")


class EmbeddedModelError(RuntimeError):
    """The tiny model shipped with the package is missing or damaged."""


class ModelLoadError(RuntimeError):
    """A hub model asked for explicitly could not be loaded."""


@dataclass(frozen=True)
class Resolved:
    """What a model name turned into: where it comes from and which id or path to load."""

    name: str
    source: str  # "embedded", "hub" or "local"
    target: str
    mode: env.ModeChoice


def _valid_names() -> str:
    return ", ".join(PRESETS) + ", a hub id (full mode; known: " + ", ".join(hub_ids()) + ") or a local model directory"


def resolve(name: str = DEFAULT_PRESET) -> Resolved:
    """Turn a preset name, hub id or local directory into what to load in the current mode."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}; valid names: {_valid_names()}")
    choice = env.mode_choice()
    if name in PRESETS:
        target = preset_target(name, choice.mode)
        return Resolved(name, "embedded" if target == EMBEDDED else "hub", target, choice)
    if Path(name).is_dir():
        return Resolved(name, "local", str(Path(name)), choice)
    if "/" in name and (name in hub_ids() or choice.mode == "full"):
        if choice.mode == "smoke" and choice.explicit:
            raise ValueError(
                f"{name!r} is a hub model but FTCOURSE_MODE=smoke loads only the embedded model; "
                f"use a preset ({', '.join(PRESETS)}) or set FTCOURSE_MODE=full"
            )
        return Resolved(name, "hub", name, choice)
    raise ValueError(f"unknown model {name!r}; valid names: {_valid_names()}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_embedded(directory: Path = TINY_DIR) -> Path:
    """Check that every file of the embedded model is present and matches its recorded checksum."""
    rebuild = "reinstall the package or rebuild it with `python -m ftcourse.models.build_tiny`"
    missing = [f for f in TINY_FILES if not (directory / f).is_file()]
    if missing:
        raise EmbeddedModelError(f"embedded model file(s) missing in {directory}: {', '.join(missing)}; {rebuild}")
    try:
        expected = json.loads((directory / "checksums.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmbeddedModelError(f"{directory / 'checksums.json'} is corrupt ({exc}); {rebuild}") from None
    for fname, digest in expected.items():
        path = directory / fname
        if not path.is_file():
            raise EmbeddedModelError(f"embedded model file missing: {path}; {rebuild}")
        if _sha256(path) != digest:
            raise EmbeddedModelError(f"embedded model file is corrupt (checksum mismatch): {path}; {rebuild}")
    return directory


def _load(name: str, loader):
    """Resolve `name` and call loader(path_or_id, embedded) on the right source.

    In automatic mode a hub failure falls back to the embedded model with a notice; a hub id
    named explicitly, or FTCOURSE_MODE=full, means "this model or nothing", so it raises.
    """
    resolved = resolve(name)
    if resolved.source == "embedded":
        return _load_embedded(loader)
    if resolved.source == "local":
        return loader(resolved.target, False)
    try:
        return loader(resolved.target, False)
    except (OSError, ValueError, RuntimeError) as exc:  # network, gated repo, missing files
        if resolved.mode.explicit or resolved.name not in PRESETS:
            raise ModelLoadError(
                f"could not load {resolved.target!r} from the Hugging Face hub in full mode: {exc}\n"
                "Check the network and, for gated models, your HF token; or set FTCOURSE_MODE=smoke "
                "to use the embedded tiny model."
            ) from exc
        print(f"ftcourse: could not load {resolved.target} from the hub ({type(exc).__name__}); "
              "using the embedded tiny model")
        return _load_embedded(loader)


def _load_embedded(loader):
    """The embedded model loads in milliseconds: without transformers' "Loading weights" bar (hub loads keep it)."""
    with no_progress_bars():
        return loader(verify_embedded(), True)


def load_model(name: str = DEFAULT_PRESET, *, dtype=None, device: str | None = None, **kwargs):
    """A causal LM for the preset, hub id or directory `name`, in eval mode on `device`.

    dtype defaults to fp32 for the embedded model and to `env.dtype()` for hub models;
    extra keyword arguments (e.g. `quantization_config`) go to `from_pretrained`.
    """
    from transformers import AutoModelForCausalLM

    def loader(target, embedded: bool):
        default = "float32" if embedded else env.dtype()
        return AutoModelForCausalLM.from_pretrained(target, dtype=dtype or default, **kwargs)

    return _place(_load(name, loader), device, kwargs)


def _place(model, device: str | None, kwargs: dict):
    """Move to `device` (default: the best one) unless bitsandbytes or a device_map placed it; eval mode."""
    if "quantization_config" not in kwargs and "device_map" not in kwargs:
        model = model.to(device or env.device())
    return model.eval()


HEAD_REPORT_LOGGER = "transformers.modeling_utils"  # where from_pretrained logs its LOAD REPORT (transformers 5)
_REPORT_ROW = re.compile(r"^\s*([\w.]+)\s*\|\s*(?:\x1b\[[0-9;]*m)*(\w+)")


def _only_new_head(message: str, head: str = "score") -> bool:
    """Whether a LOAD REPORT lists nothing but the new head's keys as MISSING (the expected news of a new head)."""
    if "LOAD REPORT" not in message:
        return False
    rows = [m.groups() for line in message.splitlines()[1:] if (m := _REPORT_ROW.match(line))]
    rows = [(key, status) for key, status in rows if key != "Key"]  # the table's header
    return bool(rows) and all(key.split(".")[0] == head and status == "MISSING" for key, status in rows)


class _NewHeadReportFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _only_new_head(record.getMessage())


@contextlib.contextmanager
def _expected_head_report_hidden() -> Iterator[None]:
    """Drop transformers' load report when its only news is the new head `score`; any other key is still reported."""
    logger = logging.getLogger(HEAD_REPORT_LOGGER)
    report_filter = _NewHeadReportFilter()
    logger.addFilter(report_filter)
    try:
        yield
    finally:
        logger.removeFilter(report_filter)


def load_classifier(name: str = DEFAULT_PRESET, num_labels: int = 2, *, dtype=None, device: str | None = None,
                    **kwargs):
    """The preset's transformer with a new, randomly initialised classification head (`score`).

    Used for sentiment: the last real token's hidden state goes through a linear layer to
    `num_labels` logits. Seed first (`env.seed_everything`) for a repeatable head. The default
    dtype is fp32 in both modes because this model is for training: plain AdamW on fp16
    weights (a T4's dtype) loses small updates; use autocast for mixed precision instead.
    A checkpoint has no `score`: transformers' load report calling `score.weight` MISSING ("newly
    initialized") is the expected news of the new head and is not shown; a report naming any other key is.
    """
    from transformers import AutoModelForSequenceClassification

    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2:
        raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")

    def loader(target, embedded: bool):
        with _expected_head_report_hidden():
            model = AutoModelForSequenceClassification.from_pretrained(
                target, num_labels=num_labels, dtype=dtype or "float32", **kwargs
            )
        if model.config.pad_token_id is None:  # needed to find each sequence's last real token
            model.config.pad_token_id = model.config.eos_token_id
        return model

    return _place(_load(name, loader), device, kwargs)


def load_tokenizer(name: str = DEFAULT_PRESET, **kwargs):
    """The tokenizer that goes with `load_model(name)`; a missing pad token is set to eos."""
    from transformers import AutoTokenizer

    tok = _load(name, lambda target, embedded: AutoTokenizer.from_pretrained(target, **kwargs))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def model_card() -> str:
    """The embedded model's card: data, settings, steps and measured perplexities."""
    return (TINY_DIR / "MODEL_CARD.md").read_text()


__all__ = [
    "PRESETS", "DEFAULT_PRESET", "TINY_DIR", "EmbeddedModelError", "ModelLoadError", "Resolved",
    "resolve", "verify_embedded", "load_model", "load_classifier", "load_tokenizer", "model_card",
]

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
