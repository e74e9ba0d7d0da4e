"""The estimator beside every training run: one step's memory predicted before training, the measurement beside it.

>>> check = experiments.predict_memory(base, batch_size=32, seq_len=48, method="lora", r=16,
...                                    target_modules="all-linear")      # before training: config and shape only
>>> print(check.line())                  # "LoRA: predicted 170.4 MiB in all for one step ... (not measured yet)"
>>> check.measure(model, batch)          # one step of a copy on the real batch (memory.measure_training_memory)
>>> print(check.line()); print(check)    # the total, then predicted vs measured term by term with Δ %
>>> check.from_run(run)                  # or: the allocator's peak that run_one recorded on CUDA

What is comparable, and how exactly (the measurement counts tensors; see memory/measure.py):
- weights, adapter weights, gradients, optimizer states: byte-exact on CPU and CUDA. `ftcourse.memory`'s
  estimator models a causal LM; for a sequence classifier this module adds the new head `score` (peft
  keeps it twice: the frozen original and the trainable copy) and the Δ is 0 B.
- activations (the tensors autograd saves): byte-exact for a classifier only on an unpadded batch without
  an attention mask, in fp32 or bf16 (the estimator's LM loss, an N×V fp32 log-softmax, is swapped for the
  classifier's head). With an attention mask transformers repeats K and V to every head and keeps a mask per
  layer, so the measurement is larger; DoRA and LoRA dropout save tensors the estimator does not model.
- overhead and the optimizer step's transient: a CPU measurement cannot see them (0 there); only CUDA's
  allocator peak (`peak`, with its cuBLAS workspace on top) shows them.
`method="head"` (only the new head trains) has no model in the estimator: this module predicts it with its own
rule (said so in the output), byte-exact on the same unpadded batches.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from ftcourse._util import check_positive_int
from ftcourse.experiments.runs import HEAD, _precision, _split
from ftcourse.experiments.spec import check_setting

EXACT = ("weights", "adapter_weights", "gradients", "optimizer_states")  # byte-exact terms (after the head)
TERMS = (*EXACT, "activations")
MiB = 2**20
LABEL_BYTES = 8  # int64 class labels, as train.classification_batches makes them


def _mib(n: float) -> str:
    """Bytes as MiB with two decimals; below 0.01 MiB as KiB or bytes (a head's 1.5 KiB is not "0.00 MiB")."""
    if abs(n) >= MiB / 100:
        return f"{n / MiB:.2f} MiB"
    return f"{n / 1024:.1f} KiB" if abs(n) >= 1024 else f"{n:.0f} B"


def _delta(predicted: float, measured: float) -> str:
    if predicted == measured:
        return "Δ 0 B, exact"
    if measured == 0:
        return "Δ —"
    return f"Δ {100 * (predicted - measured) / measured:+.1f} %"


def _head_numel(base) -> int:
    """Parameters of the classification head `score` of `base` (0 for a model without one, e.g. a causal LM)."""
    base = getattr(base, "get_base_model", lambda: base)()
    return sum(p.numel() for n, p in base.named_parameters() if n.split(".")[0] == HEAD)


def _classifier(est, method: str, head: int, num_labels: int, hidden: int, vocab: int, batch: int, seq: int,
                weight_bytes: int, act_bytes: int):
    """The estimator's LM breakdown turned into a sequence classifier's: the head `score` instead of the LM head.

    Parameters: + the head (twice for peft, which keeps the original beside its trainable copy), its gradient
    and AdamW's m, v and step. Activations: − the LM loss (N×V fp32 log-softmax, shifted int64 labels, the loss
    scalar) + the classifier's (the pooled index pair, the b×labels log-softmax, the labels, the loss scalar),
    + score's input under LoRA (the estimator's LM head is frozen there, a classifier's head trains).
    """
    n = batch * seq
    est.weights += head * weight_bytes * (2 if method == "lora" else 1)
    est.gradients += head * weight_bytes
    est.optimizer_states += 2 * head * weight_bytes + 4
    lm_labels = 8 * batch * (seq + 1) if batch == 1 else 8 * n
    est.activations += -(n * vocab * 4 + lm_labels + 4) + batch * (8 + 8 + num_labels * 4 + LABEL_BYTES) + 4
    if method == "lora":
        est.activations += n * hidden * act_bytes
    est.overhead = 2 * n * num_labels * 4  # the logits' gradient, now N × num_labels (CPU cannot see it)
    est.notes["classifier_head"] = head
    return est


def _head_only(base, head: int, batch: int, seq: int, optimizer: str, name: str):
    """Only the head `score` trains: nothing before it requires grad, so autograd saves only score's input and the
    classifier loss's tensors; gradient and AdamW states are the head's."""
    from ftcourse.memory import estimate_training_memory

    precision = _precision(base)
    e = 4 if precision == "fp32" else 2
    cfg = base.config
    est = estimate_training_memory(cfg, method="full", precision=precision, optimizer=optimizer, batch_size=1,
                                   seq_len=1, label=name)
    n, labels = batch * seq, int(cfg.num_labels)
    est.weights += head * e
    est.gradients = head * e
    est.optimizer_states = 0 if optimizer == "sgd" else 2 * head * e + 4
    est.activations = n * int(cfg.hidden_size) * e + batch * (8 + 8 + labels * 4 + LABEL_BYTES) + 4
    est.overhead = 2 * n * labels * 4
    est.step_transient = est.gradients if optimizer == "adamw" else 0
    est.notes.update(classifier_head=head, trainable=head)
    return est


@dataclass
class MemoryCheck:
    """One run's memory: the estimator's `predicted` Breakdown (None where it has no model) and what was measured."""

    name: str
    method: str
    batch_size: int
    seq_len: int
    predicted: object | None  # ftcourse.memory.Breakdown
    reason: str = ""  # why there is no prediction, or what the prediction leaves out
    measured: object | None = None  # Breakdown of one measured step
    measured_peak: int | None = None  # CUDA allocator peak (from measure or run_one)
    notes: list[str] = field(default_factory=list)

    def _where(self) -> str:
        return f"one step at {self.batch_size} × {self.seq_len}"

    def measure(self, model, batch: Mapping, *, lr: float = 1e-3, copy: bool = True) -> MemoryCheck:
        """Measure one AdamW step of `model` (a copy unless copy=False) on `batch`, the run's real batch; returns self.

        `model` is prepared for the method (full, peft LoRA, head only) and `batch` holds input_ids, labels and
        optionally attention_mask. On CUDA the allocator's peak comes with it (`measured_peak`).
        """
        import torch

        from ftcourse.memory import measure_training_memory

        if not isinstance(batch, Mapping) or "input_ids" not in batch or "labels" not in batch:
            raise ValueError("batch must be a mapping with 'input_ids' and 'labels' (a training batch)")
        shape = tuple(batch["input_ids"].shape)
        if shape != (self.batch_size, self.seq_len):
            raise ValueError(f"batch shape {shape[0]} × {shape[1]} differs from the predicted "
                             f"{self.batch_size} × {self.seq_len}: predict at the batch's shape, or pad it "
                             f"(tokenizer(..., padding='max_length', max_length={self.seq_len}))")
        model = _copy.deepcopy(model) if copy else model
        device = next(model.parameters()).device
        on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
        self.measured = measure_training_memory(model, on_device, optimizer, label=f"{self.name} measured")
        model.eval()
        self.measured_peak = self.measured.notes.get("cuda_max_memory_allocated")
        self.notes = []
        if self.predicted is not None and self.predicted.activations == self.measured.activations:
            pass
        elif "attention_mask" in batch and not bool(batch["attention_mask"].all()):
            self.notes.append("the batch is padded and has an attention mask: the estimator assumes neither "
                              "(transformers then repeats K and V to every head), so activations are not exact")
        elif "attention_mask" in batch:
            self.notes.append("the batch has an attention mask: the estimator assumes none (transformers then "
                              "repeats K and V to every head), so activations are not exact")
        return self

    def from_run(self, run) -> MemoryCheck:
        """Take the allocator's peak a `run_one` RunResult recorded on CUDA (nothing to take on CPU); returns self."""
        if getattr(run, "peak_memory_source", None) == "cuda":
            self.measured_peak = int(run.peak_memory)
        return self

    def line(self) -> str:
        """One printable line: the prediction for the whole step beside the measurement (total on CPU, peak on CUDA)."""
        where = self._where()
        if self.predicted is None:
            head = f"{self.name}: no prediction ({self.reason})"
            if self.measured is not None:
                return f"{head}; measured {_mib(self.measured.total)} in all for {where}"
            return f"{head}; not measured yet"
        p = self.predicted
        if self.measured_peak is not None:
            return (f"{self.name}: predicted peak {_mib(p.peak)}, measured {_mib(self.measured_peak)} "
                    f"(CUDA allocator, cuBLAS workspace included; {_delta(p.peak, self.measured_peak)}) for {where}")
        if self.measured is None:
            return (f"{self.name}: predicted {_mib(p.total)} in all (peak {_mib(p.peak)}) for {where}, "
                    "before training; not measured yet")
        caveat = "; padded batch with a mask: activations not exact" if self.notes else ""
        return (f"{self.name}: predicted {_mib(p.total)}, measured {_mib(self.measured.total)} in all "
                f"({_delta(p.total, self.measured.total)}) for {where}{caveat}")

    def table(self) -> str:
        """Predicted vs measured per term, with Δ and which terms are byte-exact."""
        lines = [f"{self.name}: memory of {self._where()}, predicted before training vs measured"]
        if self.predicted is None:
            lines.append(f"  no prediction: {self.reason}")
        if self.reason and self.predicted is not None:
            lines.append(f"  note: {self.reason}")
        for term in (*TERMS, "total"):
            pred = getattr(self.predicted, term) if self.predicted is not None else None
            meas = getattr(self.measured, term) if self.measured is not None else None
            cells = [f"  {term.replace('_', ' '):<18}",
                     f"predicted {_mib(pred) if pred is not None else '—':>12}",
                     f"measured {_mib(meas) if meas is not None else '—':>12}"]
            if pred is not None and meas is not None:
                cells.append(f"({_delta(pred, meas)})")
            lines.append("  ".join(cells))
        if self.predicted is not None:
            p = self.predicted
            lines.append(f"  overhead {_mib(p.overhead)} and step transient {_mib(p.step_transient)} predicted: "
                         "a CPU measurement cannot see them; CUDA's allocator peak does"
                         + (f" (measured peak {_mib(self.measured_peak)} vs predicted {_mib(p.peak)})"
                            if self.measured_peak is not None else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def exact_terms(self) -> dict[str, bool]:
        """Term → whether prediction and measurement agree to the byte (needs both)."""
        if self.predicted is None or self.measured is None:
            raise ValueError(f"{self.name}: exact_terms needs a prediction and a measurement")
        return {t: getattr(self.predicted, t) == getattr(self.measured, t) for t in TERMS}

    def __str__(self) -> str:
        return self.table()


def predict_memory(base, *, batch_size: int, seq_len: int, name: str | None = None,
                   baseline: Mapping[str, object] | None = None, optimizer: str = "adamw", **setting) -> MemoryCheck:
    """The estimator's prediction for one training step of `setting` on `base` at batch_size × seq_len, before training.

    `setting` is what `prepare` / `run_one` take (method, lr, LoraConfig fields; the rest from `baseline`).
    `base` is the untrained model (its config and dtype are read; nothing runs). For a sequence classifier the
    new head replaces the LM head in the breakdown (see the module docstring); method "head" has no prediction.
    """
    from ftcourse.memory import estimate_training_memory

    check_positive_int("batch_size", batch_size)
    check_positive_int("seq_len", seq_len)
    merged = check_setting(name or "run", setting, baseline)
    method, _lr, lora = _split(merged)
    name = name or {"full": "full fine-tuning", "lora": "LoRA", "head": "head only"}[method]
    check = MemoryCheck(name, method, batch_size, seq_len, None)
    if method == "head":
        head = _head_numel(base)
        if not head:
            check.reason = ("the estimator has no model of training only a head (it models full, lora, qlora), "
                            "and this model has no classification head `score`")
            return check
        check.predicted = _head_only(base, head, batch_size, seq_len, optimizer, name)
        check.reason = ("head only is not in the estimator (it models full, lora, qlora): this is experiments' "
                        "own rule for it (frozen weights, the head's gradient and AdamW states, score's input)")
        return check
    extra = {} if method == "full" else {"r": int(lora.get("r", 8)),
                                         "target_modules": lora.get("target_modules") or "q_proj,v_proj"}
    precision = _precision(base)
    est = estimate_training_memory(base.config, method=method, precision=precision, optimizer=optimizer,
                                   batch_size=batch_size, seq_len=seq_len, label=name, **extra)
    head = _head_numel(base)
    if head:
        cfg = base.config
        e = 4 if precision == "fp32" else 2
        _classifier(est, method, head, int(cfg.num_labels), int(cfg.hidden_size), int(cfg.vocab_size), batch_size,
                    seq_len, e, e)
    left_out = [k for k in ("use_dora",) if lora.get(k)]
    if lora.get("lora_dropout"):
        left_out.append("lora_dropout")
    if left_out:
        check.reason = f"the estimator does not model {', '.join(left_out)}: expect the measurement to be larger"
    check.predicted = est
    return check


def measurement_batch(tokenizer, dataset, batch_size: int, max_length: int) -> dict:
    """The first `batch_size` rows of a (sentence, label) dataset padded to `max_length`: a run's largest batch."""
    import torch

    check_positive_int("batch_size", batch_size)
    rows = dataset.select(range(min(batch_size, len(dataset))))
    batch = dict(tokenizer(list(rows["sentence"]), return_tensors="pt", padding="max_length", truncation=True,
                           max_length=check_positive_int("max_length", max_length)))
    batch["labels"] = torch.tensor(rows["label"])
    return batch


__all__ = ["EXACT", "TERMS", "MemoryCheck", "measurement_batch", "predict_memory"]
