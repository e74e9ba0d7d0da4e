"""Tests of ftcourse.data.sentiment: the generated SST-2-like set and the SST-2 / local-file loader."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import datasets
import pytest
import torch
from ftcourse.data.sentiment import LABEL_NAMES, SST2_HUB_ID, load_sentiment, make_sentiment

NEGATIONS = ("not", "never", "n't")
CONTRAST_WORDS = {"but", "yet", "although", "while", "though", "even", "and"}


@pytest.fixture(scope="module")
def data() -> datasets.DatasetDict:
    return make_sentiment()


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """Keep the csv/json builders' cache inside the test's folder."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def _rows(dd: datasets.DatasetDict) -> dict[str, list[dict]]:
    return {split: dd[split].to_list() for split in dd}


def _words(sentence: str) -> set[str]:
    return set(sentence.split())


# --------------------------------------------------------------------------- generated set


def test_same_seed_same_data_and_other_seed_differs():
    a = make_sentiment(n_train=300, n_validation=60, seed=7)
    b = make_sentiment(n_train=300, n_validation=60, seed=7)
    c = make_sentiment(n_train=300, n_validation=60, seed=8)
    assert _rows(a) == _rows(b)
    assert a["train"]["sentence"][:] != c["train"]["sentence"][:]
    assert _rows(a) != _rows(c)


def test_same_data_in_another_process_with_another_hash_seed():
    """The rows may not depend on set order or anything else that changes between interpreters."""
    code = (
        "import json; from ftcourse.data.sentiment import make_sentiment; "
        "d = make_sentiment(n_train=80, n_validation=20, seed=3); "
        "print(json.dumps({s: d[s].to_list() for s in d}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == _rows(make_sentiment(n_train=80, n_validation=20, seed=3))


def test_schema_splits_sizes_and_idx(data):
    assert isinstance(data, datasets.DatasetDict)
    assert list(data) == ["train", "validation"]
    assert (len(data["train"]), len(data["validation"])) == (2000, 400)
    for split in data.values():
        assert set(split.column_names) == {"idx", "sentence", "label"}
        assert split.features["sentence"] == datasets.Value("string")
        assert isinstance(split.features["label"], datasets.ClassLabel)
        assert split.features["label"].names == list(LABEL_NAMES) == ["negative", "positive"]
        assert split.features["idx"].dtype.startswith("int")
        assert list(split["idx"]) == list(range(len(split)))
        assert set(split["label"]) == {0, 1}
    small = make_sentiment(n_train=11, n_validation=5, seed=1)
    assert (len(small["train"]), len(small["validation"])) == (11, 5)


def test_sentences_look_like_sst2(data):
    for sentence in data["train"]["sentence"]:
        assert sentence == sentence.lower() == sentence.strip()
        assert "  " not in sentence
        assert not re.search(r"\w[,.]", sentence), f"punctuation not split off: {sentence!r}"
        assert 2 <= len(sentence.split()) <= 30


def test_labels_are_balanced(data):
    for name, split in data.items():
        share = sum(split["label"]) / len(split)
        assert 0.4 <= share <= 0.6, f"{name}: {share:.2%} positive"


def test_no_sentence_in_both_splits_nor_twice(data):
    train, validation = list(data["train"]["sentence"]), list(data["validation"]["sentence"])
    assert not set(train) & set(validation)
    assert len(set(train)) == len(train) and len(set(validation)) == len(validation)


def test_no_single_keyword_solves_it(data):
    train, validation = data["train"], data["validation"]
    vocabulary = set().union(*(_words(s) for s in train["sentence"]))
    assert len(vocabulary) > 100
    val_words = [_words(s) for s in validation["sentence"]]
    labels = list(validation["label"])
    best_acc, best_word = 0.0, None
    for word in sorted(vocabulary):
        acc = sum((word in words) == bool(y) for words, y in zip(val_words, labels, strict=True)) / len(labels)
        acc = max(acc, 1 - acc)  # the rule or its inverse
        if acc > best_acc:
            best_acc, best_word = acc, word
    assert best_acc <= 0.75, f"the word {best_word!r} alone gets {best_acc:.3f}"


def test_negation_and_contrast_occur_in_both_labels(data):
    by_label = {0: Counter(), 1: Counter()}
    for sentence, label in zip(data["train"]["sentence"], data["train"]["label"], strict=True):
        words = _words(sentence)
        by_label[label]["negation"] += any(n in words for n in ("not", "never"))
        by_label[label]["contrast"] += bool(words & {"but", "although"})
    for label in (0, 1):
        assert by_label[label]["negation"] >= 50, by_label
        assert by_label[label]["contrast"] >= 50, by_label


def test_labels_follow_negation_and_plain_sentiment(data):
    """Spot-check meaning in sentences with one clause: 'never boring' is positive, 'not great' negative."""
    negative, positive = {"bad", "boring", "dull", "awful"}, {"great", "good", "funny", "clever"}
    plain_positive = {"superb", "brilliant", "gripping", "charming", "stunning", "gorgeous"}
    plain_negative = {"tedious", "lifeless", "clumsy", "bland", "stale", "hollow"}
    checked = Counter()
    for sentence, label in zip(data["train"]["sentence"], data["train"]["label"], strict=True):
        words = sentence.removesuffix(" .").split()
        if CONTRAST_WORDS & set(words) or sentence.startswith("i "):
            continue
        pairs = list(zip(words, words[1:], strict=False))
        negated = [b for a, b in pairs if a in NEGATIONS]
        if negated and negated[0] in negative:
            assert label == 1, sentence
            checked["negated negative"] += 1
        elif negated and negated[0] in positive:
            assert label == 0, sentence
            checked["negated positive"] += 1
        elif not negated and words[-1] in plain_positive:
            assert label == 1, sentence
            checked["plain positive"] += 1
        elif not negated and words[-1] in plain_negative:
            assert label == 0, sentence
            checked["plain negative"] += 1
    assert min(checked.values(), default=0) >= 10 and len(checked) == 4, checked


def _ngrams(sentence: str) -> set[str]:
    words = sentence.split()
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}


