"""The one timing helper of the course: two contenders, interleaved, reported as a ratio with its spread.

Timings on a shared machine drift (other jobs, turbo clocks, caches), so a single run of each
contender says little and two separate runs say less. `compare` alternates the two on every
repeat (A B, B A, A B, ...), takes the ratio first / second repeat by repeat, and reports the
median ratio with the 25th–75th percentile of those ratios. Lessons and `ftcourse bench` use it alike:

>>> from ftcourse.bench.timing import compare
>>> t = compare(lambda: model_a(x), lambda: model_b(x), budget_s=2)
>>> print(t.line("A", "B"))
A / B: 1.08× (p25–p75 1.03–1.12; A 4.1 ms, B 3.8 ms; median of 9 interleaved repeats)

On CUDA (and MPS) the device is synchronised around every timed call, so the clock measures the
work, not the launch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from ftcourse._util import check_positive_int, check_positive_number


@dataclass(frozen=True)
class Timing:
    """Median seconds of each contender, the median per-repeat ratio first / second and its p25–p75."""

    first: float
    second: float
    ratio: float
    low: float
    high: float
    repeats: int

    def line(self, first: str = "first", second: str = "second") -> str:
        """One printable line: ratio, spread, both medians and the number of repeats."""
        return (f"{first} / {second}: {self.ratio:.2f}× (p25–p75 {self.low:.2f}–{self.high:.2f}; "
                f"{first} {_ms(self.first)}, {second} {_ms(self.second)}; "
                f"median of {self.repeats} interleaved repeats)")


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _device_type(device) -> str:
    if device is None:
        return "cpu"
    return getattr(device, "type", None) or str(device).split(":")[0]


def synchronize(device=None) -> None:
    """Wait for queued work on `device` (a torch.device or "cuda"/"mps"/"cpu"; None: nothing to wait for)."""
    kind = _device_type(device)
    if kind == "cuda":
        import torch

        torch.cuda.synchronize(device)
    elif kind == "mps":
        import torch

        torch.mps.synchronize()


def compare(first: Callable[[], object], second: Callable[[], object], device=None, repeats: int | None = None,
            budget_s: float = 4.0, min_repeats: int = 5, max_repeats: int = 31, warmup: int = 2) -> Timing:
    """Time two callables interleaved, alternating which goes first; ratios are taken repeat by repeat.

    `device`: where the callables queue work (synchronised around each call on CUDA and MPS).
    Without `repeats`, as many repeats as fit in about `budget_s` seconds (judged from the last
    warm-up pair), at least `min_repeats` and at most `max_repeats`.
    """
    if repeats is not None:
        check_positive_int("repeats", repeats)
    check_positive_number("budget_s", budget_s)
    check_positive_int("min_repeats", min_repeats)
    check_positive_int("max_repeats", max_repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} must be a non-negative integer")
    fns = (first, second)
    pair = 0.0
    for _ in range(warmup):
        synchronize(device)
        start = time.perf_counter()
        first()
        second()
        synchronize(device)
        pair = time.perf_counter() - start
    if repeats is None:
        repeats = min(max_repeats, max(min_repeats, round(budget_s / max(pair, 1e-6))))
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            synchronize(device)
            start = time.perf_counter()
            fns[which]()
            synchronize(device)
            times[which].append(time.perf_counter() - start)
    ratios = sorted(a / max(b, 1e-12) for a, b in zip(times[0], times[1], strict=True))
    quart = len(ratios) // 4
    return Timing(statistics.median(times[0]), statistics.median(times[1]), statistics.median(ratios),
                  ratios[quart], ratios[-1 - quart], repeats)


__all__ = ["Timing", "compare", "synchronize"]
