"""lab01's checks, in process: plausible wrong answers, each written as a learner would write the cell, lose points
and get the hint of the check's known-mistakes table; the answers the checks hard-code for the embedded model equal
a recomputation. (Full marks for the solution and zero for the stubs: test_grade_lab01.py grades both notebooks.)"""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from ftcourse.grading import Lab, checks
from ftcourse.grading.lab import feedback
from lab_fixtures import WrongAnswer, assert_wrong_answer, run_cells

ROOT = Path(__file__).resolve().parents[2]
lab01 = checks.module("lab01")


@pytest.fixture(scope="module")
def solved():
    return run_cells(ROOT / "solutions" / "lab01_tokens.ipynb")


WRONG = [
    # q1: counting tokens
    WrongAnswer("the <s> token counted", "q1", """
        def count_tokens(text):
            return len(tok(text)["input_ids"])
        """, "add_special_tokens=False"),
    WrongAnswer("words, not tokens", "q1", """
        def count_tokens(text):
            return len(text.split())
        """, "number of words"),
    WrongAnswer("tokens per character", "q1", """
        sample = heldout[:50]
        chars_per_token = sum(count_tokens(t) for t in sample) / sum(len(t) for t in sample)
        """, "you divided tokens by characters"),
    WrongAnswer("integer division", "q1", """
        sample = heldout[:50]
        chars_per_token = sum(len(t) for t in sample) // sum(count_tokens(t) for t in sample)
        """, "integer division: // drops the fraction"),
    WrongAnswer("the mean of each text's ratio", "q1", """
        sample = heldout[:50]
        chars_per_token = sum(len(t) / count_tokens(t) for t in sample) / len(sample)
        """, "you averaged the ratio of each text"),
    WrongAnswer("every held-out text", "q1", """
        chars_per_token = sum(len(t) for t in heldout) / sum(count_tokens(t) for t in heldout)
        """, "you used every held-out text"),
    # q2: the next-token loss
    WrongAnswer("no shift", "q2", """
        def next_token_loss(logits, input_ids):
            return -torch.log_softmax(logits, dim=-1).gather(-1, input_ids.unsqueeze(-1)).mean()
        """, "no shift"),
    WrongAnswer("the sum", "q2", """
        def next_token_loss(logits, input_ids):
            return -torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).sum()
        """, "take the mean"),
    WrongAnswer("raw logits", "q2", """
        def next_token_loss(logits, input_ids):
            return -logits[:, :-1].gather(-1, input_ids[:, 1:].unsqueeze(-1)).mean()
        """, "log_softmax"),
    WrongAnswer("divided by T, not T - 1", "q2", """
        def next_token_loss(logits, input_ids):
            picked = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1))
            return -picked.sum() / input_ids.numel()
        """, "only T − 1"),
    WrongAnswer("flattened, then shifted", "q2", """
        def next_token_loss(logits, input_ids):
            flat = torch.log_softmax(logits, dim=-1).reshape(-1, logits.size(-1))
            ids = input_ids.reshape(-1)
            return -flat[:-1].gather(-1, ids[1:].unsqueeze(-1)).mean()
        """, "you flattened the batch before shifting"),
    WrongAnswer("bits", "q2", """
        def next_token_loss(logits, input_ids):
            log_probs = torch.log_softmax(logits[:, :-1], dim=-1) / math.log(2)
            return -log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).mean()
        """, "that is in bits"),
    # q3: perplexity of a padded batch
    WrongAnswer("padding counted", "q3", """
        def batch_perplexity(texts):
            batch = tok(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                logits = model(**batch).logits
            return next_token_loss(logits, batch["input_ids"]).exp().item()
        """, "padding counted"),
    WrongAnswer("the loss, not its exp", "q3", """
        def batch_perplexity(texts):
            batch = tok(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                logits = model(**batch).logits
            nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1))
            return nll.squeeze(-1)[batch["attention_mask"][:, 1:].bool()].mean().item()
        """, "perplexity is exp(loss)"),
    WrongAnswer("the mask shifted the wrong way", "q3", """
        def batch_perplexity(texts):
            batch = tok(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                logits = model(**batch).logits
            nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1))
            return nll.squeeze(-1)[batch["attention_mask"][:, :-1].bool()].mean().exp().item()
        """, "attention_mask[:, :-1] keeps the last real position"),
    WrongAnswer("divided by the real tokens", "q3", """
        def batch_perplexity(texts):
            batch = tok(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                logits = model(**batch).logits
            nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1))
            mask = batch["attention_mask"]
            return (nll.squeeze(-1) * mask[:, 1:]).sum().div(mask.sum()).exp().item()
        """, "divide by the number of real targets"),
    WrongAnswer("the mean of each text's loss", "q3", """
        def batch_perplexity(texts):
            batch = tok(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                logits = model(**batch).logits
            nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1))
            mask = batch["attention_mask"][:, 1:]
            per_text = (nll.squeeze(-1) * mask).sum(dim=1) / mask.sum(dim=1)
            return per_text.mean().exp().item()
        """, "you averaged each text's loss"),
    # q4: greedy decoding
    WrongAnswer("the prompt returned too", "q4", """
        def greedy_tokens(prompt, n):
            ids = tok(prompt, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                for _ in range(n):
                    ids = torch.cat([ids, model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            return ids[0].tolist()
        """, "you returned the prompt's ids too"),
    WrongAnswer("text, not ids", "q4", """
        def greedy_tokens(prompt, n):
            ids = tok(prompt, return_tensors="pt")["input_ids"]
            out = model.generate(ids, max_new_tokens=n, do_sample=False)
            return tok.decode(out[0, ids.shape[1]:])
        """, "return the list of new token ids"),
    WrongAnswer("the first token n times", "q4", """
        def greedy_tokens(prompt, n):
            ids = tok(prompt, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                first = int(model(input_ids=ids).logits[0, -1].argmax())
            return [first] * n
        """, "append each chosen id"),
    WrongAnswer("no <s>", "q4", """
        def greedy_tokens(prompt, n):
            ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            new = []
            with torch.no_grad():
                for _ in range(n):
                    new.append(int(model(input_ids=ids).logits[0, -1].argmax()))
                    ids = torch.cat([ids, torch.tensor([[new[-1]]])], dim=1)
            return new
        """, "the model reads the prompt with its <s> token"),
    WrongAnswer("one token short", "q4", """
        def greedy_tokens(prompt, n):
            ids = tok(prompt, return_tensors="pt")["input_ids"]
            new = []
            with torch.no_grad():
                for _ in range(n - 1):
                    new.append(int(model(input_ids=ids).logits[0, -1].argmax()))
                    ids = torch.cat([ids, torch.tensor([[new[-1]]])], dim=1)
            return new
        """, "return exactly n="),
]


