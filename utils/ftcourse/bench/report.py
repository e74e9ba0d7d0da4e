"""What every `ftcourse bench …` shares besides timing: the device and dtype, and the one JSON writer.

Every `--json` file has the same top level, `{"meta": {...}, <the bench's own keys>}`, and its
`meta` says what produced the numbers, so a figure can always be traced and rerun:

- `command`: the exact command line (`ftcourse bench lora --shapes 576 ...`), shell-quoted;
- `date`: the day it ran (ISO, UTC);
- `device`: "NVIDIA H200" or "CPU, 2 thread(s)"; `dtype`: the dtype it computed in;
- `torch`, `transformers`, `peft`, `bitsandbytes`: the library versions (None when one is missing);
- then whatever the bench adds (its sizes, seeds, seconds, ...).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ftcourse._util import atomic_write_text, check_choice

LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes")
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class NoDevice(RuntimeError):
    """The device asked for is not available on this machine (the bench exits with status 2)."""


def resolve_device(choice: str = "auto", supported: tuple[str, ...] = ("cuda", "mps", "cpu")):
    """torch.device for --device: "auto" takes `ftcourse.env.device()` (cuda, then mps, then cpu), or the CPU
    when the bench does not support that device type (`supported`)."""
    import torch

    from ftcourse import env

    choice = check_choice("device", choice, DEVICE_CHOICES)
    if choice == "cuda" and not env.has_cuda():
        raise NoDevice("--device cuda asked for, but no CUDA GPU is available")
    chosen = env.device() if choice == "auto" else choice
    return torch.device(chosen if chosen in supported else "cpu")


def compute_dtype(device):
    """The dtype a bench computes in on `device`: `ftcourse.env.dtype()` on CUDA (bf16, or fp16 on a T4), else fp32."""
    import torch

    from ftcourse import env

    return env.dtype() if getattr(device, "type", str(device)) == "cuda" else torch.float32


def dtype_name(dtype) -> str:
    """"bfloat16" for torch.bfloat16; strings pass through."""
    return str(dtype).removeprefix("torch.")


def device_name(device, threads: int | None = None) -> str:
    """The GPU's name, or "CPU, n thread(s)" (torch's current thread count unless given)."""
    import torch

    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        return torch.cuda.get_device_name(device)
    if kind == "mps":
        return "Apple MPS"
    return f"CPU, {threads or torch.get_num_threads()} thread(s)"


def versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose numbers the benches depend on (None if not installed)."""
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if version is None:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                version = None
        found[name] = str(version) if version is not None else None
    return found


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The shell-quoted command: `prog` (e.g. "ftcourse bench sweep") followed by the arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([*prog.split(), *args])


def meta(prog: str, argv: Sequence[str] | None, *, device, dtype, **extra) -> dict:
    """The `meta` block: command, date, device, dtype, library versions, then `extra` (the bench's own facts)."""
    block = {"command": command_line(prog, argv),
             "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
             "device": device if isinstance(device, str) else device_name(device),
             "dtype": dtype_name(dtype), **versions()}
    clash = sorted(set(extra) & set(block))
    if clash:
        raise ValueError(f"meta keys {clash} are set by the report itself")
    return {**block, **extra}


def write_json(path: str | Path, meta_block: Mapping, **payload) -> Path:
    """Write {"meta": meta_block, **payload} to `path` atomically (readers never see half a file)."""
    if "meta" in payload:
        raise ValueError("the payload may not have its own 'meta' key")
    text = json.dumps({"meta": dict(meta_block), **payload}, indent=1, default=_plain)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | Path) -> tuple[dict, dict]:
    """(meta, the rest) of a bench's JSON file; older files' `measured_on` is read as `date`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict):
        raise ValueError(f"{path} is not a bench report: it has no 'meta' block")
    block = normalize_meta(data.pop("meta"))
    return block, data


def normalize_meta(block: Mapping) -> dict:
    """A meta block in today's shape: `date` (from an older `measured_on`) and every library key present."""
    out = dict(block)
    if "date" not in out:
        out["date"] = out.get("measured_on")
    for name in LIBRARIES:
        out.setdefault(name, None)
    out.setdefault("dtype", None)
    return out


def _plain(value):
    """JSON for the few non-JSON values a bench may hand over (tuples are lists already)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["DEVICE_CHOICES", "LIBRARIES", "NoDevice", "command_line", "compute_dtype", "device_name", "dtype_name",
           "meta", "normalize_meta", "read_json", "resolve_device", "versions", "write_json"]
