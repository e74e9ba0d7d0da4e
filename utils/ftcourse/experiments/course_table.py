"""The course comparison table, grown lesson by lesson and kept on disk, so lessons may run in any order and kernel.

>>> t = experiments.step_timing(base, batch, {"method": "lora", "r": 16})        # vs full fine-tuning's step
>>> experiments.course_table.add("03", runs, timings={"LoRA": t}, reference="full")  # replaces lesson 03's rows
>>> print(experiments.course_table.load())     # every lesson's rows so far, in lesson order, and what is missing

A row: trainable parameters, checkpoint bytes, peak memory, time ratio (one step against full fine-tuning's
on the same batch, measured in the lesson that adds the row, with `step_timing`) and accuracy mean ± SE over
seeds (`runs` holds every seed). Rows are kept per mode in `course_table_<mode>.json` under
$FTCOURSE_RESULTS_DIR (default: $XDG_CACHE_HOME/ftcourse or ~/.cache/ftcourse), written atomically under a
lock; a missing or unreadable file loads as an empty table with a note saying so.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ftcourse._util import atomic_write_text
from ftcourse.experiments.runs import RunResult
from ftcourse.experiments.table import ComparisonTable, summarize

RESULTS_ENV = "FTCOURSE_RESULTS_DIR"
VERSION = 1
# The lessons that add rows, and what they add (a lesson may add rows without being listed here).
LESSONS: dict[str, str] = {
    "03": "full fine-tuning and LoRA (peft)",
    "04": "full fine-tuning with mixed precision and activation checkpointing",
    "08": "LoRA variants (DoRA, rsLoRA at the baseline's update scale)",
    "10": "QLoRA",
    "11": "bottleneck adapters",
    "12": "prefix and prompt tuning",
    "13": "BitFit and IA³",
}
TIME_NOTE = ("time: one step's median ratio to full fine-tuning's step on the same batch, measured in the row's "
             "lesson (interleaved repeats, p25–p75)")
ROW_KEYS = ("name", "method", "seeds", "trainable", "checkpoint_bytes", "peak_memory", "peak_memory_source",
            "time_ratio", "time_low", "time_high", "accuracy_mean", "accuracy_se")


def results_dir() -> Path:
    """Where the table's file lives: $FTCOURSE_RESULTS_DIR, else $XDG_CACHE_HOME/ftcourse, else ~/.cache/ftcourse."""
    chosen = os.environ.get(RESULTS_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "ftcourse"


def path(mode: str | None = None) -> Path:
    """The results file of `mode` (default: the current mode; smoke and full rows never mix)."""
    if mode is None:
        from ftcourse import env

        mode = env.mode()
    if mode not in ("smoke", "full"):
        raise ValueError(f"mode={mode!r} is not valid; valid choices: smoke, full")
    return results_dir() / f"course_table_{mode}.json"


def _lesson(lesson) -> str:
    """'3', 3 or '03' → '03'."""
    text = str(lesson).strip() if not isinstance(lesson, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= 99:
        raise ValueError(f"lesson={lesson!r} must be a lesson number such as '03'; lessons that add rows: "
                         f"{', '.join(LESSONS)}")
    return f"{int(text):02d}"


def _read(file: Path) -> tuple[dict[str, dict], list[str]]:
    """(lesson → its entry, notes): what the file holds, tolerating a missing, corrupt or partly bad file."""
    if not file.exists():
        return {}, []
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("lessons"), dict):
            raise ValueError("it has no 'lessons' mapping")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {}, [f"could not read {file} ({type(exc).__name__}: {exc}); no rows from it (a lesson that adds "
                    "rows writes a fresh file)"]
    lessons, notes = {}, []
    for lesson, entry in data["lessons"].items():
        rows = entry.get("rows") if isinstance(entry, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) and set(ROW_KEYS) <= set(r) for r in rows):
            notes.append(f"lesson {lesson}'s rows in {file} are damaged and left out: rerun lesson {lesson}")
            continue
        lessons[lesson] = entry
    return lessons, notes


