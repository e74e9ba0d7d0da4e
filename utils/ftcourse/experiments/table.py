"""Summaries of runs over seeds, and the course's comparison table.

`comparison_table(runs)` is the table the course grows lesson by lesson: one row per method or
setting with trainable parameters, checkpoint size, peak memory, time relative to a baseline row
and accuracy (mean ± standard error over seeds). It prints as text and is a plain list of dicts
(`table.rows`), so no pandas is needed:

>>> table = comparison_table(runs, baseline="full", timings={"LoRA": compare(lora_step, full_step)})
>>> print(table)
>>> table.rows[1]["trainable"]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ftcourse.experiments.runs import RunResult


@dataclass
class SettingSummary:
    """A setting over its seeds: mean and sample standard deviation of accuracy and final loss, and its costs."""

    name: str
    seeds: list[int]
    trainable: int
    accuracy_mean: float
    accuracy_sd: float
    final_loss_mean: float
    final_loss_sd: float
    seconds_mean: float
    accuracies: list[float] = field(default_factory=list)
    method: str | None = None
    checkpoint_bytes: int | None = None
    peak_memory: float | None = None
    peak_memory_source: str | None = None

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def accuracy_se(self) -> float:
        """Standard error of the mean accuracy over seeds (nan with one seed)."""
        return self.accuracy_sd / math.sqrt(self.n) if self.n > 1 else math.nan


def _groups(runs: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    by_name: dict[str, list[RunResult]] = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    return by_name


def _mean_or_none(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def summarize(runs: Sequence[RunResult]) -> list[SettingSummary]:
    """One summary per setting name, in the order the names first appear."""
    out = []
    for name, group in _groups(runs).items():
        accs = [r.accuracy for r in group]
        losses = [r.final_loss for r in group]
        sources = {r.peak_memory_source for r in group if r.peak_memory is not None}
        out.append(SettingSummary(
            name=name, seeds=[r.seed for r in group], trainable=group[0].trainable,
            accuracy_mean=statistics.fmean(accs), accuracy_sd=statistics.stdev(accs) if len(accs) > 1 else math.nan,
            final_loss_mean=statistics.fmean(losses),
            final_loss_sd=statistics.stdev(losses) if len(losses) > 1 else math.nan,
            seconds_mean=statistics.fmean(r.seconds for r in group), accuracies=accs, method=group[0].method,
            checkpoint_bytes=group[0].checkpoint_bytes, peak_memory=_mean_or_none([r.peak_memory for r in group]),
            peak_memory_source=sources.pop() if len(sources) == 1 else None))
    return out


def format_summary(summaries: Sequence[SettingSummary]) -> str:
    """A text table: trainable parameters, accuracy mean ± sd (and range), final loss mean ± sd."""
    lines = [f"{'setting':<24}{'trainable':>10}{'seeds':>6}{'val acc mean ± sd':>20}{'min–max':>14}"
             f"{'final loss ± sd':>18}"]
    for s in summaries:
        lines.append(f"{s.name:<24}{s.trainable:>10,}{s.n:>6}{s.accuracy_mean:>13.3f} ± {s.accuracy_sd:.3f}"
                     f"{min(s.accuracies):>8.3f}–{max(s.accuracies):.3f}"
                     f"{s.final_loss_mean:>11.3f} ± {s.final_loss_sd:.3f}")
    return "\n".join(lines)


def human_bytes(n: float | None) -> str:
    """1,536 → "1.5 KiB"; None → "—"."""
    if n is None:
        return "—"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@dataclass
class ComparisonTable:
    """The comparison table: `rows` (one plain dict per method or setting) and `text()` to print it.

    Rows with a `lesson` key (the course table, `experiments.course_table.load()`) print a lesson column;
    `notes` are printed under the table (e.g. which lessons have not added their rows yet).
    """

    rows: list[dict]
    baseline: str
    time_note: str
    notes: list[str] = field(default_factory=list)

    COLUMNS = (("name", "method / setting"), ("trainable", "trainable"), ("checkpoint", "checkpoint"),
               ("memory", "peak memory"), ("time", "time vs baseline"), ("accuracy", "accuracy (mean ± SE, n)"))

    def _cells(self, row: dict) -> dict[str, str]:
        acc = f"{row['accuracy_mean']:.3f}"
        if not math.isnan(row["accuracy_se"]):
            acc += f" ± {row['accuracy_se']:.3f}"
        acc += f", {row['seeds']}"
        if row["time_ratio"] is None:
            time = "—"
        elif row["time_low"] is None:
            time = f"{row['time_ratio']:.2f}×"
        else:
            time = f"{row['time_ratio']:.2f}× ({row['time_low']:.2f}–{row['time_high']:.2f})"
        memory = human_bytes(row["peak_memory"])
        if row["peak_memory_source"] == "estimate":
            memory += " (est.)"
        return {"lesson": str(row.get("lesson", "")), "name": row["name"], "trainable": f"{row['trainable']:,}",
                "checkpoint": human_bytes(row["checkpoint_bytes"]), "memory": memory, "time": time,
                "accuracy": acc}

    def text(self) -> str:
        cells = [self._cells(row) for row in self.rows]
        columns = ((("lesson", "lesson"),) if any("lesson" in row for row in self.rows) else ()) + self.COLUMNS
        widths = {key: max([len(title), *(len(c[key]) for c in cells)]) for key, title in columns}
        left = ("lesson", "name")
        header = "  ".join(title.ljust(widths[key]) if key in left else title.rjust(widths[key])
                           for key, title in columns)
        lines = [header, "-" * len(header)]
        for c in cells:
            lines.append("  ".join(c[key].ljust(widths[key]) if key in left else c[key].rjust(widths[key])
                                   for key, _ in columns))
        lines.append(self.time_note)
        lines += self.notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def comparison_table(runs: Sequence[RunResult], baseline: str | None = None,
                     timings: Mapping[str, object] | None = None) -> ComparisonTable:
    """One row per run name (in order of appearance): cost, memory, time ratio and accuracy over seeds.

    `baseline`: the row the time column is relative to (default: the first). `timings`: name →
    `ftcourse.bench.timing.Timing` of that row against the baseline (ratio = row / baseline, from
    interleaved repeats, shown with p25–p75); without it the column is the ratio of mean training
    seconds over seeds, which a busy machine can skew.
    """
    if not runs:
        raise ValueError("comparison_table needs at least one run")
    summaries = {s.name: s for s in summarize(runs)}
    baseline = next(iter(summaries)) if baseline is None else baseline
    if baseline not in summaries:
        raise ValueError(f"baseline={baseline!r} is not a run name; valid choices: {', '.join(summaries)}")
    timings = dict(timings or {})
    unknown = sorted(set(timings) - set(summaries))
    if unknown:
        raise ValueError(f"timings for unknown run(s) {unknown}; valid choices: {', '.join(summaries)}")
    base_seconds = summaries[baseline].seconds_mean
    rows = []
    for name, s in summaries.items():
        ratio = low = high = None
        if name == baseline:
            ratio = 1.0
        elif timings:
            if name in timings:
                t = timings[name]
                ratio, low, high = float(t.ratio), float(t.low), float(t.high)
        elif base_seconds > 0:
            ratio = s.seconds_mean / base_seconds
        rows.append({"name": name, "method": s.method, "seeds": s.n, "trainable": s.trainable,
                     "checkpoint_bytes": s.checkpoint_bytes, "peak_memory": s.peak_memory,
                     "peak_memory_source": s.peak_memory_source, "time_ratio": ratio, "time_low": low,
                     "time_high": high, "accuracy_mean": s.accuracy_mean, "accuracy_se": s.accuracy_se})
    note = (f"time: median ratio to {baseline!r} over interleaved repeats (p25–p75)" if timings else
            f"time: mean training seconds relative to {baseline!r} (separate runs; noisy on a busy machine)")
    return ComparisonTable(rows, baseline, note)


__all__ = ["ComparisonTable", "SettingSummary", "comparison_table", "format_summary", "human_bytes", "summarize"]
