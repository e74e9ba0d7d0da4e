"""Checks of lab01, "Tokens, loss and perplexity by hand" (10 points).

Every check compares with a reference computed here, on the notebook's own `model` and `tok`,
with a tolerance; when an answer is off, it recomputes the usual mistakes (no shift, padding
counted, sum instead of mean, ...) and names the one that matches. q3 has a hidden variant:
other texts, one of them three tokens long, so that padding weighs more.
"""

from __future__ import annotations

import functools
import math

from ftcourse.grading.answers import Answers, close, question

TOKEN_TEXTS = [
    "Return the number of items in a container.",
    " unhashable dictionary keys",
    "naïve café ☕ déjà vu",
    "x = [i ** 2 for i in range(10)]",
    "",
]
PPL_TEXTS = [
    "Return the number of items in a container.",
    "Raise a KeyError if the key is not found.",
    "The file is closed when the block ends, even if an exception was raised inside it, so you never "
    "have to call close yourself.",
    "Hello.",
    "If the optional argument is given, it is used as the default value for every key that is missing "
    "from the mapping, and the result is a new dictionary.",
]
HIDDEN_PPL_TEXTS = [  # q3's hidden variant: other lengths, a text of three tokens (<s> included) beside long ones
    "Yes",
    "A context manager closes the file for you, even when the code inside the block raises.",
    "Sort the list in place and return None.",
]
PROMPTS = ["If the file does not exist", "The function returns"]
N_SAMPLE = 50  # chars_per_token is measured on heldout[:50]


@functools.cache
def _heldout_sample() -> list[str]:
    """heldout[:50], loaded here rather than taken from the notebook, whose `heldout` could have been changed."""
    from ftcourse import data

    return data.general_text("heldout")[:N_SAMPLE]


def _setup(a: Answers):
    """The notebook's model and tokenizer, defined by the locked setup cell."""
    hint = "run the cells at the top of the notebook (setup and imports) first."
    for name in ("model", "tok"):
        if name not in a.ns:
            a.fail(f"`{name}` is not defined.", hint=hint, stop=True)
    return a.ns["model"], a.ns["tok"]


@question("q1", points=2)
def q1(a: Answers) -> None:
    """Count tokens, and measure characters per token on held-out text."""
    _, tok = _setup(a)
    count_tokens = a.function("count_tokens")
    with a.part("count_tokens on five texts", points=1):
        for text in TOKEN_TEXTS:
            want = len(tok(text, add_special_tokens=False)["input_ids"])
            got = a.call(count_tokens, text)
            if isinstance(got, bool) or not isinstance(got, int):
                a.fail(f"count_tokens({text!r}) returned {got!r}, a {type(got).__name__}; return an int.",
                       hint="len(...) of the list of token ids.")
            a.expect_equal(got, want, mistakes=[  # pairs: for "" several of these are 0 (first match wins)
                (len(tok(text)["input_ids"]), "you counted the special token(s) the tokenizer adds (<s>); pass "
                                              "add_special_tokens=False, or use tok.tokenize(text)."),
                (len(text), "that is the number of characters; a token is usually several characters."),
                (len(text.split()), "that is the number of words; tokens are pieces of words, and spaces belong "
                                    "to them."),
                (len(text.encode("utf-8")), "that is the number of UTF-8 bytes; byte-level BPE merges bytes into "
                                            "larger tokens."),
            ], hint="tokenize the text with `tok` and count the ids, without special tokens.",
                message=f"count_tokens({text!r}) returned {got}, but the model reads {want} token(s).")
    with a.part(f"chars_per_token on heldout[:{N_SAMPLE}]", points=1):
        got = a.number(a.value("chars_per_token"), "chars_per_token")
        sample = _heldout_sample()
        n_chars = sum(len(t) for t in sample)
        n_tokens = sum(len(ids) for ids in tok(sample, add_special_tokens=False, verbose=False)["input_ids"])
        want = n_chars / n_tokens
        if not close(got, want, rel=1e-6, abs=1e-4):  # the wrong versions cost a tokenization each: only on a miss
            with_special = n_chars / sum(len(ids) for ids in tok(sample, verbose=False)["input_ids"])
            averaged = sum(len(t) / max(1, len(tok(t, add_special_tokens=False, verbose=False)["input_ids"]))
                           for t in sample) / len(sample)
            a.expect_close(got, want, rel=1e-6, abs=1e-4, mistakes=[
                (1 / want, "you divided tokens by characters; it is characters per token."),
                (with_special, "your token count includes the special tokens; count them with your count_tokens."),
                (averaged, "you averaged the ratio of each text; divide all characters by all tokens instead."),
            ], hint=f"total characters / total tokens over heldout[:{N_SAMPLE}], the first {N_SAMPLE} texts.",
                message=f"chars_per_token is {got:.4f}, expected {want:.4f}.")


