"""Checks of lab01, "Tokens, loss and perplexity by hand" (11 points).

Expected answers are hard-coded where they can be: for the embedded model (what smoke mode loads) the
token counts, characters per token, perplexities and greedy tokens are written out below
(tests/grading/test_lab01.py checks them against a recomputation); for any other model (full mode)
they are computed here, on the notebook's own `model` and `tok`. q2's hidden variant needs no model:
logits and ids built by arithmetic, with a loss written out. Inputs that hide no common bug: odd
lengths (7 and 5 positions, so dividing by T instead of T − 1 shows), several sequences (flattening
before shifting shows), texts of different lengths padded on the right (a mask shifted the wrong way,
or a mean over texts, shows). When an answer is off, the check recomputes the usual mistakes (no
shift, padding counted, sum instead of mean, ...) and names the one that matches. Hidden variants:
q2 the arithmetic batch, q3 three other texts (one of three tokens), q4 another prompt and length.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

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
HIDDEN_PROMPT, HIDDEN_N = "Sort the list in place", 5
N_SAMPLE = 50  # chars_per_token is measured on heldout[:50]
EXACT_SHAPE = (2, 5, 11)  # q2's hidden batch: 2 sequences of 5 positions (odd), a vocabulary of 11
EXACT_LOSS = 3.241156984456353  # its next-token loss, written out (float64)
EMBEDDED = {  # the embedded model's answers, written out (smoke mode loads it; tests/grading/test_lab01.py)
    "token_counts": [9, 5, 21, 13, 0],  # count_tokens(text) for TOKEN_TEXTS
    "chars_per_token": 3.690710473649099,  # on heldout[:50]
    "ppl": [8.96007063659354, 134.0904735166181, 596.6059285355154],  # PPL_TEXTS[:1], PPL_TEXTS, HIDDEN_PPL_TEXTS
    "greedy": [302, 1077, 907, 298, 2661],  # greedy_tokens(HIDDEN_PROMPT, HIDDEN_N)
}


def is_embedded(model, tok) -> bool:
    """Whether `model` and `tok` are the embedded model's (the answers in EMBEDDED hold for them)."""
    from ftcourse.models import TINY_DIR

    def here(obj) -> bool:
        path = getattr(obj, "name_or_path", "") or ""
        return bool(path) and Path(path).resolve() == TINY_DIR.resolve()

    return here(model) and here(tok)


def exact_batch():
    """q2's hidden batch, built by arithmetic: logits (2, 5, 11) in fp32 (halves, exact) and ids (2, 5)."""
    import torch

    b, T, V = EXACT_SHAPE
    logits = torch.tensor([[[((3 * i + 5 * t + 7 * v) % V - 5) / 2 for v in range(V)] for t in range(T)]
                           for i in range(b)])  # (batch, positions, vocab)
    ids = torch.tensor([[(2 * i + 3 * t + 1) % V for t in range(T)] for i in range(b)])  # (batch, positions)
    return logits, ids


