"""Which GPU a training run fits on, with an honest margin.

A GPU's nominal memory is not all usable: the CUDA context (driver, cuBLAS and cuDNN handles)
takes about 0.5–1 GiB before the first tensor, and PyTorch's caching allocator loses some to
fragmentation (we allow 10 % of the estimate). A run "fits" when estimate + margin ≤ the memory
the card reports, in GiB (a "16 GB" T4 shows about 15.1 GiB to PyTorch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftcourse.memory.breakdown import GIB, Breakdown, gib

CUDA_CONTEXT_BYTES = int(1.0 * GIB)
FRAGMENTATION = 0.10


@dataclass(frozen=True)
class GPU:
    """A GPU and the memory PyTorch sees on it (bytes)."""

    name: str
    nominal_gb: int
    usable_bytes: int


GPUS: tuple[GPU, ...] = (
    GPU("T4 16 GB", 16, int(15.1 * GIB)),
    GPU("L4 24 GB", 24, int(22.0 * GIB)),
    GPU("A100 40 GB", 40, int(39.4 * GIB)),
    GPU("A100 80 GB", 80, int(79.1 * GIB)),
    GPU("H100 80 GB", 80, int(79.1 * GIB)),
)


@dataclass(frozen=True)
class Suggestion:
    """The smallest GPU of the table that fits `needed` bytes (None when none does)."""

    estimate: int
    needed: int
    gpu: GPU | None
    fits: tuple[str, ...]

    def line(self) -> str:
        """One sentence for a terminal or a widget."""
        head = (f"estimate {gib(self.estimate):.2f} GiB + margin (CUDA context {gib(CUDA_CONTEXT_BYTES):.1f} GiB, "
                f"fragmentation {FRAGMENTATION:.0%}) = {gib(self.needed):.2f} GiB")
        if self.gpu is None:
            return f"{head}: fits none of {', '.join(g.name for g in GPUS)}; try LoRA/QLoRA, checkpointing or a " \
                   "smaller batch"
        return f"{head}: smallest fit {self.gpu.name} (fits: {', '.join(self.fits)})"


def suggest_hardware(total: int | float | Breakdown) -> Suggestion:
    """Smallest GPU in GPUS whose usable memory holds `total` bytes (a Breakdown's peak) plus the margin."""
    if isinstance(total, Breakdown):
        total = total.peak
    if isinstance(total, bool) or not isinstance(total, int | float) or not total > 0 or not math.isfinite(total):
        raise ValueError(f"total={total!r} must be a positive, finite number of bytes")
    needed = int(total * (1 + FRAGMENTATION) + CUDA_CONTEXT_BYTES)
    fits = tuple(g.name for g in GPUS if g.usable_bytes >= needed)
    gpu = next((g for g in GPUS if g.usable_bytes >= needed), None)
    return Suggestion(int(total), needed, gpu, fits)
