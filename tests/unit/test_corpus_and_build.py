import pytest
from ftcourse import data
from ftcourse.data import corpus
from ftcourse.models import build_tiny
from safetensors.torch import load_file


def test_splits_are_disjoint_and_stable():
    train = corpus.load_documents("train")
    heldout = corpus.load_documents("heldout")
    assert {d.name for d in train}.isdisjoint({d.name for d in heldout})
    assert {d.text for d in train}.isdisjoint({d.text for d in heldout})
    assert 0.02 < len(heldout) / (len(train) + len(heldout)) < 0.08
    assert [d.name for d in corpus.load_documents("heldout")] == [d.name for d in heldout]
    assert sum(len(d.text) for d in train) > 1_000_000  # enough English to train on


def test_general_text_smoke_is_the_corpus():
    assert data.general_text("heldout", mode="smoke") == corpus.general_text("heldout")


@pytest.mark.parametrize("bad", ["test", "validation", ""])
def test_bad_split(bad):
    with pytest.raises(ValueError, match="heldout"):
        data.general_text(bad)


def test_bad_mode():
    with pytest.raises(ValueError, match="smoke, full"):
        data.general_text("train", mode="gpu")


def test_wikitext_rows_become_articles():
    rows = [" = Alpha = \n", "", " Alpha is first . \n", " = = Part = = \n", " More . \n", " = Beta = \n", " B . \n"]
    docs = data.wikitext_documents(rows)
    assert docs == ["= Alpha =\nAlpha is first .\n= = Part = =\nMore .", "= Beta =\nB ."]


SMALL = build_tiny.BuildSettings(
    vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
    num_key_value_heads=2, seq_len=32, batch_size=4, steps=30, lr=3e-3, warmup_steps=5, eval_batches=2,
)


@pytest.mark.slow
def test_build_is_deterministic_and_learns(tmp_path):
    facts = build_tiny.build(SMALL, tmp_path / "a", samples=("The",))
    build_tiny.build(SMALL, tmp_path / "b", samples=("The",))
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert facts["trained_heldout_loss"] < facts["untrained_heldout_loss"] - 0.5
    card = (tmp_path / "a" / "MODEL_CARD.md").read_text()
    assert "held-out" in card and f"{SMALL.steps:,} steps" in card
    from ftcourse.models import verify_embedded

    assert verify_embedded(tmp_path / "a")


def test_build_rejects_bad_steps():
    with pytest.raises(SystemExit):
        build_tiny.main(["--steps", "0", "--out", "/nonexistent"])


def test_sentiment_dataset_follows_the_mode():
    first = data.sentiment_dataset(mode="smoke", n_train=50, n_validation=10)
    again = data.sentiment_dataset(n_train=50, n_validation=10)  # FTCOURSE_MODE=smoke in tests
    assert first["train"]["sentence"] == again["train"]["sentence"]
    assert first["train"].features["label"].names == ["negative", "positive"]
