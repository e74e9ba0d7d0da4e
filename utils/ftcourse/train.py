"""One training loop for the whole course, the batches it eats, and a record of what it did.

The loop is deliberately plain PyTorch (batch → loss → backward → step) so that every line maps
onto what `transformers.Trainer` does for you in later lessons. What to train on is a separate
choice, made by a batch maker:

>>> from ftcourse import train
>>> batches = train.classification_batches(tok, train_set, batch_size=32, max_length=48, seed=0)
>>> history = train.train(model, batches, epochs=2, lr=3e-3)        # a classifier, full or peft
>>> facts = train.lm_batches(tok, texts, batch_size=8, max_length=64, seed=0)
>>> history = train.train(model, facts, steps=30, lr=1e-3)           # next-token loss, padding masked
>>> history.first, history.last, history.seconds

Only parameters with requires_grad are optimised, so the same loop trains a full model, a peft
model or a hand-made adapter; the model is left in eval mode. The options live in one
`TrainConfig`, checked before anything runs, and the loop body is one function, `_step`: the
switches still to come (gradient accumulation, autocast, activation checkpointing, learning-rate
schedules, gradient clipping) become fields of `TrainConfig` and a few lines of `_step`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ftcourse._util import check_bool, check_choice, check_positive_int, check_positive_number

OPTIMIZERS = ("adamw", "sgd")
Batch = Mapping[str, torch.Tensor]


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

    @property
    def steps(self) -> int:
        return len(self.losses)


def _check_seed(name: str, value, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer" + (" or None" if optional else ""))
    return value


@dataclass(frozen=True)
class TrainConfig:
    """Every option of the loop, validated when it is made (a bad value raises ValueError naming it).

    - `lr`: the learning rate; `optimizer`: "adamw" (torch's AdamW, its default betas and weight decay) or "sgd".
    - `steps` or `epochs`, exactly one: optimizer steps in all, or passes over batches that have a length.
    - `seed`: when set, torch's global generator is seeded before the first step (dropout inside the
      model); the order of the data is the batch maker's own seed.
    - `progress`, `desc`: a tqdm bar and its label.
    """

    lr: float
    steps: int | None = None
    epochs: int | None = None
    optimizer: str = "adamw"
    seed: int | None = None
    progress: bool = True
    desc: str = "training"

    def __post_init__(self) -> None:
        check_positive_number("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"give exactly one of steps= and epochs= (got steps={self.steps!r}, "
                             f"epochs={self.epochs!r})")
        if self.steps is not None:
            check_positive_int("steps", self.steps)
        else:
            check_positive_int("epochs", self.epochs)
        _check_seed("seed", self.seed, optional=True)
        check_bool("progress", self.progress)


class LMBatches:
    """Endless random batches of texts for next-token training: each batch draws `batch_size` texts with
    replacement; labels are the input ids with padding set to -100 (ignored by the loss)."""

    def __init__(self, tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int = 64, seed: int = 0):
        if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
            raise ValueError("texts must be a non-empty list of strings")
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a non-empty list of strings")
        self.tokenizer, self.texts = tokenizer, list(texts)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.max_length = check_positive_int("max_length", max_length)
        self.seed = _check_seed("seed", seed)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed)
        while True:
            picks = torch.randint(0, len(self.texts), (self.batch_size,), generator=gen).tolist()
            batch = dict(self.tokenizer([self.texts[i] for i in picks], return_tensors="pt", padding=True,
                                        truncation=True, max_length=self.max_length))
            batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            yield batch


class ClassificationBatches:
    """Shuffled batches of a dataset with `sentence` and `label` columns; one pass over it per iteration.

    The shuffling generator is seeded once, so the second epoch is a different order from the first,
    and rebuilding with the same seed gives the same epochs again. `len()` is batches per epoch.
    """

    def __init__(self, tokenizer, dataset, batch_size: int = 32, max_length: int = 64, seed: int = 0):
        columns = list(getattr(dataset, "column_names", None) or (dataset if isinstance(dataset, Mapping) else []))
        missing = {"sentence", "label"} - set(columns)
        if missing:
            raise ValueError(f"dataset lacks column(s) {sorted(missing)}; it has {columns}")
        self.tokenizer = tokenizer
        self.sentences, self.labels = list(dataset["sentence"]), torch.tensor(dataset["label"])
        if not self.sentences:
            raise ValueError("dataset has no rows")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.max_length = check_positive_int("max_length", max_length)
        self.seed = _check_seed("seed", seed)
        self._gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.sentences) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for idx in torch.randperm(len(self.sentences), generator=self._gen).split(self.batch_size):
            batch = dict(self.tokenizer([self.sentences[i] for i in idx.tolist()], return_tensors="pt",
                                        padding=True, truncation=True, max_length=self.max_length))
            batch["labels"] = self.labels[idx]
            yield batch


def lm_batches(tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int = 64,
               seed: int = 0) -> LMBatches:
    """Endless next-token batches of `texts` (random picks with replacement; padding masked with -100): use steps=."""
    return LMBatches(tokenizer, texts, batch_size, max_length, seed)


def classification_batches(tokenizer, dataset, batch_size: int = 32, max_length: int = 64,
                           seed: int = 0) -> ClassificationBatches:
    """Shuffled (sentence, label) batches, one epoch per pass: use epochs= (or steps=, which cycles epochs)."""
    return ClassificationBatches(tokenizer, dataset, batch_size, max_length, seed)


def _trainable(model) -> list[torch.nn.Parameter]:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    return trainable


def _optimizer(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr)
    return torch.optim.AdamW(params, lr=config.lr)


def _to_device(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _step(model, batch: Batch, optimizer: torch.optim.Optimizer, config: TrainConfig) -> float:
    """One optimizer step on one batch; returns its loss.

    Where the next switches go: autocast around the forward; the loss divided for gradient accumulation
    (and the step taken every k batches); clipping between backward and step; a scheduler after the step.
    """
    loss = model(**batch).loss
    if loss is None:
        raise ValueError(f"the model returned no loss: a batch needs 'labels' (it has {sorted(batch)})")
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _schedule(batches: Iterable[Batch], config: TrainConfig) -> Iterator[Batch]:
    """The batches of the run: `epochs` passes over `batches`, or the first `steps` (cycling passes)."""
    if config.epochs is not None:
        for _ in range(config.epochs):
            yield from batches
        return
    done = 0
    while True:
        before = done
        for batch in batches:
            yield batch
            done += 1
            if done == config.steps:
                return
        if done == before or iter(batches) is batches:
            raise ValueError(f"batches ran out after {done} of steps={config.steps}")


def train(model, batches: Iterable[Batch], *, lr: float, steps: int | None = None, epochs: int | None = None,
          optimizer: str = "adamw", seed: int | None = None, progress: bool = True,
          desc: str = "training") -> History:
    """Train `model` on `batches` (dicts of tensors with `labels`) for `steps` steps or `epochs` passes.

    Every option is checked first (TrainConfig); batches move to the model's device; the loss of every
    step is recorded. Returns the History (losses, seconds, first, last); the model is left in eval mode.
    """
    from tqdm.auto import tqdm

    config = TrainConfig(lr=lr, steps=steps, epochs=epochs, optimizer=optimizer, seed=seed, progress=progress,
                         desc=desc)
    if isinstance(batches, str | bytes) or not isinstance(batches, Iterable):
        raise ValueError(f"batches must be an iterable of dicts of tensors, got {type(batches).__name__}")
    if config.epochs is not None and not hasattr(batches, "__len__"):
        raise ValueError("epochs= needs batches with a length (a list, or classification_batches); "
                         "lm_batches and other endless streams take steps=")
    opt = _optimizer(_trainable(model), config)
    device = next(model.parameters()).device
    total = config.steps if config.steps is not None else config.epochs * len(batches)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    history = History()
    model.train()
    start = time.perf_counter()
    with tqdm(total=total, desc=config.desc, disable=not config.progress, mininterval=1) as bar:
        for batch in _schedule(batches, config):
            history.losses.append(_step(model, _to_device(batch, device), opt, config))
            bar.update()
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def step_function(model, batch: Batch, *, lr: float, optimizer: str = "adamw") -> Callable[[], float]:
    """A callable that takes one training step of `model` on `batch` (the loop's own `_step`) and returns the loss.

    For timing one step against another with `ftcourse.bench.timing.compare`; it trains `model` in place
    each call, so time a copy (`copy.deepcopy(model)`) when the model is still needed.
    """
    config = TrainConfig(lr=lr, steps=1, optimizer=optimizer, progress=False)
    opt = _optimizer(_trainable(model), config)
    on_device = _to_device(batch, next(model.parameters()).device)
    model.train()
    return lambda: _step(model, on_device, opt, config)


__all__ = ["OPTIMIZERS", "ClassificationBatches", "History", "LMBatches", "TrainConfig", "classification_batches",
           "lm_batches", "step_function", "train"]
