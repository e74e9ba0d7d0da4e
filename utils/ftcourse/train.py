"""A short, readable training loop for the lessons, and a recorder of what it did.

`fine_tune` is deliberately plain PyTorch (batch → loss → backward → step) so that every
line maps onto what `transformers.Trainer` does for you in later lessons.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class History:
    """Loss per step and the wall time of the run, for plots and tables."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def first(self) -> float:
        return self.losses[0]

    @property
    def last(self) -> float:
        return self.losses[-1]


def fine_tune(model, tokenizer, texts: Sequence[str], steps: int = 40, lr: float = 1e-3, batch_size: int = 8,
              max_length: int = 64, seed: int = 0, progress: bool = True) -> History:
    """Full fine-tuning on `texts` with AdamW for `steps` steps (cycling through the texts).

    Padding is masked out of the loss (label -100); the model is left in eval mode.
    """
    from tqdm.auto import tqdm

    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty list of strings")
    for name, value in {"steps": steps, "batch_size": batch_size, "max_length": max_length}.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    history = History()
    model.train()
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc="fine-tuning", disable=not progress, mininterval=1):
        picks = torch.randint(0, len(texts), (batch_size,), generator=gen).tolist()
        batch = tokenizer([texts[i] for i in picks], return_tensors="pt", padding=True, truncation=True,
                          max_length=max_length).to(device)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        history.losses.append(loss.item())
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def train_classifier(model, tokenizer, dataset, epochs: int = 1, lr: float = 1e-3, batch_size: int = 32,
                     max_length: int = 64, seed: int = 0, progress: bool = True) -> History:
    """Train a sequence classifier on a dataset with `sentence` and `label` columns (AdamW, shuffled).

    Only parameters with requires_grad are optimised, so the same loop trains a full model,
    a peft model or a hand-made LoRA; the model is left in eval mode.
    """
    from tqdm.auto import tqdm

    for name, value in {"epochs": epochs, "batch_size": batch_size, "max_length": max_length}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    missing = {"sentence", "label"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset lacks column(s) {sorted(missing)}; it has {dataset.column_names}")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    sentences, labels = list(dataset["sentence"]), torch.tensor(dataset["label"])
    steps = epochs * ((len(sentences) + batch_size - 1) // batch_size)
    history = History()
    model.train()
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="training", disable=not progress, mininterval=1)
    for _ in range(epochs):
        for idx in torch.randperm(len(sentences), generator=gen).split(batch_size):
            batch = tokenizer([sentences[i] for i in idx.tolist()], return_tensors="pt", padding=True,
                              truncation=True, max_length=max_length).to(device)
            loss = model(**batch, labels=labels[idx].to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            history.losses.append(loss.item())
            bar.update()
    bar.close()
    history.seconds = time.perf_counter() - start
    model.eval()
    return history
