"""Run any method on a task over seeds; settings are data; the course's comparison table.

- `settings("lesson08")`: a settings file (baseline, named settings, sizes) from experiments/settings/.
- `run_one(base, tok, train_set, val_set, baseline=..., **setting)`: one method at one seed → RunResult
  (accuracy, loss per step, trainable parameters, checkpoint bytes, peak memory, seconds).
- `sweep(...)`: every setting × seed; `summarize` / `format_summary`: mean ± sd over seeds.
- `comparison_table(runs)`: one row per method or setting, as text and as plain dicts.
- `load_results(path)` / `reference_sweep("lesson08")`: what `ftcourse bench sweep --json` wrote.
- `prepare`, `record`, `checkpoint_bytes`: the pieces, for runs a lesson trains by hand.
- `course_table.add("03", runs, timings=..., reference="full")` / `course_table.load()`: the course's table,
  kept on disk so every lesson adds its rows (any order, any kernel); `step_timing(base, batch, setting)`:
  a step's time against full fine-tuning's on the same batch, the table's time column.
- `predict_memory(base, batch_size=, seq_len=, **setting)` → MemoryCheck: the estimator's prediction before
  a run; `.measure(model, batch)` / `.from_run(run)` set the measurement beside it (`.line()`, `.table()`).
"""

from ftcourse.experiments import course_table
from ftcourse.experiments.memcheck import MemoryCheck, measurement_batch, predict_memory
from ftcourse.experiments.runs import (
    HEAD,
    REFERENCE,
    RunResult,
    checkpoint_bytes,
    estimated_peak,
    load_results,
    prepare,
    record,
    reference_names,
    reference_sweep,
    run_one,
    sweep,
)
from ftcourse.experiments.spec import (
    METHODS,
    RUN_KEYS,
    SIZE_KEYS,
    Settings,
    check_setting,
    parse_settings,
    settings,
    settings_names,
    valid_keys,
)
from ftcourse.experiments.step_time import step_timing
from ftcourse.experiments.table import ComparisonTable, SettingSummary, comparison_table, format_summary, summarize

__all__ = ["HEAD", "METHODS", "REFERENCE", "RUN_KEYS", "SIZE_KEYS", "ComparisonTable", "MemoryCheck", "RunResult",
           "SettingSummary", "Settings", "check_setting", "checkpoint_bytes", "comparison_table", "course_table",
           "estimated_peak", "format_summary", "load_results", "measurement_batch", "parse_settings",
           "predict_memory", "prepare", "record", "reference_names", "reference_sweep", "run_one", "settings",
           "settings_names", "step_timing", "summarize", "sweep", "valid_keys"]
