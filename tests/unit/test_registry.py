"""One model registry: every name any list offers loads, in both modes (full mode from a local stand-in hub cache)."""

import shutil

import pytest
import torch
from ftcourse import models
from ftcourse.memory import configs, count_parameters
from ftcourse.models import registry

COMMIT = "0" * 40


@pytest.fixture(scope="module")
def standin_cache(tmp_path_factory):
    """A hub cache holding the embedded model under every real hub id: full mode's loading code, run offline."""
    cache = tmp_path_factory.mktemp("hub-cache")
    for hub_id in registry.hub_ids():
        repo = cache / f"models--{hub_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / COMMIT
        shutil.copytree(registry.TINY_DIR, snapshot)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(COMMIT)
    return cache


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


def test_unknown_names_list_the_registry(monkeypatch):
    with pytest.raises(ValueError, match="SmolLM2-135M.*small") as err:
        configs.load_config("SmolLM3")
    assert "SmolLM3" in str(err.value)
