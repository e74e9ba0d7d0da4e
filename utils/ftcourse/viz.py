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
