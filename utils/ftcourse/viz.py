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


def plot_bars(values: Mapping[str, float], title: str, ylabel: str, log: bool = False, ax=None):
    """One bar per name with its value written on top; returns the axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="{:,.1f}")
    ax.set(title=title, ylabel=ylabel)
    if log:
        ax.set_yscale("log")
    return ax


MEMORY_COLORS = {"weights": "tab:blue", "quant_constants": "tab:cyan", "adapter_weights": "tab:olive",
                 "gradients": "tab:orange", "optimizer_states": "tab:red", "activations": "tab:green",
                 "overhead": "tab:gray"}


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
