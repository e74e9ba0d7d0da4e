import json
import re
import shutil

import pytest
import torch
from ftcourse import env, evaluate, models
from ftcourse.data import general_text
from ftcourse.numerics import assert_equal

LLAMA_MODULES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_tiny_is_a_small_llama_with_gqa(tiny):
    model, _ = tiny
    assert model.config.model_type == "llama"
    assert 2_000_000 <= model.num_parameters() <= 8_000_000
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    linear_names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert LLAMA_MODULES <= linear_names
    k_proj = model.model.layers[0].self_attn.k_proj
    assert k_proj.out_features < model.model.layers[0].self_attn.q_proj.out_features


def test_tokenizer_special_tokens(tiny):
    _, tok = tiny
    assert {tok.pad_token, tok.bos_token, tok.eos_token} == {"<pad>", "<s>", "</s>"}
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id}) == 3
    ids = tok("Return the list.")["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Return the list."


def test_package_data_is_small():
    total = sum(p.stat().st_size for p in models.TINY_DIR.iterdir() if p.is_file())
    assert total < 20 * 2**20


def test_trained_model_is_far_better_than_untrained(tiny):
    model, tok = tiny
    texts = general_text("heldout")[:16]
    trained = evaluate.perplexity(model, tok, texts)
    torch.manual_seed(0)
    untrained = evaluate.perplexity(type(model)(model.config).eval(), tok, texts)
    assert untrained > 1000
    assert trained < untrained / 20


def test_generates_recognisable_english(tiny):
    model, tok = tiny
    corpus_words = set(re.findall(r"[a-z]+", " ".join(general_text("train")).lower()))
    text = " ".join(evaluate.generate(model, tok, p, max_new_tokens=40) for p in ("Return the", "The", "A list is"))
    words = re.findall(r"[a-z]+", text.lower())
    assert len(words) >= 30
    known = sum(w in corpus_words for w in words) / len(words)
    assert known > 0.9, f"only {known:.0%} of generated words are English words from the corpus: {text!r}"
    assert {"the", "is", "of", "a", "to"} & set(words)


def test_model_card_reports_perplexities():
    card = models.model_card()
    for needle in ("untrained", "trained", "perplexity", "steps", "pydoc_data"):
        assert needle in card


@pytest.mark.parametrize("bad", ["huge", "SmolLM2", "", "tiny-v2"])
def test_unknown_model_name_lists_valid_choices(bad):
    with pytest.raises(ValueError) as err:
        models.resolve(bad)
    assert repr(bad) in str(err.value)
    for preset in models.PRESETS:
        assert preset in str(err.value)


def test_presets_resolve_to_embedded_in_smoke_mode():
    for name in models.PRESETS:
        assert models.resolve(name).source == "embedded"


def test_hub_id_in_explicit_smoke_mode_is_refused():
    with pytest.raises(ValueError, match="FTCOURSE_MODE=smoke"):
        models.resolve("HuggingFaceTB/SmolLM2-135M")


def test_presets_resolve_to_hub_ids_in_full_mode(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    assert models.resolve("small").target == "HuggingFaceTB/SmolLM2-135M"
    assert models.resolve("tiny").source == "embedded"


def _fail_hub(monkeypatch):
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained

    def fake(target, *args, **kwargs):
        if str(target).startswith("HuggingFaceTB/"):
            raise OSError("We couldn't connect to the hub")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", fake)


def test_auto_mode_falls_back_to_tiny_with_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(env, "choose_mode", lambda: env.ModeChoice("full", False, "automatic: test"))
    _fail_hub(monkeypatch)
    model = models.load_model("small", device="cpu")
    assert model.num_parameters() < 8_000_000
    assert "using the embedded tiny model" in capsys.readouterr().out


def test_explicit_full_mode_raises_instead_of_falling_back(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "full")
    _fail_hub(monkeypatch)
    with pytest.raises(models.ModelLoadError, match="SmolLM2-135M"):
        models.load_model("small", device="cpu")


def test_local_directory_loads(tmp_path, tiny):
    model, tok = tiny
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again = models.load_model(str(tmp_path), device="cpu")
    ids = tok("Return the list.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert_equal(again(ids).logits, model(ids).logits, "reloaded model")  # same weights, same operations
    assert models.load_tokenizer(str(tmp_path)).vocab_size == tok.vocab_size


@pytest.fixture
def tiny_copy(tmp_path):
    target = tmp_path / "tiny"
    shutil.copytree(models.TINY_DIR, target)
    return target


def test_intact_copy_verifies(tiny_copy):
    assert models.verify_embedded(tiny_copy) == tiny_copy


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_missing_file_is_named(tiny_copy, name):
    (tiny_copy / name).unlink()
    with pytest.raises(models.EmbeddedModelError, match=re.escape(name)):
        models.verify_embedded(tiny_copy)


def test_corrupt_weights_are_named(tiny_copy):
    path = tiny_copy / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(models.EmbeddedModelError, match="model.safetensors"):
        models.verify_embedded(tiny_copy)


def test_corrupt_checksum_file(tiny_copy):
    (tiny_copy / "checksums.json").write_text("{not json")
    with pytest.raises(models.EmbeddedModelError, match="checksums.json"):
        models.verify_embedded(tiny_copy)


def test_checksums_cover_weights_and_tokenizer():
    recorded = json.loads((models.TINY_DIR / "checksums.json").read_text())
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= set(recorded)
