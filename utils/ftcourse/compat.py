"""The one home of version differences and of the library noise the course silences, always in a scope.

- `import_peft()`: peft imported inside `quiet()` (its first import logs bitsandbytes' `kernels` line).
- `no_progress_bars()`: transformers' progress bars off in a block (the embedded model's loads use it).
- `enable_activation_checkpointing`: the name of checkpointing differs across transformers 5.x.
- `quiet()`: a context manager that hides the upstream warnings listed in `KNOWN_NOISE`, the
  bitsandbytes logger and transformers' progress bars ("Loading weights", "Writing model shards")
  while its block runs, and restores all three afterwards. A learner's kernel keeps its
  own warning filters: nothing here changes them for good (`warnings.filterwarnings` at top level would).

>>> from ftcourse.compat import quiet
>>> with quiet():
...     model = get_peft_model(base, LoraConfig(r=8, target_modules="all-linear"))
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

# (message regex, category, why it is harmless): upstream noise, not course code.
KNOWN_NOISE: tuple[tuple[str, type[Warning], str], ...] = (
    (".*is_gradient_checkpointing.* is deprecated", FutureWarning,
     "peft 0.21 calls a transformers helper that transformers 5.23 renamed"),
    (".*gradient_checkpointing_enable.* is deprecated", FutureWarning,
     "peft 0.21's prepare_model_for_kbit_training calls the old name of activation_checkpointing_enable"),
    (".*torch.jit.script_method.* is deprecated", DeprecationWarning, "a dependency imports torch.jit"),
    ("Paged optimizers are not supported on CPU", UserWarning,
     "bitsandbytes falls back to ordinary 8-bit states on CPU, as expected"),
)
# bitsandbytes logs a warning about a missing `kernels` package on AVX512-BF16 CPUs when peft imports it
# ("Failed to load CPU gemm_4bit_forward from kernels-community ..."): an optional faster 4-bit CPU kernel
# that needs a download; bitsandbytes falls back to its own kernels. It is logged once, at import.
QUIET_LOGGERS = ("bitsandbytes",)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' tqdm bars off inside the block (its global switch), as they were after."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # nothing to hide
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide KNOWN_NOISE, the bitsandbytes logger and transformers' progress bars in the block; all restored after."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings(), no_progress_bars():
        for message, category, _why in KNOWN_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def import_peft():
    """Import peft inside quiet() and return it: the first import imports bitsandbytes, which logs the missing
    `kernels` line above (once per process). Package code calls this before its lazy `from peft import ...`."""
    with quiet():
        import peft
    return peft


def enable_activation_checkpointing(model) -> None:
    """Turn on activation (gradient) checkpointing under the name the installed transformers has.

    transformers 5.23 calls it `activation_checkpointing_enable` and warns on the old
    `gradient_checkpointing_enable`; earlier 5.x releases (5.17 seen) only have the old name.
    """
    for name in ("activation_checkpointing_enable", "gradient_checkpointing_enable"):
        enable = getattr(model, name, None)
        if callable(enable):
            enable()
            return
    raise TypeError(f"{type(model).__name__} has neither activation_checkpointing_enable nor "
                    "gradient_checkpointing_enable; checkpointing needs a transformers PreTrainedModel")


__all__ = ["KNOWN_NOISE", "enable_activation_checkpointing", "import_peft", "no_progress_bars", "quiet"]
