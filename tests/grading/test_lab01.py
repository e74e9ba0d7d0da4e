"""lab01's checks, in process: common mistakes get the right hint (full marks for the solution and zero for the
stubs are checked by test_grade_lab01.py, which grades both notebooks)."""

from pathlib import Path

import pytest
import torch
from ftcourse.grading import Lab
from ftcourse.grading.lab import feedback
from lab_fixtures import run_cells

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def solved():
    return run_cells(ROOT / "solutions" / "lab01_tokens.ipynb")


@pytest.fixture
def lab(solved):
    return Lab("lab01", namespace=dict(solved))


def mistake(lab, qid: str, **answers) -> str:
    lab._namespace.update(answers)
    result = lab.run(qid)
    assert result.status != "pass" and result.points < result.max
    return result.message


def test_counting_the_bos_token(lab):
    tok = lab._namespace["tok"]
    message = mistake(lab, "q1", count_tokens=lambda text: len(tok(text)["input_ids"]))
    assert "add_special_tokens=False" in message


def test_counting_words(lab):
    assert "number of words" in mistake(lab, "q1", count_tokens=lambda text: len(text.split()))


def test_chars_per_token_upside_down(lab):
    right = lab._namespace["chars_per_token"]
    assert "you divided tokens by characters" in mistake(lab, "q1", chars_per_token=1 / right)


def unshifted(logits, input_ids):
    return -torch.log_softmax(logits, dim=-1).gather(-1, input_ids.unsqueeze(-1)).mean()


def summed(logits, input_ids):
    return -torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).sum()


def raw_logits(logits, input_ids):
    return -logits[:, :-1].gather(-1, input_ids[:, 1:].unsqueeze(-1)).mean()


@pytest.mark.parametrize(("wrong", "hint"), [(unshifted, "no shift"), (summed, "take the mean"),
                                             (raw_logits, "log_softmax")])
def test_loss_mistakes(lab, wrong, hint):
    message = mistake(lab, "q2", next_token_loss=wrong)
    assert hint in message and ("too high" in message or "too low" in message)


def test_padding_counted(lab):
    ns = lab._namespace

    def with_padding(texts):
        batch = ns["tok"](texts, return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = ns["model"](**batch).logits
        return ns["next_token_loss"](logits, batch["input_ids"]).exp().item()

    result_message = mistake(lab, "q3", batch_perplexity=with_padding)
    assert "padding counted" in result_message
    assert lab.results["q3"].points == 1, "one text has no padding, so that part still earns its point"
    assert "(hidden test '3 other texts, one very short, padded')" in result_message
    assert "✘ a hidden test (0/1)" in feedback(lab.results["q3"]) and "Yes" not in feedback(lab.results["q3"])


def test_loss_instead_of_perplexity(lab):
    ns = lab._namespace
    right = ns["batch_perplexity"]
    assert "perplexity is exp(loss)" in mistake(lab, "q3", batch_perplexity=lambda texts: float(
        torch.tensor(right(texts)).log()))


def test_greedy_mistakes(lab):
    ns = lab._namespace
    right = ns["greedy_tokens"]
    prompt_ids = lambda prompt: ns["tok"](prompt)["input_ids"]  # noqa: E731
    assert "prompt's ids too" in mistake(lab, "q4", greedy_tokens=lambda p, n: prompt_ids(p) + right(p, n))
    assert "return the list of new token ids" in mistake(lab, "q4", greedy_tokens=lambda p, n: "some text")
    assert "append each chosen id" in mistake(lab, "q4", greedy_tokens=lambda p, n: right(p, 1) * n)
