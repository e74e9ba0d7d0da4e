"""The check framework's primitives: closeness with one known-mistakes shape, tensors, hidden and non-stopping parts,
learner calls with hints; and the machinery's layering (it imports nothing from ftcourse outside grading)."""

import ast
import stat
from pathlib import Path

import pytest
import torch
from ftcourse.grading import answers
from ftcourse.grading._io import atomic_write_text
from ftcourse.grading.answers import Answers, Question, close, mistake_pairs, run
from ftcourse.grading.lab import feedback

GRADING = Path(answers.__file__).parent


def check(func, ns=None, points=2):
    """Run `func` as the check of a question worth `points` against namespace `ns`."""
    return run(Question("q1", points, func), ns or {})


def test_expect_close_names_the_mistake_from_a_dict():
    def q(a: Answers) -> None:
        a.expect_close(a.value("loss"), 2.0, rel=1e-4, what="your loss",
                       mistakes={20.0: "that is the sum; take the mean.", -2.0: "wrong sign."},
                       hint="average -log p.")

    assert check(q, {"loss": 2.00001}).status == "pass"
    assert check(q, {"loss": torch.tensor(2.0)}).status == "pass", "a 0-d tensor is a number"
    said = "your loss is 20.0001, expected 2. Hint: that is the sum; take the mean."
    assert check(q, {"loss": 20.0001}).message == said
    assert check(q, {"loss": 3.0}).message.endswith("Hint: average -log p.")
    assert "should be a single number" in check(q, {"loss": torch.ones(3)}).message


def test_expect_close_with_pairs_of_tensors_and_the_scale_aware_rule():
    want = torch.tensor([1000.0, 1e-3, -5.0])  # elementwise allclose(rtol=1e-6) would fail on the 1e-3 entry
    noisy = want + torch.tensor([0.0, 2e-5, 0.0])  # 2e-5 off: 2e-8 of the largest magnitude
    swapped = want.flip(0)

    def q(a: Answers) -> None:
        a.expect_close(a.value("out"), want, what="your output", mistakes=[(swapped, "you reversed it.")],
                       hint="compare with the reference.")

    assert check(q, {"out": noisy}).status == "pass"
    message = check(q, {"out": swapped}).message
    assert message.startswith("your output: max |Δ| = 1e+03, 1 of the reference")
    assert message.endswith("Hint: you reversed it.")
    assert "it has shape (2,), expected (3,)" in check(q, {"out": want[:2]}).message
    assert "it is a list, not a tensor" in check(q, {"out": [1000.0, 1e-3, -5.0]}).message
    assert "max |Δ| = inf" in check(q, {"out": torch.tensor([float("nan"), 0.0, 0.0])}).message


def test_tensor_tolerance_comes_from_the_dtype_and_the_depth():
    want = torch.ones(4)
    assert answers.tensor_tolerance(want) == pytest.approx(8 * torch.finfo(torch.float32).eps)
    assert answers.tensor_tolerance(want, want.bfloat16(), depth=3) == pytest.approx(24 * 2**-7)
    off = want * (1 + 3e-6)
    assert not close(off, want) and close(off, want, depth=4) and close(off, want, rel=1e-5)
    assert close(off, want, rel=0.0, abs=1e-5) and not close(off, want, rel=0.0, abs=1e-7)
    assert close(torch.zeros(3), torch.zeros(3)) and not close(torch.full((3,), 1e-30), torch.zeros(3))
    assert answers.tensor_tolerance(torch.arange(3)) == 0.0, "integer tensors compare exactly"


def test_integers_compare_exactly_at_zero_tolerance():
    big = 2**60
    assert close(big, big, rel=0) and not close(big + 1, big, rel=0)
    assert close(3.0, 3, rel=0) and not close(True, 1), "a bool is not a number"


def test_the_one_mistakes_shape_is_normalised():
    assert mistake_pairs({1: "one"}) == mistake_pairs([(1, "one")]) == [(1, "one")]
    assert mistake_pairs(None) == []
    pairs = [(0, "first"), (0, "second")]  # values that coincide: a dict would keep one, pairs keep the order
    assert answers.match_mistake(0, pairs) == "first"
    for bad in ["hint", [(1, 2)], [(1,)], 3]:
        with pytest.raises(TypeError):
            mistake_pairs(bad)


def test_expect_equal_and_its_mistakes():
    def q(a: Answers) -> None:
        a.expect_equal(a.value("name"), "T4 16 GB", mistakes={"L4 24 GB": "it fits a T4 too."}, hint="the smallest.")

    assert check(q, {"name": "T4 16 GB"}).status == "pass"
    said = "your answer is 'L4 24 GB', expected 'T4 16 GB'. Hint: it fits a T4 too."
    assert check(q, {"name": "L4 24 GB"}).message == said
    assert check(q, {"name": None}).message.endswith("Hint: the smallest.")