@functools.cache
def _heldout_sample(n: int | None = N_SAMPLE) -> list[str]:
    """heldout[:n] (all of it for None), loaded here rather than taken from the notebook, whose `heldout` could
    have been changed."""
    from ftcourse import data

    return list(data.general_text("heldout")[:n])


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
    model, tok = _setup(a)
    embedded = is_embedded(model, tok)
    count_tokens = a.function("count_tokens")
    with a.part("count_tokens on five texts", points=1):
        for i, text in enumerate(TOKEN_TEXTS):
            want = EMBEDDED["token_counts"][i] if embedded else len(tok(text, add_special_tokens=False)["input_ids"])
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

        def n_tokens(texts, **kwargs) -> int:
            return sum(len(ids) for ids in tok(list(texts), verbose=False, **kwargs)["input_ids"])

        want = EMBEDDED["chars_per_token"] if embedded else n_chars / n_tokens(sample, add_special_tokens=False)
        if not close(got, want, rel=1e-6, abs=1e-4):  # the wrong versions cost a tokenization each: only on a miss
            with_special = n_chars / n_tokens(sample)
            averaged = sum(len(t) / max(1, n_tokens([t], add_special_tokens=False)) for t in sample) / len(sample)
            everything = _heldout_sample(None)
            all_texts = sum(len(t) for t in everything) / n_tokens(everything, add_special_tokens=False)
            a.expect_close(got, want, rel=1e-6, abs=1e-4, mistakes=[
                (1 / want, "you divided tokens by characters; it is characters per token."),
                (float(math.floor(want)), "integer division: // drops the fraction; use / for characters per "
                                          "token."),
                (with_special, "your token count includes the special tokens; count them with your count_tokens."),
                (averaged, "you averaged the ratio of each text; divide all characters by all tokens instead."),
                (all_texts, f"you used every held-out text; the question asks for the first {N_SAMPLE}, "
                            f"heldout[:{N_SAMPLE}]."),
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
    n, T = ids[:, 1:].numel(), ids.size(1)
    picked_logits = logits[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).mean()
    no_shift = ("no shift: position t scored against token t instead of t+1; drop the last logit position and the "
                "first target (logits[:, :-1] against input_ids[:, 1:]).")
    return right.item(), [
        (F.cross_entropy(logits.reshape(-1, vocab), ids.reshape(-1)).item(), no_shift),
        (F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, :-1].reshape(-1)).item(), no_shift),
        (F.cross_entropy(logits[:, 1:].reshape(-1, vocab), ids[:, 1:].reshape(-1)).item(), no_shift),
        (right.item() * (T - 1) / T, f"you divided by all {T} positions of each sequence; only T − 1 = {T - 1} have "
                                     "a next token: average over those (the mean of the shifted losses)."),
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
        (F.cross_entropy(logits.reshape(-1, vocab)[:-1], ids.reshape(-1)[1:]).item(),
         "you flattened the batch before shifting, so the last position of one sequence was scored against the "
         "first token of the next; shift each sequence (logits[:, :-1], input_ids[:, 1:]), then flatten."),
    ]


