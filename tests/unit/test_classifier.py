import logging
import shutil

import pytest
import torch
from ftcourse import data, env, evaluate, models, train


@pytest.fixture(scope="module")
def sentiment():
    return data.sentiment_dataset(n_train=128, n_validation=64)


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("tiny")


def test_classifier_has_a_fresh_head_on_the_tiny_model(tok):
    env.seed_everything(0)
    clf = models.load_classifier("tiny", num_labels=3, device="cpu")
    lm = models.load_model("tiny", device="cpu")
    assert clf.score.out_features == 3
    assert torch.equal(clf.model.layers[0].self_attn.q_proj.weight, lm.model.layers[0].self_attn.q_proj.weight)
    assert clf.config.pad_token_id == tok.pad_token_id


@pytest.mark.parametrize("bad", [1, 0, 2.0, True])
def test_classifier_rejects_bad_label_counts(bad):
    with pytest.raises(ValueError, match="num_labels"):
        models.load_classifier("tiny", num_labels=bad)


def test_training_learns_the_training_set(sentiment, tok):
    env.seed_everything(0)
    clf = models.load_classifier("tiny", device="cpu")
    before = evaluate.accuracy(clf, tok, sentiment["train"])
    batches = train.classification_batches(tok, sentiment["train"], batch_size=16)
    history = train.train(clf, batches, epochs=4, lr=1e-3, progress=False)
    after = evaluate.accuracy(clf, tok, sentiment["train"])
    assert len(history.losses) == 4 * 8
    assert sum(history.losses[-8:]) < sum(history.losses[:8])
    assert after > max(before, 0.8)


def test_only_trainable_parameters_change(sentiment, tok):
    env.seed_everything(0)
    clf = models.load_classifier("tiny", device="cpu")
    for name, p in clf.named_parameters():
        p.requires_grad = name.startswith("score")
    frozen = clf.model.embed_tokens.weight.clone()
    head = clf.score.weight.clone()
    train.train(clf, train.classification_batches(tok, sentiment["train"], batch_size=32), epochs=1, lr=1e-2,
                progress=False)
    assert torch.equal(clf.model.embed_tokens.weight, frozen)
    assert not torch.equal(clf.score.weight, head)


def test_accuracy_matches_a_manual_count(sentiment, tok):
    env.seed_everything(0)
    clf = models.load_classifier("tiny", device="cpu")
    rows = sentiment["validation"]
    manual = 0
    with torch.no_grad():
        for sentence, label in zip(rows["sentence"], rows["label"]):
            manual += int(clf(**tok(sentence, return_tensors="pt")).logits.argmax(-1).item() == label)
    assert evaluate.accuracy(clf, tok, rows, batch_size=7) == pytest.approx(manual / len(rows))


@pytest.mark.parametrize(
    "kwargs,needle", [({"epochs": 0}, "epochs=0"), ({"lr": -1.0}, "lr=-1.0"), ({"batch_size": 0}, "batch_size=0")]
)
def test_classifier_training_rejects_bad_arguments(sentiment, tok, kwargs, needle):
    clf = models.load_classifier("tiny", device="cpu")
    options = {"epochs": 1, "lr": 1e-3, **{k: v for k, v in kwargs.items() if k != "batch_size"}}
    with pytest.raises(ValueError, match=needle):
        batches = train.classification_batches(tok, sentiment["train"], batch_size=kwargs.get("batch_size", 8))
        train.train(clf, batches, progress=False, **options)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def load_reports():
    """Messages transformers' loader logs while the test runs (its logger does not propagate to pytest's)."""
    handler = _Collect()
    logger = logging.getLogger(models.HEAD_REPORT_LOGGER)
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_the_new_heads_load_report_is_hidden_and_plain_loading_still_reports_it(load_reports):
    from transformers import AutoModelForSequenceClassification

    models.load_classifier("tiny", device="cpu")
    assert not [m for m in load_reports if "LOAD REPORT" in m]
    AutoModelForSequenceClassification.from_pretrained(str(models.TINY_DIR), num_labels=2)  # the filter is gone
    reports = [m for m in load_reports if "LOAD REPORT" in m]
    assert len(reports) == 1 and "score.weight" in reports[0]
    assert models._only_new_head(reports[0])
    assert not models._only_new_head(reports[0].replace("score.weight", "model.norm.weight"))


def test_a_load_report_naming_any_other_key_is_still_shown(load_reports, tmp_path):
    from safetensors.torch import load_file, save_file

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(models.TINY_DIR / name, tmp_path / name)
    weights = load_file(models.TINY_DIR / "model.safetensors")
    del weights["model.norm.weight"]
    save_file(weights, tmp_path / "model.safetensors")
    models.load_classifier(str(tmp_path), device="cpu")
    reports = [m for m in load_reports if "LOAD REPORT" in m]
    assert len(reports) == 1 and "model.norm.weight" in reports[0] and "score.weight" in reports[0]
