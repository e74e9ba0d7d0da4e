"""Measure the memory of one training step: exact tensor bytes on CPU, plus the allocator's peak on CUDA.

Parameters, gradients and optimizer states are counted from the tensors themselves after one
optimizer step. Activations are the tensors autograd saves for backward, seen through
`torch.autograd.graph.saved_tensors_hooks`: de-duplicated by storage (a view keeps its whole
storage alive, so the whole storage is counted), parameters excluded, and tracked while
forward and backward run so the figure is the peak of what is held at once. Without
checkpointing that peak is reached at the end of the forward pass. Under (non-reentrant)
activation checkpointing the activations recomputed during backward are held by
torch.utils.checkpoint's own hooks and are invisible here, as are transient gradient buffers:
the estimator reports those as `overhead`, and on CUDA the allocator's peak shows them.
Buffers (e.g. RoPE's inv_freq) are not parameters and are not counted.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Mapping

import torch

from ftcourse.memory.breakdown import Breakdown


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    return (str(t.device), t.untyped_storage().data_ptr())


def _unique_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (views and repeats counted once)."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            seen[_storage_key(t)] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _state_tensors(state) -> Iterable[torch.Tensor]:
    """Every tensor inside an optimizer's state (nested dicts, lists, quantization states)."""
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, Mapping):
        for value in state.values():
            yield from _state_tensors(value)
    elif isinstance(state, list | tuple):
        for value in state:
            yield from _state_tensors(value)


def _quant_state_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """Constants of bitsandbytes 4-bit weights (absmax, nested absmax, code tables)."""
    found = []
    for p in model.parameters():
        qs = getattr(p, "quant_state", None)
        if qs is None:
            continue
        for name in ("absmax", "code", "offset"):
            if isinstance(getattr(qs, name, None), torch.Tensor):
                found.append(getattr(qs, name))
        nested = getattr(qs, "state2", None)
        if nested is not None:
            found += [t for t in (getattr(nested, "absmax", None), getattr(nested, "code", None))
                      if isinstance(t, torch.Tensor)]
    return found


class SavedTensorTracker:
    """Counts the bytes autograd saves for backward, live, with the peak; parameters excluded."""

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.excluded = {_storage_key(t) for t in exclude}
        self.refs: dict[tuple[str, int], int] = {}
        self.sizes: dict[tuple[str, int], int] = {}
        self.current = 0
        self.peak = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _release(self, key: tuple[str, int]) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.current -= self.sizes.pop(key)

    def _pack(self, tensor: torch.Tensor):
        if tensor.device.type == "meta" or tensor.layout != torch.strided:
            return tensor
        key = _storage_key(tensor)
        if key in self.excluded:
            return tensor
        holder = [tensor]
        if key not in self.refs:
            self.refs[key] = 0
            self.sizes[key] = tensor.untyped_storage().nbytes()
            self.current += self.sizes[key]
            self.peak = max(self.peak, self.current)
        self.refs[key] += 1
        weakref.finalize(holder_box := _Box(holder), self._release, key)
        return holder_box

    @staticmethod
    def _unpack(packed):
        return packed.value[0] if isinstance(packed, _Box) else packed

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)


class _Box:
    """A weak-referenceable holder for a saved tensor (lists cannot be weakly referenced)."""

    __slots__ = ("value", "__weakref__")

    def __init__(self, value):
        self.value = value


def _loss(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    batch = dict(batch)
    batch.setdefault("labels", batch["input_ids"])
    out = model(**batch)
    return out.loss


def measure_training_memory(model: torch.nn.Module, batch: Mapping[str, torch.Tensor],
                            optimizer: torch.optim.Optimizer, label: str = "",
                            autocast_dtype: torch.dtype | None = None, warmup: bool = False) -> Breakdown:
    """Run one training step (forward, backward, optimizer step) and return the measured breakdown in bytes.

    `batch` holds `input_ids` (and optionally `attention_mask`, `labels`; labels default to the inputs).
    Weights are all parameters (4-bit packed ones as stored); adapter_weights are trainable parameters
    whose name contains `lora_` (then weights holds only the rest); gradients and optimizer states are
    read after the step. On CUDA, `overhead` and `step_transient` are read back from
    torch.cuda.max_memory_allocated so that `peak` equals it, less the allocator's untracked workspace.
    `autocast_dtype` runs the forward under torch.autocast (mixed precision with fp32 weights).
    `warmup=True` first runs one untracked step, so that the measured step is a steady one: the optimizer
    states already exist during its forward and backward, as in every step of a real run after the first.
    """
    if not isinstance(batch, Mapping) or "input_ids" not in batch:
        raise ValueError(f"batch must be a mapping with 'input_ids', got {type(batch).__name__}")
    params = dict(model.named_parameters())
    device = next(iter(params.values())).device
    cuda = device.type == "cuda"
    model.train()
    autocast = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
                else contextlib.nullcontext())
    if warmup:
        with autocast:
            loss = _loss(model, batch)
        loss.backward()
        optimizer.step()
        del loss
    optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
    tracker = SavedTensorTracker(exclude=params.values())
    with tracker:
        with autocast:
            loss = _loss(model, batch)
        end_of_forward = tracker.current
        loss.backward()
    optimizer.step()
    if cuda:
        torch.cuda.synchronize(device)
        cuda_peak = torch.cuda.max_memory_allocated(device)
    adapters = [p for n, p in params.items() if "lora_" in n and p.requires_grad]
    adapter_ids = {id(p) for p in adapters}
    base = [p for p in params.values() if id(p) not in adapter_ids]
    grads = [p.grad for p in params.values() if p.grad is not None]
    states = [t for s in optimizer.state.values() for t in _state_tensors(s)]
    result = Breakdown(
        weights=_unique_bytes(base),
        quant_constants=_unique_bytes(_quant_state_tensors(model)),
        adapter_weights=_unique_bytes(adapters),
        gradients=_unique_bytes(grads),
        optimizer_states=_unique_bytes(states),
        activations=tracker.peak,
        label=label or "measured",
        notes={"loss": float(loss.detach()), "saved_at_end_of_forward": end_of_forward},
    )
    if cuda:
        result.notes["cuda_max_memory_allocated"] = cuda_peak
        result.notes["cuda_allocated_before_step"] = start
        # what the caching allocator holds outside any tensor counted here: cuBLAS workspaces, mostly
        untracked = start - (result.persistent if warmup else result.persistent - result.optimizer_states)
        result.notes["cuda_untracked_before_step"] = untracked
        # the transients, read back so that result.peak == the allocator's peak without the workspace
        held = cuda_peak - untracked - result.persistent
        result.overhead = max(0, held - result.activations)
        result.step_transient = max(0, held - result.gradients)
    optimizer.zero_grad(set_to_none=True)
    return result