@question("q2", points=3)
def q2(a: Answers) -> None:
    """The next-token loss by hand, equal to the model's own loss."""
    import torch

    model, tok = _setup(a)
    next_token_loss = a.function("next_token_loss")
    with a.part("one sentence: equals model(..., labels=ids).loss", points=1):
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
    with a.part(f"a batch of shape {EXACT_SHAPE} built by arithmetic", points=1, hidden=True):
        logits, ids = exact_batch()
        got = a.number(a.call(next_token_loss, logits.clone(), ids.clone()), "next_token_loss(...)")
        _, variants = _loss_variants(logits, ids)
        a.expect_close(got, EXACT_LOSS, rel=1e-5, abs=1e-5, mistakes=variants,
                       hint="average -log softmax(logits)[b, t, ids[b, t+1]] over every sequence b and position t.",
                       message=f"your loss is {got:.6f}, expected {EXACT_LOSS:.6f}.")


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
    wrong_end = mask[:, :-1].bool()  # shifted the other way: keeps a padded text's last position (target: padding)
    return right, [
        (math.exp(nll.mean().item()), "padding counted: positions whose target is padding must not count; mask "
                                      "them with attention_mask[:, 1:]."),
        (sum(per_text) / len(per_text),
         "you averaged each text's perplexity; average the loss over all real tokens, then exp once."),
        (math.log(right), "that is the loss (log-perplexity); perplexity is exp(loss)."),
        (math.exp(F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")[mask.bool()].mean().item()),
         "no shift: the logits at position t predict token t+1."),
        (math.exp(nll[wrong_end].mean().item()),
         "the mask is shifted the wrong way: attention_mask[:, :-1] keeps the last real position of a padded text, "
         "whose target is padding. Keep the positions whose target is real: attention_mask[:, 1:]."),
        (math.exp(nll[keep].sum().item() / mask.sum().item()),
         "you divided by the number of real tokens; the first token of each text has no prediction, so divide by "
         "the number of real targets, attention_mask[:, 1:].sum()."),
        (math.exp(sum(nll[i][keep[i]].mean().item() for i in range(len(texts))) / len(texts)),
         "you averaged each text's loss, so a short text weighs as much as a long one; average over all real "
         "tokens together, then exp."),
    ]


@question("q3", points=3)
def q3(a: Answers) -> None:
    """Perplexity of a padded batch of texts, padding masked."""
    model, tok = _setup(a)
    batch_perplexity = a.function("batch_perplexity")
    padded_hint = ("pad the batch, compute every position's loss, keep only positions whose target is a real token, "
                   "average, then exp.")
    embedded = is_embedded(model, tok)

    def reference(texts, which: int) -> tuple[float, list]:
        right, variants = _ppl_reference(model, tok, texts)
        return (EMBEDDED["ppl"][which] if embedded else right), variants

    with a.part("one text (no padding)", points=1):
        want, variants = reference(PPL_TEXTS[:1], 0)
        got = a.number(a.call(batch_perplexity, PPL_TEXTS[:1]), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants,
                       hint="exp of the mean next-token loss of the text.",
                       message=f"batch_perplexity on one text gives {got:.3f}, expected {want:.3f}.")
    with a.part("five texts of different lengths, padded", points=1):
        want, variants = reference(PPL_TEXTS, 1)
        got = a.number(a.call(batch_perplexity, list(PPL_TEXTS)), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants, hint=padded_hint,
                       message=f"batch_perplexity on five texts gives {got:.3f}, expected {want:.3f}.")
    with a.part(f"{len(HIDDEN_PPL_TEXTS)} other texts, one very short, padded", points=1, hidden=True):
        want, variants = reference(HIDDEN_PPL_TEXTS, 2)
        got = a.number(a.call(batch_perplexity, list(HIDDEN_PPL_TEXTS)), "batch_perplexity([...])")
        a.expect_close(got, want, rel=1e-3, abs=1e-4, mistakes=variants, hint=padded_hint,
                       message=f"batch_perplexity on {HIDDEN_PPL_TEXTS} gives {got:.3f}, expected {want:.3f}.")


def _greedy_reference(model, tok, prompt: str, n: int, **kwargs) -> list[int]:
    """The n ids greedy decoding appends to `prompt` (tokenized with `kwargs`, e.g. add_special_tokens=False)."""
    import torch

    ids = tok(prompt, return_tensors="pt", **kwargs)["input_ids"].to(model.device)
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


def _greedy_hint(model, tok, prompt: str, got: list[int], want: list[int], n: int) -> str:
    """Why greedy_tokens(prompt, n) returned `got` instead of `want`."""
    if len(got) == len(tok(prompt)["input_ids"]) + n:
        return "you returned the prompt's ids too; return only the new ones."
    if len(got) != n:
        return f"return exactly n={n} new ids, not {len(got)}: the loop runs n times."
    if got == _greedy_reference(model, tok, prompt, n, add_special_tokens=False):
        return ("the model reads the prompt with its <s> token: tokenize as tok(prompt, return_tensors='pt'), "
                "without add_special_tokens=False.")
    if got[0] == want[0]:
        return ("the first token is right but later ones are not: append each chosen id to the input before "
                "predicting the next one, and take the plain argmax (no sampling, no repetition penalty).")
    return "always take the argmax (no sampling) of the logits at the LAST position: logits[0, -1].argmax()."


@question("q4", points=3)
def q4(a: Answers) -> None:
    """Greedy decoding by hand: argmax, append, repeat."""
    model, tok = _setup(a)
    greedy_tokens = a.function("greedy_tokens")
    with a.part("the first token is the most likely next token", points=1):
        want = _greedy_reference(model, tok, PROMPTS[0], 1)
        got = _as_ids(a, a.call(greedy_tokens, PROMPTS[0], 1), 1)
        if got != want:
            a.fail(f"greedy_tokens({PROMPTS[0]!r}, 1) returned {got}, expected {want}.",
                   hint=_greedy_hint(model, tok, PROMPTS[0], got, want, 1))
    with a.part("8 tokens for two prompts", points=1):
        for prompt in PROMPTS:
            want = _greedy_reference(model, tok, prompt, 8)
            got = _as_ids(a, a.call(greedy_tokens, prompt, 8), 8)
            if got != want:
                a.fail(f"greedy_tokens({prompt!r}, 8) returned {got}, expected {want}.",
                       hint=_greedy_hint(model, tok, prompt, got, want, 8))
    with a.part(f"{HIDDEN_N} tokens for another prompt", points=1, hidden=True):
        want = (EMBEDDED["greedy"] if is_embedded(model, tok) else
                _greedy_reference(model, tok, HIDDEN_PROMPT, HIDDEN_N))
        got = _as_ids(a, a.call(greedy_tokens, HIDDEN_PROMPT, HIDDEN_N), HIDDEN_N)
        if got != want:
            a.fail(f"greedy_tokens({HIDDEN_PROMPT!r}, {HIDDEN_N}) returned {got}, expected {want}.",
                   hint=_greedy_hint(model, tok, HIDDEN_PROMPT, got, want, HIDDEN_N))
