"""Where the course runs: Colab or not, CUDA / MPS / CPU, hub reachable or not, and the mode.

The mode decides model and data sizes everywhere else in the package:
- ``smoke``: the embedded tiny model and generated data; offline, a CPU is enough (CI).
- ``full``: real checkpoints and datasets from the Hugging Face hub, sized for a Colab T4.

``FTCOURSE_MODE`` chooses (``smoke``, ``full`` or ``auto``); ``auto`` (the default) picks
``full`` only with a CUDA GPU and a reachable hub. Nothing here may hang: the hub is checked
once, in a background thread, with a short timeout, and ``HF_HUB_OFFLINE=1`` skips the check.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import sys
import threading
from dataclasses import dataclass

MODES = ("smoke", "full")
MODE_CHOICES = ("auto", *MODES)
HUB_HOST = "huggingface.co"
HUB_TIMEOUT_S = 2.0
_TRUE = {"1", "true", "yes", "on"}


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_supports_bf16() -> bool:
    """bf16 needs compute capability 8.0 (Ampere) or newer; a T4 (7.5) has only fp16."""
    import torch

    return has_cuda() and torch.cuda.is_bf16_supported(including_emulation=False)


def has_mps() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def hub_offline_requested() -> bool:
    """HF_HUB_OFFLINE (or the older TRANSFORMERS_OFFLINE) set to a true value."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@functools.cache
def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Can we open a TCP connection to the hub? Checked once; never waits longer than timeout.

    The name lookup runs in a daemon thread because ``getaddrinfo`` ignores socket timeouts.
    """
    if hub_offline_requested():
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((HUB_HOST, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


@dataclass(frozen=True)
class ModeChoice:
    """The chosen mode, whether it was asked for explicitly, and why."""

    mode: str
    explicit: bool
    reason: str

    def line(self) -> str:
        return f"ftcourse: {self.mode} mode ({self.reason})"


def _requested_mode() -> str:
    raw = os.environ.get("FTCOURSE_MODE", "auto")
    value = raw.strip().lower() or "auto"
    if value not in MODE_CHOICES:
        raise ValueError(f"FTCOURSE_MODE={raw!r} is not a mode; valid choices: {', '.join(MODE_CHOICES)}")
    return value


def choose_mode() -> ModeChoice:
    """Decide the mode from FTCOURSE_MODE and the machine, without printing."""
    requested = _requested_mode()
    if requested != "auto":
        dry = ", a dry run: FTCOURSE_DRY_RUN=1" if requested == "full" and dry_run() else ""
        return ModeChoice(requested, True, f"FTCOURSE_MODE={requested}{dry}")
    if not has_cuda():
        return ModeChoice("smoke", False, "automatic: no CUDA GPU; set FTCOURSE_MODE=full to use hub models anyway")
    if not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if hub_offline_requested() else f"{HUB_HOST} is not reachable"
        return ModeChoice("smoke", False, f"automatic: CUDA GPU found but {why}")
    return ModeChoice("full", False, "automatic: CUDA GPU and the Hugging Face hub are available")


_announced: set[str] = set()


def mode_choice() -> ModeChoice:
    """The mode and its reason; prints the one-line explanation the first time it is decided."""
    choice = choose_mode()
    if choice.line() not in _announced:
        _announced.add(choice.line())
        print(choice.line())
    return choice


def mode() -> str:
    """The course mode, "smoke" or "full" (prints why once)."""
    return mode_choice().mode


def dry_run() -> bool:
    """FTCOURSE_DRY_RUN set to a true value: full mode's code run on a CPU against a stand-in hub.

    `ftcourse.standin` writes that hub (small random models and datasets under the real ids); in a dry run
    `ftcourse.presets` caps training sizes and timing budgets, and `check_outcome` reports instead of failing,
    because random weights trained for a few steps learn nothing. Everything else runs as in full mode.
    """
    return os.environ.get("FTCOURSE_DRY_RUN", "").strip().lower() in _TRUE


def check_outcome(condition: bool, claim: str) -> bool:
    """Assert a claim about what training achieved (an accuracy, a loss); in a dry run, say it went unchecked.

    Use it for claims that only a real model trained for real can make true (plain `assert` for everything
    else: counts, shapes, equalities). Raises AssertionError(claim) when `condition` is false, except in a
    dry run (`dry_run()`), where it prints the claim and its result and returns `condition`.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a sentence saying what is expected, got {claim!r}")
    ok = bool(condition)
    if dry_run():
        print(f"dry run: outcome not checked (stand-in model, capped sizes): {claim} [{'holds' if ok else 'fails'}]")
    elif not ok:
        raise AssertionError(claim)
    return ok


def device() -> str:
    """The best device: "cuda", then "mps", then "cpu"."""
    if has_cuda():
        return "cuda"
    if has_mps():
        return "mps"
    return "cpu"


def dtype():
    """Training dtype for the device: bf16 where supported, fp16 on older GPUs (T4), fp32 on CPU/MPS."""
    import torch

    if has_cuda():
        return torch.bfloat16 if cuda_supports_bf16() else torch.float16
    return torch.float32


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy (if present) and torch (all devices) so reruns give the same numbers."""
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    torch.manual_seed(seed)
    return seed


def summary() -> dict[str, object]:
    """Facts about this runtime, for `ftcourse doctor` and bug reports."""
    import torch

    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "colab": in_colab(),
        "device": device(),
        "cuda": has_cuda(),
        "gpu": torch.cuda.get_device_name(0) if has_cuda() else None,
        "bf16": cuda_supports_bf16() if has_cuda() else False,
        "fp16": has_cuda(),
        "dtype": str(dtype()).replace("torch.", ""),
        "hub_offline_env": hub_offline_requested(),
        "hub_reachable": hub_reachable(),
    }
    return info