def _loss_variants(logits, ids) -> tuple[float, list[tuple[float, str]]]:
    """The loss and the usual wrong versions of it, (value, what the learner probably did), for diagnosis.

    logits: (batch, positions, vocab); ids: (batch, positions).
    """
    import torch
    import torch.nn.functional as F

    vocab = logits.size(-1)
    right = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    n = ids[:, 1:].numel()
    picked_logits = logits[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).mean()
    return right.item(), [
        (F.cross_entropy(logits.reshape(-1, vocab), ids.reshape(-1)).item(),
         "no shift: position t scored against token t instead of t+1; drop the last logit position and the "
         "first target (logits[:, :-1] against input_ids[:, 1:])."),
        (F.cross_entropy(logits[:, 1:].reshape(-1, vocab), ids[:, :-1].reshape(-1)).item(),
         "shifted the wrong way: the logits at position t predict token t+1, so use logits[:, :-1] with "
         "input_ids[:, 1:]."),
        (right.item() * n, "that is the sum over positions; take the mean."),
        (-right.item(), "that is the loss with the wrong sign; the loss is the mean of -log p."),
        (-picked_logits.item(),
         "you picked raw logits, not log-probabilities; apply torch.log_softmax over the vocabulary first."),
        (right.item() / math.log(2), "that is in bits (log base 2); use the natural log (torch.log_softmax)."),
        (-torch.log_softmax(logits[:, :-1], dim=1).gather(-1, ids[:, 1:].unsqueeze(-1)).mean().item(),
         "you took the softmax over the wrong dimension; normalise over the vocabulary (dim=-1)."),
    ]


@question("q2", points=3)
def q2(a: Answers) -> None:
    """The next-token loss by hand, equal to the model's own loss."""
    import torch

    model, tok = _setup(a)
    next_token_loss = a.function("next_token_loss")
    with a.part("one sentence: equals model(..., labels=ids).loss", points=2):
        batch = tok("Return the number of items in a container.", return_tensors="pt").to(model.device)
        with torch.no_grad():
            out = model(**batch, labels=batch["input_ids"])
        logits, ids = out.logits.float(), batch["input_ids"]
        got = a.number(a.call(next_token_loss, logits.clone(), ids.clone()), "next_token_loss(...)")
        want, variants = _loss_variants(logits, ids)
        a.expect_close(got, out.loss.item(), rel=1e-4, abs=1e-4, mistakes=variants,
                       hint="average -log softmax(logits)[t, ids[t+1]] over positions t.",
                       message=f"your loss is {got:.4f}, the model's is {want:.4f} "
                               f"({abs(got - want):.3g} too {'high' if got > want else 'low'}).")
    with a.part("a batch of 3 sequences of random logits", points=1):
        gen = torch.Generator().manual_seed(1)
        logits = torch.randn(3, 7, 50, generator=gen) * 3
        ids = torch.randint(0, 50, (3, 7), generator=gen)
        got = a.number(a.call(next_token_loss, logits.clone(), ids.clone()), "next_token_loss(...)")
        want, variants = _loss_variants(logits, ids)
        first_only = (_loss_variants(logits[:1], ids[:1])[0],
                      "you used only the first sequence of the batch; average over every sequence and position.")
        a.expect_close(got, want, rel=1e-4, abs=1e-4, mistakes=[*variants, first_only],
                       hint="index with the batch dimension too, e.g. gather(-1, ...) or flatten to "
                            "(batch*positions, vocab) for cross-entropy.",
                       message=f"on a batch of shape (3, 7, 50) your loss is {got:.4f}, expected {want:.4f}.")