@contextlib.contextmanager
def _locked(file: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `file` (POSIX; elsewhere the atomic write alone), so parallel adds don't clash."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    with open(file.with_name(file.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _json_number(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def rows_of(runs: Sequence[RunResult], timings: Mapping[str, object] | None = None,
            reference: str | None = None) -> list[dict]:
    """One row per run name (seeds pooled): cost, memory, accuracy, and the time ratio from `timings` (name → Timing).

    `reference`: the row that is full fine-tuning's own step (ratio 1 by definition). A row with neither shows "—".
    """
    if not runs:
        raise ValueError("a lesson adds at least one run")
    summaries = summarize(runs)
    names = [s.name for s in summaries]
    timings = dict(timings or {})
    unknown = sorted(set(timings) - set(names)) + ([reference] if reference is not None and reference not in names
                                                   else [])
    if unknown:
        raise ValueError(f"timings/reference for unknown run(s) {unknown}; valid choices: {', '.join(names)}")
    rows = []
    for s in summaries:
        ratio = low = high = None
        if s.name == reference:
            ratio = 1.0
        elif s.name in timings:
            t = timings[s.name]
            ratio, low, high = float(t.ratio), float(t.low), float(t.high)
        rows.append({"name": s.name, "method": s.method, "seeds": s.n, "trainable": s.trainable,
                     "checkpoint_bytes": s.checkpoint_bytes, "peak_memory": s.peak_memory,
                     "peak_memory_source": s.peak_memory_source, "time_ratio": ratio, "time_low": low,
                     "time_high": high, "accuracy_mean": s.accuracy_mean, "accuracy_se": s.accuracy_se})
    return rows


def add(lesson, runs: Sequence[RunResult], timings: Mapping[str, object] | None = None, *,
        reference: str | None = None, mode: str | None = None) -> Path:
    """Write `lesson`'s rows (from `runs`, every seed), replacing the rows it wrote before; returns the file.

    `timings`: run name → `step_timing(...)` against full fine-tuning on the same batch; `reference`: the run
    that is full fine-tuning itself (its ratio is 1). Other lessons' rows are kept; an unreadable file is
    moved aside to `<file>.corrupt` (and said so) before the new one is written.
    """
    lesson = _lesson(lesson)
    rows = [{k: _json_number(v) for k, v in row.items()} for row in rows_of(runs, timings, reference)]
    file = path(mode)
    file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(file):
        lessons, notes = _read(file)
        if notes and not lessons and file.exists():
            os.replace(file, file.with_name(file.name + ".corrupt"))
            print(f"course table: {notes[0]}; moved it to {file.name}.corrupt")
        lessons[lesson] = {"rows": rows, "written": datetime.datetime.now().isoformat(timespec="seconds")}
        text = json.dumps({"version": VERSION, "lessons": dict(sorted(lessons.items()))}, indent=1,
                          ensure_ascii=False)
        atomic_write_text(file, text + "\n")
    return file


def load(mode: str | None = None) -> ComparisonTable:
    """Every row so far in lesson order (a missing or corrupt file gives no rows, with a note), and what is absent.

    `table.rows` are plain dicts with a `lesson` key; `table.notes` says which lessons have not added rows yet.
    """
    file = path(mode)
    lessons, notes = _read(file)
    if not lessons and not notes:
        notes.append(f"no rows in {file} yet")
    rows = []
    for lesson in sorted(lessons):
        for row in lessons[lesson]["rows"]:
            rows.append({"lesson": lesson, **{k: (math.nan if k == "accuracy_se" and v is None else v)
                                              for k, v in row.items()}})
    absent = [f"{n} ({what})" for n, what in LESSONS.items() if n not in lessons]
    if absent:
        notes.append("no rows yet from lesson " + ", ".join(absent) + ": run those lessons to add them")
    return ComparisonTable(rows, "full fine-tuning", TIME_NOTE, notes=notes)


def clear(mode: str | None = None) -> None:
    """Remove the results file of `mode` (start the table afresh)."""
    path(mode).unlink(missing_ok=True)


__all__ = ["LESSONS", "RESULTS_ENV", "TIME_NOTE", "add", "clear", "load", "path", "results_dir", "rows_of"]
