import pytest
from ftcourse import viz
from ftcourse.memory import estimate_training_memory


def test_memory_breakdown_bars_stack_to_the_totals():
    runs = {p: estimate_training_memory("tiny", precision=p, batch_size=2, seq_len=64) for p in ("fp32", "bf16")}
    ax = viz.plot_memory_breakdown(runs, unit="MiB")
    for x, breakdown in enumerate(runs.values()):
        heights = sum(bar.get_height() for bar in ax.patches if abs(bar.get_x() + bar.get_width() / 2 - x) < 1e-9)
        assert heights == pytest.approx(breakdown.total / 2**20)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "activations" in labels and "quant constants" not in labels  # all-zero components are left out


def test_memory_breakdown_rejects_unknown_units():
    with pytest.raises(ValueError, match="MiB, GiB"):
        viz.plot_memory_breakdown({}, unit="MB")
