"""The stand-in hub (ftcourse.standin) and the dry run: real families and ids, hub-shaped datasets, capped presets."""

import json

import pytest
import torch
from ftcourse import data, env, models, presets, standin
from ftcourse.memory import configs
from ftcourse.models import registry


@pytest.fixture
def offline_datasets(monkeypatch, standin_hub):
    """`datasets` reads its cache location at import: point this process at the stand-in's, offline, in full mode."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", standin_hub.datasets_cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("FTCOURSE_MODE", "full")


@pytest.mark.parametrize("architecture", registry.architecture_names())
def test_each_hub_id_holds_a_small_model_of_its_real_family(monkeypatch, standin_hub, architecture):
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    hub_id = registry.ARCHITECTURES[architecture]
    model = models.load_model(hub_id, device="cpu", dtype=torch.float32, cache_dir=str(standin_hub.hub_cache))
    shipped = configs.load_config(architecture)
    assert type(model).__name__ == shipped["architectures"][0]
    for key, value in standin.TINY_DIMS.items():
        assert getattr(model.config, key) == value, key
    for key in ("tie_word_embeddings", "rms_norm_eps", "hidden_act"):  # everything but the sizes is the real one
        assert getattr(model.config, key) == shipped[key], key
    attn = model.model.layers[0].self_attn
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names
    has_bias = shipped["model_type"] == "qwen2"  # Qwen2 has q/k/v biases, the others none
    assert [attn.q_proj.bias is not None, attn.k_proj.bias is not None, attn.o_proj.bias is not None] == \
        [has_bias, has_bias, False]
    if has_bias:
        assert attn.q_proj.bias.abs().sum() > 0  # random, not transformers' zeros: the biases matter
    tok = models.load_tokenizer(hub_id, cache_dir=str(standin_hub.hub_cache))
    assert len(tok) <= model.config.vocab_size and tok.pad_token_id == model.config.pad_token_id


def test_the_stand_in_config_keeps_everything_but_the_sizes():
    shipped = json.loads((registry.CONFIG_DIR / "Llama-3.2-1B.json").read_text())
    config = standin.standin_config("Llama-3.2-1B")
    assert config["rope_parameters"] == shipped["rope_parameters"]  # llama3 rope scaling kept
    assert config["vocab_size"] == len(models.load_tokenizer("tiny")) and config["model_type"] == "llama"
    with pytest.raises(ValueError, match="Llama-9B.*SmolLM2-135M"):
        standin.standin_config("Llama-9B")


def test_sst2_comes_in_the_hub_layout_and_the_loader_keeps_labelled_splits(offline_datasets):
    import datasets

    raw = datasets.load_dataset("stanfordnlp/sst2")
    assert set(raw) == {"train", "validation", "test"} and set(raw["test"]["label"]) == {-1}
    assert raw["train"].features["label"].names == ["negative", "positive"]
    sst2 = data.sentiment_dataset()
    assert set(sst2) == {"train", "validation"}
    assert len(sst2["train"]) == standin.SIZES["sst2"]["train"] and set(sst2["train"]["label"]) == {0, 1}


def test_wikitext_comes_as_rows_and_the_loader_joins_articles(offline_datasets):
    heldout = data.general_text("heldout")
    train = data.general_text("train")
    assert heldout and train and all(doc.startswith("= ") for doc in heldout + train)
    assert not set(heldout) & set(train)


def test_environ_is_offline_full_mode_and_a_dry_run(standin_hub):
    environ = standin_hub.environ()
    assert environ["FTCOURSE_MODE"] == "full" and environ["FTCOURSE_DRY_RUN"] == "1"
    assert environ["HF_HUB_OFFLINE"] == environ["HF_DATASETS_OFFLINE"] == "1"
    assert environ["HF_HUB_CACHE"] == str(standin_hub.hub_cache)


def test_the_command_prints_export_lines(tmp_path, capsys):
    assert standin.main([str(tmp_path / "hub")]) == 0
    out = capsys.readouterr().out
    assert "export HF_HUB_OFFLINE=1" in out and (tmp_path / "hub" / "hub").is_dir()


@pytest.mark.parametrize("argv", [[], ["--help"], ["a", "b"]])
def test_the_command_explains_itself_and_writes_nothing_for_help_or_bad_arguments(argv, tmp_path, monkeypatch,
                                                                                  capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        standin.main(argv)
    assert exit_.value.code == (0 if argv == ["--help"] else 2)
    printed = capsys.readouterr()
    assert "python -m ftcourse.standin" in printed.out + printed.err  # the usage line names the command
    assert list(tmp_path.iterdir()) == []  # no "./--help" hub


def test_a_dry_run_caps_full_mode_steps_and_timings_only(monkeypatch):
    full = presets.training_preset("sentiment", "full")
    monkeypatch.setenv("FTCOURSE_DRY_RUN", "1")
    assert env.dry_run()
    capped = presets.training_preset("sentiment", "full")
    for key, cap in presets.DRY_RUN_CAPS.items():
        assert capped[key] == min(full[key], cap), key
    assert {k: v for k, v in capped.items() if k not in presets.DRY_RUN_CAPS} == \
        {k: v for k, v in full.items() if k not in presets.DRY_RUN_CAPS}  # shapes, lrs and ranks stay full mode's
    assert presets.timing_budget("full") == presets.DRY_RUN_TIMING_BUDGET_S
    assert presets.training_preset("sentiment", "smoke") == presets.TRAINING["sentiment"]["smoke"]
    assert presets.timing_budget("smoke") == presets.TIMING_BUDGET_S["smoke"]


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_dry_run_reads_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("FTCOURSE_DRY_RUN", value)
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    assert env.dry_run() is expected
    assert ("dry run" in env.choose_mode().line()) is expected  # the setup cell's line says so


def test_check_outcome_raises_except_in_a_dry_run(monkeypatch, capsys):
    monkeypatch.delenv("FTCOURSE_DRY_RUN", raising=False)
    assert env.check_outcome(True, "accuracy beats chance") is True
    with pytest.raises(AssertionError, match="accuracy beats chance"):
        env.check_outcome(False, "accuracy beats chance")
    monkeypatch.setenv("FTCOURSE_DRY_RUN", "1")
    assert env.check_outcome(False, "accuracy beats chance") is False
    assert "not checked" in capsys.readouterr().out
    with pytest.raises(ValueError, match="claim"):
        env.check_outcome(True, "")
