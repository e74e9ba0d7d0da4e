"""The course's figures: one function per kind of plot, shared by every lesson."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def plot_losses(curves: Mapping[str, Sequence[float]] | Sequence[float], title: str = "training loss",
                xlabel: str = "step", ylabel: str = "loss", ax=None):
    """Loss curves (one per name) on one axis; returns the axis."""
    import matplotlib.pyplot as plt

    if not isinstance(curves, Mapping):
        curves = {"loss": curves}
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), list(values), label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    return ax


def plot_bars(values: Mapping[str, float], title: str, ylabel: str, log: bool = False, ax=None,
              hlines: Mapping[str, float] | None = None, ranges: Mapping[str, tuple[float, float]] | None = None,
              fmt: str = "{:,.1f}"):
    """One bar per name with its value written on top; `hlines` maps a label to a reference line. Returns the axis.

    `ranges` maps a name to a (low, high) interval drawn as an error bar (a timing's p25–p75, a ± SE); the y axis
    leaves room above the tallest bar, line or interval, so the value written on top is never clipped.
    """
    import matplotlib.pyplot as plt

    ranges = dict(ranges or {})
    unknown = sorted(set(ranges) - set(values))
    if unknown:
        raise ValueError(f"ranges for unknown bar(s) {unknown}; valid choices: {', '.join(values)}")
    for name, (low, high) in ranges.items():
        if not low <= values[name] <= high:
            raise ValueError(f"range ({low}, {high}) of {name!r} does not contain its value {values[name]}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    for bar, (name, value) in zip(bars, values.items(), strict=True):  # above the bar, or above its range
        top_of = ranges[name][1] if name in ranges else value
        ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, top_of), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom")
    if ranges:
        names = list(ranges)
        x = [list(values).index(n) for n in names]
        y = [values[n] for n in names]
        err = [[values[n] - ranges[n][0] for n in names], [ranges[n][1] - values[n] for n in names]]
        ax.errorbar(x, y, yerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="gray", ls=":", label=label)
    ax.set(title=title, ylabel=ylabel)
    if log:
        ax.set_yscale("log")
    top = max([*values.values(), *(hlines or {}).values(), *(high for _, high in ranges.values())], default=0)
    if top > 0:
        room = (3.0 if log else 1.15) * (1.2 if hlines else 1.0)  # a legend for the lines goes above the labels
        ax.set_ylim(top=top * room)  # a factor on a log axis is a fixed height
    if hlines:
        ax.legend(fontsize=8, loc="upper right")
    return ax


def plot_token_bars(tokens: Sequence[str], values: Sequence[float], title: str, ylabel: str, ax=None):
    """One bar per token, the token written under it (slanted, so long pieces do not collide); returns the axis."""
    import matplotlib.pyplot as plt

    if len(tokens) != len(values):
        raise ValueError(f"{len(tokens)} tokens and {len(values)} values; they must match")
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(tokens) + 2), 3.2))
    ax.bar(range(len(tokens)), [float(v) for v in values], color="tab:orange")
    ax.set_xticks(range(len(tokens)), list(tokens), rotation=45, ha="right")
    ax.set(title=title, ylabel=ylabel)
    if own:
        ax.figure.tight_layout()  # room for the slanted labels
    return ax


MEMORY_COLORS = {"weights": "tab:blue", "quant_constants": "tab:cyan", "adapter_weights": "tab:olive",
                 "gradients": "tab:orange", "optimizer_states": "tab:red", "activations": "tab:green",
                 "overhead": "tab:gray", "step_transient": "tab:purple"}


def plot_memory_breakdown(columns: Mapping[str, object], unit: str = "GiB", components: Sequence[str] | None = None,
                          title: str = "training memory", ax=None):
    """One stacked bar per memory breakdown (estimated or measured), components in a fixed order and colour.

    `columns` maps a label to anything with the component attributes of `ftcourse.memory.Breakdown`;
    components that are zero in every column are left out of the legend.
    """
    import matplotlib.pyplot as plt

    scales = {"MiB": 2**20, "GiB": 2**30}
    if unit not in scales:
        raise ValueError(f"unknown unit {unit!r}; valid units: {', '.join(scales)}")
    if components is None:
        from ftcourse.memory.breakdown import COMPONENTS as components
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    shown = [c for c in components if any(getattr(b, c) for b in columns.values())]
    for x, breakdown in enumerate(columns.values()):
        bottom = 0.0
        for name in shown:
            value = getattr(breakdown, name) / scales[unit]
            ax.bar(x, value, bottom=bottom, color=MEMORY_COLORS.get(name, "tab:brown"),
                   label=name.replace("_", " ") if x == 0 else None)
            bottom += value
    ax.set_xticks(range(len(columns)), list(columns))
    ax.set(ylabel=unit, title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def smooth(values: Sequence[float], k: int = 3) -> list[float]:
    """Trailing mean over the last `k` values (fewer at the start): one batch's loss is noisy."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer")
    values = list(values)
    return [sum(values[max(0, i - k + 1): i + 1]) / len(values[max(0, i - k + 1): i + 1]) for i in range(len(values))]


def plot_setting_accuracy(settings: Mapping[str, Mapping[str, float]], title: str = "validation accuracy",
                          chance: float | None = 0.5, band: tuple[float, float] | None = None,
                          band_label: str = "baseline ± 2 standard errors", marks: Mapping[str, float] | None = None,
                          mark_label: str = "another run", ax=None):
    """One row per setting (sorted by trainable parameters, named with its count), accuracy in % on x.

    `settings`: name → {"accuracy", "trainable", optional "err" (half-width of the error bar)}.
    `band`: (low, high) accuracy drawn as a shaded band; `marks`: name → a second accuracy drawn as ×.
    Rows cannot overlap the way labels on a scatter do, and the legend sits outside the axes.
    """
    import matplotlib.pyplot as plt

    for name, row in settings.items():
        missing = {"accuracy", "trainable"} - set(row)
        if missing:
            raise ValueError(f"setting {name!r} lacks {sorted(missing)}; each needs accuracy and trainable")
    unknown = sorted(set(marks or {}) - set(settings))
    if unknown:
        raise ValueError(f"marks for unknown setting(s) {unknown}; valid: {', '.join(settings)}")
    names = sorted(settings, key=lambda n: (settings[n]["trainable"], n))
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.3 * len(names) + 1.2))
    ys = range(len(names))
    errs = [100 * settings[n].get("err", 0) or 0 for n in names]
    ax.errorbar([100 * settings[n]["accuracy"] for n in names], ys, xerr=errs, fmt="o", capsize=3,
                color="tab:blue", label="mean ± 2 standard errors" if any(errs) else "accuracy")
    if marks:
        mark_y = [y for y, n in zip(ys, names, strict=True) if n in marks]
        ax.scatter([100 * marks[n] for n in names if n in marks], mark_y, marker="x", color="gray", s=20,
                   label=mark_label, zorder=3)
    if chance is not None:
        ax.axvline(100 * chance, color="gray", ls=":", label="chance")
    if band is not None:
        ax.axvspan(100 * band[0], 100 * band[1], color="tab:orange", alpha=0.15, label=band_label)
    ax.set_yticks(list(ys), [f"{n}  ({settings[n]['trainable']:,})" for n in names], fontsize=8)
    ax.set(xlabel="validation accuracy (%)", title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_xy(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
            title: str = "", styles: Mapping[str, str] | None = None, log: str = "",
            hlines: Mapping[str, float] | None = None, ax=None):
    """Named (xs, ys) series on one axis, points by default ("o"; `styles` maps a name to e.g. "-" or "o-").

    `log` is "", "x", "y" or "xy" (the log-scaled axes); `hlines` maps a label to a horizontal reference
    line. For measurements set against a prediction, or one quantity against two candidate explanations
    (one call per panel). Returns the axis.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if log not in ("", "x", "y", "xy"):
        raise ValueError(f"log={log!r}; valid: '', 'x', 'y', 'xy'")
    unknown = sorted(set(styles or {}) - set(series))
    if unknown:
        raise ValueError(f"styles for unknown series {unknown}; valid: {', '.join(series)}")
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r} has {len(xs)} x values and {len(ys)} y values; they must match")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), (styles or {}).get(name, "o"), label=name)
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="gray", ls=":", label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for name, axis, set_scale in (("x", ax.xaxis, ax.set_xscale), ("y", ax.yaxis, ax.set_yscale)):
        if name in log:  # ticks at 1, 2, 5 × 10^n written as plain numbers (no crowded minor labels)
            set_scale("log")
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3)
    if len(series) + len(hlines or {}) > 1:
        ax.legend(fontsize=8)
    return ax


PERSISTENT = ("weights", "quant_constants", "adapter_weights", "optimizer_states")
PHASES = {"backward starts": ("activations", "overhead"), "optimizer step": ("gradients", "step_transient")}


def plot_memory_phases(columns: Mapping[str, object], unit: str = "GiB", title: str = "what is held at once",
                       measured: Mapping[str, float] | None = None, ax=None):
    """Two stacked bars per breakdown: what is held when backward starts and during the optimizer step.

    Backward starts with every saved activation plus the gradient of the logits (`overhead`); the step
    runs with every gradient plus its temporaries (`step_transient`); both sit on the persistent tensors
    (weights, constants, adapters, optimizer states). The taller bar is the breakdown's `peak`; a dashed
    line marks its `total` (every tensor counted once, transients left out). `measured` maps a column to
    a measured peak in bytes (e.g. CUDA's max_memory_allocated), drawn as a solid black line. Returns the axis.
    """
    import matplotlib.pyplot as plt

    scales = {"MiB": 2**20, "GiB": 2**30}
    if unit not in scales:
        raise ValueError(f"unknown unit {unit!r}; valid units: {', '.join(scales)}")
    unknown = sorted(set(measured or {}) - set(columns))
    if unknown:
        raise ValueError(f"measured peaks for unknown column(s) {unknown}; valid: {', '.join(map(str, columns))}")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.4 * len(columns) + 3, 3.8))
    order = [*PERSISTENT, *(c for parts in PHASES.values() for c in parts)]
    shown = [c for c in order if any(getattr(b, c) for b in columns.values())]
    ticks, phase_names = [], []
    for g, (name, breakdown) in enumerate(columns.items()):
        left = 2.6 * g
        for k, (phase, parts) in enumerate(PHASES.items()):
            bottom = 0.0
            for component in (*PERSISTENT, *parts):
                if component in shown:
                    value = getattr(breakdown, component) / scales[unit]
                    ax.bar(left + k, value, bottom=bottom, color=MEMORY_COLORS.get(component, "tab:brown"),
                           label=component.replace("_", " "))
                    bottom += value
            ticks.append(left + k)
            phase_names.append(phase.replace(" ", "\n", 1))
        ax.hlines(breakdown.total / scales[unit], left - 0.45, left + 1.45, colors="dimgray", linestyles="--",
                  label="total (every tensor once)")
        if name in (measured or {}):
            ax.hlines(measured[name] / scales[unit], left - 0.45, left + 1.45, colors="black", linewidth=2,
                      label="measured peak")
        ax.text(left + 0.5, -0.2, name, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=9)
    ax.set_xticks(ticks, phase_names, fontsize=8)
    ax.set(ylabel=unit, title=title)
    handles = dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))  # one handle per label
    labels = [c.replace("_", " ") for c in shown] + [k for k in ("total (every tensor once)", "measured peak")
                                                      if k in handles]
    ax.legend([handles[k] for k in labels], labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
