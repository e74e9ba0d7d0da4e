"""viz figures of lessons 01 and 02: bars with reference lines, per-token bars, memory by moment of the step."""

import pytest
from ftcourse import viz
from ftcourse.memory import estimate_training_memory


def test_bars_leave_room_for_their_labels_and_draw_reference_lines():
    for log in (False, True):
        ax = viz.plot_bars({"a": 4269.8, "b": 65.3}, "t", "y", log=log, hlines={"uniform": 4096})
        assert ax.get_ylim()[1] > 4269.8 * (2 if log else 1.1)  # the value written on the tallest bar fits
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uniform"]
        assert ax.lines[0].get_ydata()[0] == 4096


def test_token_bars_one_per_token():
    ax = viz.plot_token_bars(["␣the", "␣cat"], [1.5, 0.5], "t", "nats")
    assert [p.get_height() for p in ax.patches] == [1.5, 0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["␣the", "␣cat"]
    with pytest.raises(ValueError, match="2 tokens and 1 values"):
        viz.plot_token_bars(["a", "b"], [1.0], "t", "y")


def test_memory_phases_stack_to_the_two_moments_and_the_taller_is_the_peak():
    runs = {f"1×{s}": estimate_training_memory("tiny", batch_size=1, seq_len=s) for s in (16, 1024)}
    ax = viz.plot_memory_phases(runs, unit="MiB", measured={"1×16": runs["1×16"].peak})
    for g, breakdown in enumerate(runs.values()):
        heights = []
        for k in range(2):
            x = 2.6 * g + k
            heights.append(sum(p.get_height() for p in ax.patches if abs(p.get_x() + p.get_width() / 2 - x) < 1e-9))
        backward = breakdown.persistent + breakdown.activations + breakdown.overhead
        step = breakdown.persistent + breakdown.gradients + breakdown.step_transient
        assert heights == pytest.approx([backward / 2**20, step / 2**20])
        assert max(heights) == pytest.approx(breakdown.peak / 2**20)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-2:] == ["total (every tensor once)", "measured peak"] and len(labels) == len(set(labels))
    assert "quant constants" not in labels
    with pytest.raises(ValueError, match="unknown column"):
        viz.plot_memory_phases(runs, measured={"nope": 1.0})
    with pytest.raises(ValueError, match="MiB, GiB"):
        viz.plot_memory_phases(runs, unit="MB")