def test_expect_tensor_shape_failure_names_the_shapes():
    def q(a: Answers) -> None:
        with a.part("ΔW", points=1):
            got = a.expect_tensor(a.value("dw"), "delta_weight(layer)", shape=(3, 2),
                                  mistakes={(2, 3): "that is the transpose."}, hint="B @ A is out × in.")
            assert not got.requires_grad

    assert check(q, {"dw": torch.zeros(3, 2, requires_grad=True)}, points=1).status == "pass"
    assert check(q, {"dw": torch.zeros(2, 3)}).message == (
        "delta_weight(layer) has shape (2, 3), expected (3, 2). Hint: that is the transpose.")
    assert check(q, {"dw": torch.zeros(4, 2)}).message.endswith("Hint: B @ A is out × in.")
    assert check(q, {"dw": [[0, 0]] * 3}).message.startswith("delta_weight(layer) returned list, not a tensor.")

    def typed(a: Answers) -> None:
        a.expect_tensor(a.value("ids"), "ids", shape=(None, 4), dtype=torch.long)

    assert check(typed, {"ids": torch.zeros(7, 4, dtype=torch.long)}).status == "pass"
    assert "has dtype torch.float32, expected torch.int64" in check(typed, {"ids": torch.zeros(7, 4)}).message


def test_a_non_stopping_value_fails_only_its_part():
    def q(a: Answers) -> None:
        with a.part("first", points=1):
            a.value("first", int, stop=False)
        with a.part("second", points=1):
            a.value("second", int, stop=False)

    result = check(q, {"second": 2})
    assert (result.points, result.status) == (1, "fail")
    assert result.message.startswith("`first` is not defined.")
    assert [(p.name, p.earned) for p in result.parts] == [("first", 0), ("second", 1)]

    def stopping(a: Answers) -> None:
        with a.part("first", points=1):
            a.value("first")
        with a.part("second", points=1):
            pass

    assert [p.name for p in check(stopping, {}).parts] == ["first"], "a stopping value ends the question"


def test_call_hint_becomes_the_failures_hint_and_a_stub_costs_each_part_once():
    def broken(x):
        raise ValueError("bad shape")

    def stub(x):
        raise NotImplementedError("q1")

    def q(a: Answers) -> None:
        func = a.value("func")
        with a.part("one", points=1):
            a.call(func, 1, hint="A goes first, then B.")
        with a.part("two", points=1):
            a.call(func, 2, hint="A goes first, then B.")

    result = check(q, {"func": broken})
    assert result.status == "error" and result.points == 0
    assert result.message == "`broken` raised ValueError: bad shape. Hint: A goes first, then B."
    result = check(q, {"func": stub})
    assert result.status == "fail" and [p.earned for p in result.parts] == [0, 0], "both parts ran"
    assert result.message == ("`stub` still raises NotImplementedError. Hint: replace the `raise "
                              "NotImplementedError(...)` line with your answer."), "said once, not per part"


def test_a_hidden_part_is_shown_as_hidden_and_reported_in_full():
    def q(a: Answers) -> None:
        with a.part("visible", points=1):
            a.expect_equal(a.value("x"), 6, hint="double it.")
        with a.part("x for a 37 × 53 layer", points=1, hidden=True):
            a.expect_equal(a.value("y"), 74, message="y is 37, expected 74.", hint="double it.")

    result = check(q, {"x": 6, "y": 37})
    assert (result.points, result.status) == (1, "fail")
    shown = feedback(result)
    assert "✔ visible (1/1)" in shown and "✘ a hidden test (0/1)" in shown
    assert "37" not in shown and "74" not in shown, "lab.check never spells out a hidden part"
    assert result.message == "(hidden test 'x for a 37 × 53 layer') y is 37, expected 74. Hint: double it."
    assert result.parts[1].hidden
    assert result.to_dict()["parts"][1]["message"] == "y is 37, expected 74. Hint: double it."
    assert "✔ a hidden test (1/1)" in feedback(check(q, {"x": 6, "y": 74}))


def test_atomic_write_replaces_whole_files_and_keeps_the_mode(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_text(path, "{}\n")
    path.chmod(0o644)
    atomic_write_text(path, '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n' and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "no temporary file is left behind"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_machinery_imports_nothing_else_from_ftcourse():
    machinery = [p for p in GRADING.rglob("*.py") if not (p.parent.name == "checks" and p.stem.startswith("lab"))]
    assert {p.name for p in machinery} >= {"answers.py", "results.py", "grade.py", "report.py", "lab.py", "_io.py"}
    for path in machinery:
        outside = {m for m in _imports(path) if m.split(".")[0] == "ftcourse" and not m.startswith("ftcourse.grading")}
        assert not outside, f"{path.relative_to(GRADING)} imports {sorted(outside)}"
    assert "ftcourse.grading.grade" not in _imports(GRADING / "report.py"), "report and grade share results.py"
    assert "ftcourse.grading.grade" not in _imports(GRADING / "results.py")
