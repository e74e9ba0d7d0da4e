import pytest
from ftcourse import env
from ftcourse.presets import TRAINING, tasks, training_preset

KEYS = {"n_train", "epochs", "batch_size", "max_length", "lr_full", "lr_lora", "r", "lora_alpha",
        "probe_shapes"}


@pytest.mark.parametrize("task", tasks())
@pytest.mark.parametrize("mode", env.MODES)
def test_every_task_has_every_mode_with_the_same_keys(task, mode):
    preset = training_preset(task, mode)
    assert set(preset) == KEYS
    for key in ("n_train", "epochs", "batch_size", "max_length", "r", "lora_alpha"):
        assert isinstance(preset[key], int) and not isinstance(preset[key], bool) and preset[key] > 0, key
    assert 0 < preset["lr_full"] < preset["lr_lora"] < 1
    assert preset["probe_shapes"] and all(b > 0 and s > 0 for b, s in preset["probe_shapes"])


def test_default_mode_comes_from_env(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "smoke")
    assert training_preset("sentiment") == TRAINING["sentiment"]["smoke"]
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    assert training_preset("sentiment") == TRAINING["sentiment"]["full"]


def test_full_mode_is_larger_than_smoke():
    smoke, full = training_preset("sentiment", "smoke"), training_preset("sentiment", "full")
    assert full["n_train"] * full["epochs"] > smoke["n_train"] * smoke["epochs"]
    assert full["max_length"] >= smoke["max_length"]


def test_returns_a_copy():
    preset = training_preset("sentiment", "smoke")
    preset["epochs"] = 99
    assert training_preset("sentiment", "smoke")["epochs"] != 99


@pytest.mark.parametrize("task", ["", "Sentiment", "sst2", None, 3])
def test_unknown_task_names_value_and_choices(task):
    with pytest.raises(ValueError) as err:
        training_preset(task, "smoke")
    assert repr(task) in str(err.value)
    for name in tasks():
        assert name in str(err.value)


@pytest.mark.parametrize("mode", ["auto", "gpu", "SMOKE", "", None.__class__.__name__])
def test_unknown_mode_names_value_and_choices(mode):
    with pytest.raises(ValueError) as err:
        training_preset("sentiment", mode)
    assert repr(mode) in str(err.value)
    for choice in env.MODES:
        assert choice in str(err.value)
