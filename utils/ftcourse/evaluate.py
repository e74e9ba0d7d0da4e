"""Measuring a language model: next-token loss, perplexity and greedy generation.

Perplexity is exp(mean next-token cross-entropy): the number of equally likely tokens the
model is, on average, choosing between. Lesson 01 computes it by hand and checks it here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
    """Mean cross-entropy of predicting token t+1 from positions ≤ t (padding ignored).

    Returns (mean loss, number of predicted tokens). Position t's logits score token t+1,
    so logits drop their last position and targets drop their first.
    """
    targets = input_ids[:, 1:].clone()
    if attention_mask is not None:
        targets[attention_mask[:, 1:] == 0] = -100
    losses = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = int((targets != -100).sum())
    if count == 0:
        raise ValueError("no tokens to predict: every sequence needs at least two non-padding tokens")
    return losses / count, count


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], max_length: int = 256, batch_size: int = 8) -> float:
    """Token-weighted perplexity of `model` on `texts`, each cut to max_length tokens."""
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise ValueError("perplexity needs at least one text, got an empty list")
    if max_length < 2 or batch_size < 1:
        raise ValueError(f"need max_length >= 2 and batch_size >= 1, got {max_length} and {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]), return_tensors="pt", padding=True,
            truncation=True, max_length=max_length,
        ).to(device)
        logits = model(**batch).logits
        loss, n = next_token_loss(logits, batch["input_ids"], batch["attention_mask"])
        total += loss.item() * n
        count += n
    model.train(was_training)
    return math.exp(total / count)


@torch.no_grad()
def generate(model, tokenizer, prompt: str, max_new_tokens: int = 30, repetition_penalty: float = 1.3,
             **kwargs) -> str:
    """Continuation of `prompt` (the prompt itself not included), greedy unless do_sample=True.

    Greedy is the default because it is repeatable: before/after comparisons then show the
    model changing rather than sampling noise. Extra keyword arguments go to `model.generate`.
    """
    device = next(model.parameters()).device
    inputs = tokenizer(prompt, return_tensors="pt").to(device)
    kwargs.setdefault("do_sample", False)
    out = model.generate(
        **inputs, max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty,
        pad_token_id=tokenizer.pad_token_id, **kwargs,
    )
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


@torch.no_grad()
def accuracy(model, tokenizer, dataset, batch_size: int = 64, max_length: int = 64) -> float:
    """Share of `dataset` rows (`sentence`, `label`) whose highest logit is the label."""
    if len(dataset) == 0:
        raise ValueError("accuracy needs a non-empty dataset")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    sentences, labels = list(dataset["sentence"]), list(dataset["label"])
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(sentences[start : start + batch_size], return_tensors="pt", padding=True,
                          truncation=True, max_length=max_length).to(device)
        predicted = model(**batch).logits.argmax(-1).cpu()
        correct += int((predicted == torch.tensor(labels[start : start + batch_size])).sum())
    model.train(was_training)
    return correct / len(sentences)
