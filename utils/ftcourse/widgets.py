"""ipywidgets explorers for the lessons: move a knob, watch the numbers change."""

from __future__ import annotations

import html

from ftcourse.memory.breakdown import COMPONENTS, gib

_COLORS = {"weights": "tab:blue", "quant_constants": "tab:cyan", "adapter_weights": "tab:olive",
           "gradients": "tab:orange", "optimizer_states": "tab:red", "activations": "tab:green",
           "overhead": "lightgray", "step_transient": "moccasin"}


def _memory_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.8))
    fig.add_subplot(1, 1, 1)
    return fig


PHASES = {"forward + backward": ("activations", "overhead"), "optimizer step": ("gradients", "step_transient")}


def _draw(fig, est, rule: int, accel: int, hardware) -> None:
    """Two stacked bars of the estimate, one per phase of a step (the taller is the peak), next to the rules
    of thumb, with GPU capacity lines."""
    ax = fig.axes[0]
    ax.clear()
    top, labelled = 0.0, set()
    for phase, extra in PHASES.items():
        bottom = 0.0
        for name in (*(c for c in COMPONENTS if c not in ("activations", "gradients")), *extra):
            value = gib(getattr(est, name))
            if value > 0:
                label = None if name in labelled else name.replace("_", " ")
                labelled.add(name)
                ax.bar([phase], [value], bottom=[bottom], color=_COLORS[name], label=label)
                bottom += value
        top = max(top, bottom)
    ax.bar(["20 B/param rule"], [gib(rule)], color="tab:gray")
    ax.bar(["accelerate-style"], [gib(accel)], color="tab:purple")
    top = max(top, gib(rule), gib(accel))
    for gpu in hardware.GPUS:
        usable = gib(gpu.usable_bytes)
        if usable <= 1.6 * top:
            ax.axhline(usable, color="black", lw=0.8, ls="--")
            ax.text(3.45, usable, gpu.name, va="bottom", ha="right", fontsize=7)
    ax.set(ylabel="GiB", title=f"training memory: peak {gib(est.peak):.2f} GiB (sum of all parts "
                               f"{gib(est.total):.2f} GiB; they never all coexist)")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()


class MemoryCalculator:
    """The memory calculator: `controls` (name -> widget), `figure`, the latest `estimate`, and `widget` to show."""

    def __init__(self, model: str = "SmolLM2-135M"):
        import ipywidgets as w

        from ftcourse.memory import configs, estimate, hardware

        self._estimate_mod, self._hardware = estimate, hardware
        style = {"description_width": "110px"}
        self.controls = {
            "model": w.Dropdown(options=configs.names(), value=model, description="model", style=style),
            "method": w.Dropdown(options=estimate.METHODS, value="full", description="method", style=style),
            "precision": w.Dropdown(options=estimate.PRECISIONS, value="bf16", description="precision", style=style),
            "optimizer": w.Dropdown(options=estimate.OPTIMIZERS, value="adamw", description="optimizer",
                                    style=style),
            "batch": w.IntSlider(value=4, min=1, max=64, description="batch", style=style),
            "seq": w.IntSlider(value=512, min=64, max=8192, step=64, description="sequence", style=style),
            "checkpointing": w.Checkbox(value=False, description="activation checkpointing"),
            "rank": w.Dropdown(options=[4, 8, 16, 32, 64, 128], value=16, description="LoRA rank r", style=style),
            "targets": w.Dropdown(options=["q_proj,v_proj", "all-linear"], value="q_proj,v_proj",
                                  description="LoRA targets", style=style),
        }
        self.figure = _memory_figure()
        self.output = w.Output()
        self.summary = w.HTML()
        self.estimate = None
        for control in self.controls.values():
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.HBox([w.VBox(list(self.controls.values())), w.VBox([self.output, self.summary])])
        self.update()

    def values(self) -> dict:
        """The controls' current values."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        """Re-estimate from the controls, redraw the figure and the hardware line (errors shown, not raised)."""
        from IPython import get_ipython
        from IPython.display import display

        v = self.values()
        lora = v["method"] != "full"
        self.controls["rank"].disabled = self.controls["targets"].disabled = not lora
        try:
            est = self._estimate_mod.estimate_training_memory(
                v["model"], method=v["method"], precision=v["precision"], optimizer=v["optimizer"],
                batch_size=v["batch"], seq_len=v["seq"], activation_checkpointing=v["checkpointing"],
                r=v["rank"], target_modules=v["targets"])
        except ValueError as exc:  # e.g. QLoRA with precision "mixed": say why instead of showing stale numbers
            self.estimate = None
            self.figure.axes[0].clear()
            self.figure.axes[0].text(0.5, 0.5, "cannot estimate this combination", ha="center", va="center")
            self.summary.value = f"<b>cannot estimate:</b> {html.escape(str(exc))}"
            return
        self.estimate = est
        _draw(self.figure, est, self._estimate_mod.rule_of_thumb(v["model"]),
              self._estimate_mod.accelerate_style(v["model"], v["precision"]), self._hardware)
        self.summary.value = f"<pre>{est.table()}</pre><p>{self._hardware.suggest_hardware(est).line()}</p>"
        if get_ipython() is not None:  # in a notebook the figure shows inside the widget; elsewhere nothing prints
            self.output.clear_output(wait=True)
            with self.output:
                display(self.figure)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def memory_calculator(model: str = "SmolLM2-135M") -> MemoryCalculator:
    """An interactive training-memory estimate: pick model, method, precision, optimizer, batch, sequence, ..."""
    return MemoryCalculator(model)
