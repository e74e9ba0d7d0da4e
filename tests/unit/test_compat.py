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