def test_six_wrong_answers_or_more_per_lab_and_each_question():
    assert len(WRONG) >= 6 and {w.qid for w in WRONG} == set(checks.load("lab01"))


@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_a_wrong_answer_loses_points_with_its_hint(solved, wrong):
    assert_wrong_answer("lab01", solved, wrong, math=math)


def test_padding_counted_keeps_the_unpadded_part_and_the_hidden_part_stays_hidden(solved):
    result = assert_wrong_answer("lab01", solved, next(w for w in WRONG if w.name == "padding counted"))
    assert result.points == 1, "one text has no padding, so that part still earns its point"
    assert "(hidden test '3 other texts, one very short, padded')" in result.message
    shown = feedback(result)
    assert "✘ a hidden test (0/1)" in shown and "Yes" not in shown


def test_the_hidden_batch_catches_a_loss_fitted_to_the_visible_shapes(solved):
    right = solved["next_token_loss"]

    def fitted(logits, input_ids):  # right on (1, T) and (3, 7) batches, wrong on any other
        return right(logits, input_ids) if logits.shape[0] in (1, 3) else torch.tensor(0.0)

    result = Lab("lab01", namespace={**solved, "next_token_loss": fitted}).run("q2")
    assert (result.points, [p.earned for p in result.parts]) == (2, [1, 1, 0])
    assert f"(hidden test 'a batch of shape {lab01.EXACT_SHAPE} built by arithmetic')" in result.message


def test_the_solution_passes_the_hidden_parts(solved):
    for qid in ("q1", "q2", "q3", "q4"):
        result = Lab("lab01", namespace=dict(solved)).run(qid)
        assert (result.status, result.points) == ("pass", result.max), result.message


def test_the_written_out_answers_equal_a_recomputation(solved):
    model, tok = solved["model"], solved["tok"]
    assert lab01.is_embedded(model, tok), "smoke mode loads the embedded model"
    counts = [len(tok(text, add_special_tokens=False)["input_ids"]) for text in lab01.TOKEN_TEXTS]
    assert counts == lab01.EMBEDDED["token_counts"]
    sample = lab01._heldout_sample()
    ratio = sum(map(len, sample)) / sum(len(ids) for ids in tok(sample, add_special_tokens=False,
                                                                verbose=False)["input_ids"])
    assert math.isclose(ratio, lab01.EMBEDDED["chars_per_token"], rel_tol=1e-9)
    ppl = [lab01._ppl_reference(model, tok, texts)[0]
           for texts in (lab01.PPL_TEXTS[:1], lab01.PPL_TEXTS, lab01.HIDDEN_PPL_TEXTS)]
    assert all(math.isclose(p, q, rel_tol=1e-4) for p, q in zip(ppl, lab01.EMBEDDED["ppl"])), ppl
    assert lab01._greedy_reference(model, tok, lab01.HIDDEN_PROMPT, lab01.HIDDEN_N) == lab01.EMBEDDED["greedy"]
    logits, ids = lab01.exact_batch()
    vocab = logits.size(-1)
    loss = F.cross_entropy(logits[:, :-1].double().reshape(-1, vocab), ids[:, 1:].reshape(-1)).item()
    assert math.isclose(loss, lab01.EXACT_LOSS, rel_tol=1e-12)
    assert logits.shape == lab01.EXACT_SHAPE and lab01.EXACT_SHAPE[1] % 2 == 1, "an odd length"