def test_bag_of_bigrams_logistic_regression_learns_it(data):
    train, validation = data["train"], data["validation"]
    vocab = {g: i for i, g in enumerate(sorted(set().union(*(_ngrams(s) for s in train["sentence"]))))}

    def featurise(sentences) -> torch.Tensor:
        x = torch.zeros(len(sentences), len(vocab))
        for row, sentence in enumerate(sentences):
            cols = [vocab[g] for g in _ngrams(sentence) if g in vocab]
            x[row, cols] = 1.0
        return x

    x_train, x_val = featurise(list(train["sentence"])), featurise(list(validation["sentence"]))
    y_train = torch.tensor(list(train["label"]), dtype=torch.float32)
    y_val = torch.tensor(list(validation["label"]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(len(vocab), 1)
        opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-4)
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x_train).squeeze(1), y_train)
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy = ((model(x_val).squeeze(1) > 0).long() == y_val).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy >= 0.8, f"bag-of-bigrams validation accuracy {accuracy:.3f}"


def test_load_generated_is_make_sentiment():
    assert _rows(load_sentiment(n_train=40, n_validation=10, seed=5)) == _rows(
        make_sentiment(n_train=40, n_validation=10, seed=5)
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("source", ["sst-2", "", "GENERATED"])
def test_unknown_source_is_named(source):
    with pytest.raises(ValueError, match=re.escape(repr(source))) as err:
        load_sentiment(source)
    assert "generated" in str(err.value) and "sst2" in str(err.value)


@pytest.mark.parametrize("kwargs, bad", [
    ({"n_train": 0}, "n_train"), ({"n_validation": -3}, "n_validation"), ({"n_train": 2.5}, "n_train"),
])
def test_non_positive_sizes_are_refused(kwargs, bad):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"{bad}.*{re.escape(repr(value))}"):
        load_sentiment(**kwargs)
    with pytest.raises(ValueError, match=rf"{bad}.*{re.escape(repr(value))}"):
        make_sentiment(**kwargs)


def test_data_files_only_with_sst2(tmp_path):
    with pytest.raises(ValueError, match="data_files"):
        load_sentiment("generated", data_files=str(tmp_path / "x.csv"))


# --------------------------------------------------------------------------- full-mode path


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _assert_sst2_schema(dd: datasets.DatasetDict) -> None:
    assert list(dd) == ["train", "validation"]
    for split in dd.values():
        assert split.column_names == ["idx", "sentence", "label"]
        assert split.features["label"] == datasets.ClassLabel(names=["negative", "positive"])
        assert split.features["sentence"] == datasets.Value("string")
        assert list(split["idx"]) == list(range(len(split)))


def test_local_csv_and_jsonl(tmp_path, hf_cache):
    train = _write_csv(tmp_path / "train.csv", "sentence,label,source",
                       ["the film is great,1,a", '"a dull , tired mess",0,b', "not bad at all,1,c"])
    validation = _write_jsonl(tmp_path / "dev.jsonl", [{"sentence": "never boring", "label": 1},
                                                        {"sentence": "the plot drags", "label": 0}])
    dd = load_sentiment("sst2", data_files={"train": str(train), "validation": validation})
    _assert_sst2_schema(dd)
    assert dd["train"].to_list() == [
        {"idx": 0, "sentence": "the film is great", "label": 1},
        {"idx": 1, "sentence": "a dull , tired mess", "label": 0},
        {"idx": 2, "sentence": "not bad at all", "label": 1},
    ]
    assert dd["validation"]["sentence"][:] == ["never boring", "the plot drags"]
    assert dd["validation"].features["label"].int2str(0) == "negative"


