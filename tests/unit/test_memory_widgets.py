"""The memory calculator builds without a browser and its figure follows the controls."""

import matplotlib

matplotlib.use("Agg")

from ftcourse.memory import estimate_training_memory, gib  # noqa: E402
from ftcourse.widgets import memory_calculator  # noqa: E402


def bar_total(calc) -> float:
    """Height of the taller of the two phase bars (sum of its segments, GiB) read back from the figure."""
    ax = calc.figure.axes[0]
    heights = [sum(p.get_height() for p in ax.patches if x - 0.5 < p.get_x() < x + 0.5) for x in (0, 1)]
    return max(heights)  # the phase bars sit at x = 0 and 1


def test_builds_and_shows_the_estimate():
    calc = memory_calculator("tiny")
    assert set(calc.controls) == {"model", "method", "precision", "optimizer", "batch", "seq", "checkpointing",
                                  "rank", "targets"}
    v = calc.values()
    expected = estimate_training_memory("tiny", precision=v["precision"], batch_size=v["batch"], seq_len=v["seq"])
    assert calc.estimate.as_dict() == expected.as_dict()
    assert abs(bar_total(calc) - gib(expected.peak)) < 1e-9
    assert "T4" in calc.summary.value and calc.controls["rank"].disabled  # rank means nothing for full FT


def test_changing_controls_updates_numbers_and_figure():
    calc = memory_calculator("SmolLM2-135M")
    before_total, before_bar = calc.estimate.total, bar_total(calc)
    calc.controls["batch"].value = calc.controls["batch"].value * 2
    assert calc.estimate.total > before_total and bar_total(calc) > before_bar
    calc.controls["method"].value = "lora"
    assert not calc.controls["rank"].disabled and calc.estimate.gradients < before_total / 100
    lora_total = calc.estimate.total
    calc.controls["rank"].value = 128
    assert calc.estimate.total > lora_total
    without = calc.estimate.activations
    calc.controls["checkpointing"].value = True
    assert calc.estimate.activations < without / 2
    assert "activations" in calc.summary.value


def test_impossible_combination_is_explained_not_raised():
    calc = memory_calculator("tiny")
    calc.controls["method"].value = "qlora"
    calc.controls["precision"].value = "mixed"
    assert calc.estimate is None and "mixed" in calc.summary.value and "valid choices" in calc.summary.value
    calc.controls["precision"].value = "bf16"
    assert calc.estimate is not None and calc.estimate.quant_constants > 0
