"""evaluate: next-token loss, perplexity and generation (the training loop is tested in test_train.py)."""

import math

import pytest
import torch
from ftcourse import evaluate
from ftcourse.numerics import assert_close, model_depth

pytestmark = pytest.mark.numeric


def log_of(value: float) -> torch.Tensor:
    return torch.tensor(math.log(value), dtype=torch.float64)


def test_next_token_loss_matches_the_models_loss(tiny):
    model, tok = tiny
    batch = tok("Return the number of items in a container.", return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, labels=batch["input_ids"])
    by_hand, count = evaluate.next_token_loss(out.logits, batch["input_ids"])
    assert count == batch["input_ids"].shape[1] - 1
    assert_close(by_hand, out.loss, depth=4, what="loss by hand")  # log-softmax and a mean, summed in another order


def test_perplexity_is_exp_of_loss_for_one_text(tiny):
    model, tok = tiny
    text = "Return a new list containing all items from the iterable in ascending order."
    batch = tok(text, return_tensors="pt")
    with torch.no_grad():
        loss = model(**batch, labels=batch["input_ids"]).loss.item()
    assert_close(log_of(evaluate.perplexity(model, tok, [text])), torch.tensor(loss, dtype=torch.float64),
                 dtype=torch.float32, depth=4, what="log perplexity vs loss")


def test_padding_does_not_change_perplexity(tiny):
    model, tok = tiny
    texts = ["A short one.", "A much longer text that needs padding of the other one in the same batch, surely."]
    together = evaluate.perplexity(model, tok, texts, batch_size=2)
    apart = evaluate.perplexity(model, tok, texts, batch_size=1)
    # other batch shapes, other kernels: the whole forward pass may round differently
    depth = model_depth(model.config.num_hidden_layers)
    assert_close(log_of(together), log_of(apart), dtype=torch.float32, depth=depth, what="log perplexity, padded")


def test_perplexity_rejects_empty_input(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="at least one text"):
        evaluate.perplexity(model, tok, [])


def test_greedy_generation_is_repeatable(tiny):
    model, tok = tiny
    a = evaluate.generate(model, tok, "The", max_new_tokens=15)
    assert a == evaluate.generate(model, tok, "The", max_new_tokens=15)
    assert len(a.strip()) > 0
