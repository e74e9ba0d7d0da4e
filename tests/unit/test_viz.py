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


def test_smooth_is_a_trailing_mean():
    assert viz.smooth([1.0, 3.0, 5.0, 7.0], k=2) == [1.0, 2.0, 4.0, 6.0]
    assert viz.smooth([2.0, 4.0], k=5) == [2.0, 3.0]
    with pytest.raises(ValueError, match="k=0"):
        viz.smooth([1.0], k=0)


def test_setting_accuracy_rows_are_sorted_by_cost_and_marks_land_on_their_row():
    rows = {"big": {"accuracy": 0.9, "trainable": 1000, "err": 0.02}, "small": {"accuracy": 0.6, "trainable": 10},
            "mid": {"accuracy": 0.7, "trainable": 100}}
    ax = viz.plot_setting_accuracy(rows, band=(0.55, 0.65), marks={"mid": 0.75})
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["small  (10)", "mid  (100)", "big  (1,000)"]
    points = ax.collections[-1].get_offsets()  # the × marks
    assert points.tolist() == [[75.0, 1.0]]
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # the legend is outside
    with pytest.raises(ValueError, match="trainable"):
        viz.plot_setting_accuracy({"x": {"accuracy": 0.5}})
    with pytest.raises(ValueError, match="unknown setting"):
        viz.plot_setting_accuracy(rows, marks={"nope": 0.5})


def test_plot_xy_draws_each_series_and_reference_lines():
    ax = viz.plot_xy({"measured": ([1, 2, 4], [2.0, 4.0, 8.0]), "rule": ([1, 4], [2.0, 8.0])}, "r", "size",
                     styles={"rule": "-"}, log="xy", hlines={"limit": 5.0})
    assert [list(line.get_xdata()) for line in ax.lines[:2]] == [[1, 2, 4], [1, 4]]
    assert ax.lines[1].get_linestyle() == "-" and ax.lines[0].get_marker() == "o"
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["measured", "rule", "limit"]
    with pytest.raises(ValueError, match="valid: '', 'x', 'y', 'xy'"):
        viz.plot_xy({}, "x", "y", log="z")
    with pytest.raises(ValueError, match="3 x values and 2 y values"):
        viz.plot_xy({"bad": ([1, 2, 3], [1, 2])}, "x", "y")
    with pytest.raises(ValueError, match="unknown series"):
        viz.plot_xy({"a": ([1], [1])}, "x", "y", styles={"b": "-"})


def test_bars_draw_ranges_as_error_bars_and_leave_room_above_them():
    ax = viz.plot_bars({"full": 1.0, "LoRA": 0.9}, "time", "× full", ranges={"LoRA": (0.8, 1.6)}, fmt="{:.2f}")
    caps = [line for line in ax.lines if line.get_marker() == "_"]
    assert sorted(round(float(line.get_ydata()[0]), 6) for line in caps) == [0.8, 1.6]
    assert ax.get_ylim()[1] >= 1.6 * 1.15 - 1e-9
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.90"]
    with pytest.raises(ValueError, match="unknown bar"):
        viz.plot_bars({"full": 1.0}, "t", "x", ranges={"nope": (0, 2)})
    with pytest.raises(ValueError, match="does not contain"):
        viz.plot_bars({"full": 1.0}, "t", "x", ranges={"full": (1.1, 2)})