def test_local_tsv_with_test_split_becomes_validation(tmp_path, hf_cache):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\nit 's a charming journey\t1\ngrating and tired\t0\n", encoding="utf-8")
    test = _write_jsonl(tmp_path / "test.jsonl", [{"sentence": "a gem", "label": 1, "idx": 0}])
    dd = load_sentiment("sst2", data_files={"train": train, "test": test})
    _assert_sst2_schema(dd)
    assert dd["train"]["sentence"][:] == ["it 's a charming journey", "grating and tired"]
    assert dd["validation"].to_list() == [{"idx": 0, "sentence": "a gem", "label": 1}]


def test_single_file_holds_out_a_deterministic_tenth(tmp_path, hf_cache):
    rows = [f"review number {i},{i % 2}" for i in range(40)]
    path = _write_csv(tmp_path / "all.csv", "sentence,label", rows)
    a = load_sentiment("sst2", data_files=path, seed=1)
    b = load_sentiment("sst2", data_files=str(path), seed=1)
    _assert_sst2_schema(a)
    assert (len(a["train"]), len(a["validation"])) == (36, 4)
    assert _rows(a) == _rows(b)
    assert not set(a["train"]["sentence"]) & set(a["validation"]["sentence"])


def test_missing_label_column_names_the_file_and_column(tmp_path, hf_cache):
    path = _write_csv(tmp_path / "nolabel.csv", "sentence,score", ["ok,1", "meh,0"])
    with pytest.raises(ValueError, match="label") as err:
        load_sentiment("sst2", data_files={"train": path, "validation": path})
    assert "nolabel.csv" in str(err.value) and "sentence" in str(err.value)


def test_missing_sentence_column(tmp_path, hf_cache):
    path = _write_jsonl(tmp_path / "text.jsonl", [{"text": "ok", "label": 1}])
    with pytest.raises(ValueError, match="'sentence'"):
        load_sentiment("sst2", data_files={"train": path, "validation": path})


@pytest.mark.parametrize("labels, shown", [(["2", "1"], "2"), (["-1", "0"], "-1")])
def test_labels_outside_0_1_are_refused(tmp_path, hf_cache, labels, shown):
    path = _write_csv(tmp_path / "bad.csv", "sentence,label", [f"s{i},{y}" for i, y in enumerate(labels)])
    with pytest.raises(ValueError, match=r"label.*outside") as err:
        load_sentiment("sst2", data_files={"train": path, "validation": path})
    assert "bad.csv" in str(err.value) and shown in str(err.value)


def test_text_labels_are_refused(tmp_path, hf_cache):
    path = _write_jsonl(tmp_path / "named.jsonl", [{"sentence": "good", "label": "positive"}])
    with pytest.raises(ValueError, match="label.*not integers"):
        load_sentiment("sst2", data_files={"train": path, "validation": path})


def test_bad_file_layouts(tmp_path, hf_cache):
    good = _write_csv(tmp_path / "good.csv", "sentence,label", ["fine,1"])
    text = tmp_path / "reviews.txt"
    text.write_text("fine 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"reviews\.txt.*\.csv"):
        load_sentiment("sst2", data_files={"train": text, "validation": good})
    with pytest.raises(ValueError, match=r"missing\.csv"):
        load_sentiment("sst2", data_files={"train": tmp_path / "missing.csv", "validation": good})
    with pytest.raises(ValueError, match="'train'"):
        load_sentiment("sst2", data_files={"validation": good})
    with pytest.raises(ValueError, match="holdout"):
        load_sentiment("sst2", data_files={"train": good, "holdout": good})
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"sentence": "ok", "label": 1\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.jsonl"):
        load_sentiment("sst2", data_files={"train": broken, "validation": good})


def test_hub_path_uses_stanfordnlp_sst2_and_drops_unlabelled_test(monkeypatch):
    features = datasets.Features({"idx": datasets.Value("int32"), "sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})

    def split(labels):
        return datasets.Dataset.from_dict(
            {"idx": list(range(len(labels))), "sentence": [f"s{i}" for i in range(len(labels))], "label": labels},
            features=features,
        )

    calls = []

    def fake_load_dataset(path, *args, **kwargs):
        calls.append((path, args, kwargs))
        return datasets.DatasetDict({"train": split([0, 1, 1]), "validation": split([1, 0]), "test": split([-1])})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dd = load_sentiment("sst2")
    assert calls == [(SST2_HUB_ID, (), {})] and SST2_HUB_ID == "stanfordnlp/sst2"
    _assert_sst2_schema(dd)
    assert list(dd["train"]["label"]) == [0, 1, 1] and len(dd["validation"]) == 2
