"""One breakdown of training memory, in bytes, shared by the estimator and the measurement."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

GIB = 1024**3
COMPONENTS = ("weights", "quant_constants", "adapter_weights", "gradients", "optimizer_states", "activations")


def gib(nbytes: float) -> float:
    """Bytes to GiB (2**30 bytes), the unit the course prints."""
    return nbytes / GIB


@dataclass
class Breakdown:
    """Bytes per component of one training step: `total` adds every component, `peak` what is held at once.

    - weights: the model's parameters as stored (frozen base included; 4-bit packed for QLoRA).
    - quant_constants: blockwise absmax (and double-quant) constants of a 4-bit base.
    - adapter_weights: trainable LoRA matrices (A and B).
    - gradients: one gradient per trainable parameter, in the parameter's dtype.
    - optimizer_states: optimizer tensors after one step (AdamW m and v, step counters, 8-bit absmax).
    - activations: tensors saved for backward (logits and loss included), parameters excluded.
    - overhead: what comes on top during backward and is not held by any tensor above: the gradient of
      the logits, and under checkpointing one layer's recomputed activations.
    - step_transient: what the optimizer step allocates for a moment (AdamW's temporaries).
    A CPU measurement cannot see the last two (0 there); on CUDA they come from max_memory_allocated.
    """

    weights: int = 0
    quant_constants: int = 0
    adapter_weights: int = 0
    gradients: int = 0
    optimizer_states: int = 0
    activations: int = 0
    overhead: int = 0
    step_transient: int = 0
    label: str = ""
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Weights, constants, adapters, gradients, optimizer states and saved activations together."""
        return sum(getattr(self, name) for name in COMPONENTS)

    @property
    def persistent(self) -> int:
        """What lives through the whole step: weights, constants, adapters and optimizer states."""
        return self.weights + self.quant_constants + self.adapter_weights + self.optimizer_states

    @property
    def peak(self) -> int:
        """The most held at once: activations (+ backward transients) and gradients (+ the step's temporaries)
        never peak together, since backward frees activations as it fills gradients."""
        return self.persistent + max(self.activations + self.overhead, self.gradients + self.step_transient)

    def as_dict(self) -> dict[str, int]:
        """Component name -> bytes, with total and peak."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("label", "notes")}
        return {**values, "total": self.total, "peak": self.peak}

    def table(self) -> str:
        """A readable table: one row per component in GiB and in percent of the total."""
        title = f"memory breakdown{': ' + self.label if self.label else ''}"
        total = self.total or 1
        rows = [title, f"{'component':<18}{'GiB':>10}{'share':>9}"]
        for name in (*COMPONENTS, "overhead", "step_transient"):
            value = getattr(self, name)
            share = f"{100 * value / total:7.1f} %" if name in COMPONENTS else "   (+)"
            rows.append(f"{name.replace('_', ' '):<18}{gib(value):>10.3f}{share:>9}")
        rows.append(f"{'total':<18}{gib(self.total):>10.3f}{'100.0 %':>9}")
        rows.append(f"{'peak (at once)':<18}{gib(self.peak):>10.3f}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()
