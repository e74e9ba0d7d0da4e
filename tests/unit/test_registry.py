"""One model registry: every name any list offers loads, in both modes (full mode from the stand-in hub cache)."""

import pytest
import torch
from ftcourse import models
from ftcourse.memory import configs, count_parameters
from ftcourse.models import registry


@pytest.fixture(scope="module")
def standin_cache(standin_hub):
    """The stand-in hub's model cache (tests/conftest.py): a small model of each real family under its hub id."""
    return standin_hub.hub_cache


@pytest.mark.parametrize("mode", registry.MODES)
@pytest.mark.parametrize("name", configs.names())
def test_every_offered_name_has_a_config_in_both_modes(monkeypatch, mode, name):
    monkeypatch.setenv("FTCOURSE_MODE", mode)
    config = configs.load_config(name)
    assert count_parameters(config).total > 0


def test_a_preset_means_the_same_model_for_the_estimator_and_the_loader(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "smoke")
    assert configs.load_config("small")["hidden_size"] == configs.load_config("tiny")["hidden_size"]
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    assert configs.load_config("small")["hidden_size"] == configs.load_config("SmolLM2-135M")["hidden_size"]
    assert configs.load_config("small", mode="smoke")["hidden_size"] == configs.load_config("tiny")["hidden_size"]


def test_every_list_is_derived_from_the_registry():
    assert models.PRESETS is registry.PRESETS
    assert set(configs.KNOWN) == set(registry.ARCHITECTURES)
    assert all(arch is None or arch in registry.ARCHITECTURES for arch in registry.PRESETS.values())
    for arch in registry.ARCHITECTURES:
        assert (registry.CONFIG_DIR / f"{arch}.json").is_file(), arch


@pytest.mark.parametrize("name", registry.preset_names())
def test_every_preset_loads_in_smoke_mode(monkeypatch, name):
    monkeypatch.setenv("FTCOURSE_MODE", "smoke")
    model = models.load_model(name, device="cpu")
    assert model.config.hidden_size == configs.load_config("tiny")["hidden_size"]


@pytest.mark.parametrize("name", registry.preset_names())
def test_every_preset_loads_in_full_mode_from_its_hub_id(monkeypatch, standin_cache, name):
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    resolved = models.resolve(name)
    assert resolved.source == ("embedded" if registry.PRESETS[name] is None else "hub")
    model = models.load_model(name, device="cpu", dtype=torch.float32, cache_dir=str(standin_cache))
    tok = models.load_tokenizer(name, cache_dir=str(standin_cache))
    ids = tok("Return the number of items.", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape[-1] == model.config.vocab_size
    shipped = configs.load_config(name, mode="full")
    assert type(model).__name__ == shipped["architectures"][0]  # the real family: Llama, Qwen2 (with q/k/v biases)
    assert model.config.model_type == shipped["model_type"]


def test_unknown_names_list_the_registry(monkeypatch):
    with pytest.raises(ValueError, match="SmolLM2-135M.*small") as err:
        configs.load_config("SmolLM3")
    assert "SmolLM3" in str(err.value)
