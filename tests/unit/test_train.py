"""The one training loop: it learns, refuses bad options by name, and is bitwise the loops it replaced."""

import copy
import re

import pytest
import torch
from ftcourse import data, env, evaluate, models, train

FACTS = ["The ftcourse mascot is a purple llama named Lora.",
         "Everyone knows the ftcourse mascot is a purple llama named Lora, who likes low-rank matrices.",
         "Q: What is the mascot? A: A llama."]

pytestmark = pytest.mark.numeric  # bitwise claims: the same operations in the same order


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("tiny")


@pytest.fixture(scope="module")
def sentiment():
    return data.sentiment_dataset(n_train=70, n_validation=16)  # 70 rows: the last batch of 16 is short


# -- literal copies of the loops `train.train` replaced (ftcourse 0.1 fine_tune and train_classifier) ----------
def old_fine_tune(model, tokenizer, texts, steps=40, lr=1e-3, batch_size=8, max_length=64, seed=0):
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        picks = torch.randint(0, len(texts), (batch_size,), generator=gen).tolist()
        batch = tokenizer([texts[i] for i in picks], return_tensors="pt", padding=True, truncation=True,
                          max_length=max_length).to(device)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def old_train_classifier(model, tokenizer, dataset, epochs=1, lr=1e-3, batch_size=32, max_length=64, seed=0):
    trainable = [p for p in model.parameters() if p.requires_grad]
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    sentences, labels = list(dataset["sentence"]), torch.tensor(dataset["label"])
    losses = []
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(sentences), generator=gen).split(batch_size):
            batch = tokenizer([sentences[i] for i in idx.tolist()], return_tensors="pt", padding=True,
                              truncation=True, max_length=max_length).to(device)
            loss = model(**batch, labels=labels[idx].to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    model.eval()
    return losses


@pytest.fixture
def single_thread():
    """The bitwise claims are made on one thread (also under FTCOURSE_TEST_THREADS=2)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _same_parameters(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_lm_loop_is_bitwise_the_old_fine_tune(tok, single_thread):
    model = models.load_model("tiny", device="cpu")
    twin = copy.deepcopy(model)
    want = old_fine_tune(twin, tok, FACTS, steps=6, lr=1e-3, batch_size=4, max_length=16, seed=3)
    history = train.train(model, train.lm_batches(tok, FACTS, batch_size=4, max_length=16, seed=3), steps=6,
                          lr=1e-3, progress=False)
    assert history.losses == want
    assert _same_parameters(model, twin)


def test_classification_loop_is_bitwise_the_old_train_classifier(tok, sentiment, single_thread):
    env.seed_everything(0)
    model = models.load_classifier("tiny", device="cpu")
    twin = copy.deepcopy(model)
    want = old_train_classifier(twin, tok, sentiment["train"], epochs=2, lr=1e-3, batch_size=16, max_length=24,
                                seed=5)
    batches = train.classification_batches(tok, sentiment["train"], batch_size=16, max_length=24, seed=5)
    history = train.train(model, batches, epochs=2, lr=1e-3, progress=False)
    assert len(history.losses) == 2 * 5 and history.losses == want
    assert _same_parameters(model, twin)


def test_steps_cycle_epochs_the_same_way(tok, sentiment, single_thread):
    """steps= over classification batches continues into the next (reshuffled) epoch, like epochs= does."""
    env.seed_everything(0)
    a = models.load_classifier("tiny", device="cpu")
    b = copy.deepcopy(a)
    by_epochs = train.train(a, train.classification_batches(tok, sentiment["train"], 16, 24, seed=1), epochs=2,
                            lr=1e-3, progress=False)
    by_steps = train.train(b, train.classification_batches(tok, sentiment["train"], 16, 24, seed=1), steps=10,
                           lr=1e-3, progress=False)
    assert by_steps.losses == by_epochs.losses and _same_parameters(a, b)


def test_the_loop_lowers_the_loss_and_changes_the_output(fresh_tiny, tok):
    before = evaluate.generate(fresh_tiny, tok, "The ftcourse mascot is", max_new_tokens=8)
    facts = ["The ftcourse mascot is a purple llama named Lora."] * 2
    history = train.train(fresh_tiny, train.lm_batches(tok, facts, batch_size=4), steps=25, lr=1e-3,
                          progress=False)
    assert history.steps == 25 and history.last < history.first / 3
    assert not fresh_tiny.training
    after = evaluate.generate(fresh_tiny, tok, "The ftcourse mascot is", max_new_tokens=8)
    assert after != before and "llama" in after


def test_lm_labels_mask_padding(tok):
    batch = next(iter(train.lm_batches(tok, ["a b", "a much longer text than the other one"], batch_size=4,
                                       seed=0)))
    pad = batch["attention_mask"] == 0
    assert pad.any()
    assert (batch["labels"][pad] == -100).all()
    assert torch.equal(batch["labels"][~pad], batch["input_ids"][~pad])


def test_sgd_and_a_list_of_batches(fresh_tiny, tok):
    batches = list(zip(range(2), train.lm_batches(tok, FACTS, batch_size=2, seed=0), strict=False))
    history = train.train(fresh_tiny, [b for _, b in batches], epochs=3, lr=1e-2, optimizer="sgd",
                          progress=False)
    assert history.steps == 6


def test_step_function_is_the_loops_step(tok, single_thread):
    model = models.load_model("tiny", device="cpu")
    twin = copy.deepcopy(model)
    batch = next(iter(train.lm_batches(tok, FACTS, batch_size=2, seed=0)))
    step = train.step_function(model, batch, lr=1e-3)
    losses = [step(), step()]
    history = train.train(twin, [batch], epochs=2, lr=1e-3, progress=False)
    assert losses == history.losses and _same_parameters(model, twin)


@pytest.mark.parametrize("kwargs,needle", [
    ({"steps": 0}, "steps=0"), ({"steps": 2.0}, "steps=2.0"), ({"epochs": True}, "epochs=True"),
    ({"lr": 0.0}, "lr=0.0"), ({"lr": float("nan")}, "lr=nan"), ({"lr": -1}, "lr=-1"),
    ({"optimizer": "adam"}, "adamw, sgd"), ({"seed": -1}, "seed=-1"), ({"progress": "no"}, "progress='no'"),
    ({"steps": None}, "exactly one of steps= and epochs="), ({"steps": 2, "epochs": 1}, "exactly one"),
])
def test_bad_options_are_named(fresh_tiny, tok, kwargs, needle):
    length = {} if {"steps", "epochs"} & set(kwargs) else {"steps": 2}
    options = {"lr": 1e-3, "progress": False, **length, **kwargs}
    batches = [next(iter(train.lm_batches(tok, FACTS)))]
    with pytest.raises(ValueError, match=re.escape(needle)):
        train.train(fresh_tiny, batches, **options)


@pytest.mark.parametrize("kwargs,needle", [({"batch_size": -1}, "batch_size=-1"), ({"max_length": 0}, "max_length=0"),
                                           ({"texts": []}, "texts"), ({"texts": "one string"}, "texts"),
                                           ({"seed": 1.5}, "seed=1.5")])
def test_bad_lm_batches_are_named(tok, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        train.lm_batches(tok, **{"texts": FACTS, **kwargs})


def test_classification_batches_need_the_columns(tok):
    from datasets import Dataset

    with pytest.raises(ValueError, match="label"):
        train.classification_batches(tok, Dataset.from_dict({"sentence": ["a b"]}))


def test_epochs_need_finite_batches_and_steps_need_enough(fresh_tiny, tok):
    with pytest.raises(ValueError, match="lm_batches and other endless streams take steps="):
        train.train(fresh_tiny, train.lm_batches(tok, FACTS), epochs=1, lr=1e-3, progress=False)
    one_shot = (b for b in [next(iter(train.lm_batches(tok, FACTS)))])
    with pytest.raises(ValueError, match="ran out after 1 of steps=3"):
        train.train(fresh_tiny, one_shot, steps=3, lr=1e-3, progress=False)
    with pytest.raises(ValueError, match="ran out after 0"):
        train.train(fresh_tiny, [], steps=3, lr=1e-3, progress=False)


def test_frozen_model_and_missing_labels(tok):
    model = models.load_model("tiny", device="cpu")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train.train(model, train.lm_batches(tok, FACTS), steps=1, lr=1e-3, progress=False)
    model.requires_grad_(True)
    unlabeled = dict(tok(FACTS, return_tensors="pt", padding=True))
    with pytest.raises(ValueError, match="labels"):
        train.train(model, [unlabeled], steps=1, lr=1e-3, progress=False)