def _ppl_reference(model, tok, texts) -> tuple[float, list[tuple[float, str]]]:
    """Token-weighted perplexity with padding masked, and wrong versions of it (value, why) for diagnosis."""
    import torch
    import torch.nn.functional as F

    batch = tok(list(texts), return_tensors="pt", padding=True).to(model.device)
    with torch.no_grad():
        logits = model(**batch).logits.float()
    ids, mask = batch["input_ids"], batch["attention_mask"]  # (texts, positions), padded
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")  # (texts, positions - 1)
    keep = mask[:, 1:].bool()
    right = math.exp(nll[keep].mean().item())
    per_text = [math.exp(nll[i][keep[i]].mean().item()) for i in range(len(texts))]
    return right, [
        (math.exp(nll.mean().item()), "padding counted: positions whose target is padding must not count; mask "
                                      "them with attention_mask[:, 1:]."),
        (sum(per_text) / len(per_text),
         "you averaged each text's perplexity; average the loss over all real tokens, then exp once."),
        (math.log(right), "that is the loss (log-perplexity); perplexity is exp(loss)."),
        (math.exp(F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")[mask.bool()].mean().item()),
         "no shift: the logits at position t predict token t+1."),
    ]


@question("q3", points=3)
def q3(a: Answers) -> None:
    """Perplexity of a padded batch of texts, padding masked."""
    model, tok = _setup(a)
    batch_perplexity = a.function("batch_perplexity")
    padded_hint = ("pad the batch, compute every position's loss, keep only positions whose target is a real token, "
                   "average, then exp.")
    with a.part("one text (no padding)", points=1):
        want, variants = _ppl_reference(model, tok, PPL_TEXTS[:1])
        got = a.number(a.call(batch_perplexity, PPL_TEXTS[:1]), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants,
                       hint="exp of the mean next-token loss of the text.",
                       message=f"batch_perplexity on one text gives {got:.3f}, expected {want:.3f}.")
    with a.part("five texts of different lengths, padded", points=1):
        want, variants = _ppl_reference(model, tok, PPL_TEXTS)
        got = a.number(a.call(batch_perplexity, list(PPL_TEXTS)), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants, hint=padded_hint,
                       message=f"batch_perplexity on five texts gives {got:.3f}, expected {want:.3f}.")
    with a.part(f"{len(HIDDEN_PPL_TEXTS)} other texts, one very short, padded", points=1, hidden=True):
        want, variants = _ppl_reference(model, tok, HIDDEN_PPL_TEXTS)
        got = a.number(a.call(batch_perplexity, list(HIDDEN_PPL_TEXTS)), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants, hint=padded_hint,
                       message=f"batch_perplexity on {HIDDEN_PPL_TEXTS} gives {got:.3f}, expected {want:.3f}.")


def _greedy_reference(model, tok, prompt: str, n: int) -> list[int]:
    import torch

    ids = tok(prompt, return_tensors="pt")["input_ids"].to(model.device)
    new = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(input_ids=ids).logits[0, -1].argmax())
            new.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]], device=ids.device)], dim=1)
    return new


def _as_ids(a: Answers, got, n: int) -> list[int]:
    if isinstance(got, str):
        a.fail(f"greedy_tokens returned text ({got[:40]!r}); return the list of new token ids.",
               hint="tok.decode(ids) turns ids into text if you want to look at them.")
    if hasattr(got, "tolist"):
        got = got.tolist()
    if isinstance(got, list | tuple) and len(got) == 1 and isinstance(got[0], list | tuple):
        got = got[0]  # a batch of one
    if not isinstance(got, list | tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in got):
        a.fail(f"greedy_tokens should return a list of {n} ints, got {type(got).__name__}.",
               hint="collect each next id with int(...) or .item() in a list.")
    return list(got)


@question("q4", points=2)
def q4(a: Answers) -> None:
    """Greedy decoding by hand: argmax, append, repeat."""
    model, tok = _setup(a)
    greedy_tokens = a.function("greedy_tokens")
    with a.part("the first token is the most likely next token", points=1):
        want = _greedy_reference(model, tok, PROMPTS[0], 1)
        got = _as_ids(a, a.call(greedy_tokens, PROMPTS[0], 1), 1)
        if got != want:
            prompt_len = len(tok(PROMPTS[0])["input_ids"])
            hint = ("you returned the prompt's ids too; return only the new ones." if len(got) == prompt_len + 1
                    else "take the argmax of the logits at the LAST position: logits[0, -1].argmax().")
            a.fail(f"greedy_tokens({PROMPTS[0]!r}, 1) returned {got}, expected {want}.", hint=hint)
    with a.part("8 tokens for two prompts", points=1):
        for prompt in PROMPTS:
            want = _greedy_reference(model, tok, prompt, 8)
            got = _as_ids(a, a.call(greedy_tokens, prompt, 8), 8)
            if got != want:
                if len(got) != 8:
                    hint = f"return exactly n={8} new ids, not {len(got)}."
                elif got[0] == want[0]:
                    hint = ("the first token is right but later ones are not: append each chosen id to the input "
                            "before predicting the next one, and take the plain argmax (no sampling, no repetition "
                            "penalty).")
                else:
                    hint = "always take the argmax (no sampling) of the logits at the last position."
                a.fail(f"greedy_tokens({prompt!r}, 8) returned {got}, expected {want}.", hint=hint)
