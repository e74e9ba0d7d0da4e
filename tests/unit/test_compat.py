"""Renamed library APIs are found under whichever name the installed version has."""

import pytest
from ftcourse import models
from ftcourse.compat import enable_activation_checkpointing


class Old:
    def __init__(self):
        self.calls = []

    def gradient_checkpointing_enable(self):
        self.calls.append("gradient")


class New(Old):
    def activation_checkpointing_enable(self):
        self.calls.append("activation")


def test_prefers_the_new_name_and_falls_back_to_the_old():
    old, new = Old(), New()
    enable_activation_checkpointing(old)
    enable_activation_checkpointing(new)
    assert old.calls == ["gradient"] and new.calls == ["activation"]


def test_a_model_without_either_is_refused():
    with pytest.raises(TypeError, match="neither"):
        enable_activation_checkpointing(object())


def test_the_tiny_model_gets_checkpointing():
    model = models.load_model("tiny")
    enable_activation_checkpointing(model)
    assert model.is_activation_checkpointing if hasattr(model, "is_activation_checkpointing") \
        else model.is_gradient_checkpointing


def test_quiet_hides_the_bitsandbytes_import_warning_and_progress_bars_then_restores_them(caplog):
    import logging

    from ftcourse.compat import quiet
    from transformers.utils import logging as hf_logging

    record = logging.getLogger("bitsandbytes.backends.cpu.ops")  # where the missing-`kernels` warning is logged
    assert hf_logging.is_progress_bar_enabled()
    with caplog.at_level(logging.WARNING), quiet():
        record.warning("Failed to load CPU gemm_4bit_forward from kernels-community")
        assert not hf_logging.is_progress_bar_enabled()
    assert not caplog.records
    assert hf_logging.is_progress_bar_enabled()
    with caplog.at_level(logging.WARNING):
        record.warning("outside the block it is shown")
    assert [r.getMessage() for r in caplog.records] == ["outside the block it is shown"]


def _stderr_of(code: str) -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**__import__("os").environ, "FTCOURSE_MODE": "smoke"}).stderr


def test_package_code_imports_peft_without_the_kernels_line():
    control = _stderr_of("import peft")
    if "kernels" not in control:
        pytest.skip("this CPU's bitsandbytes logs no `kernels` line on import (it appears on AVX512-BF16 CPUs)")
    assert "kernels" not in _stderr_of("from ftcourse import experiments; experiments.settings('lesson08')")
