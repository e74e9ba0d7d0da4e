"""`Lab` in a notebook: check() never raises and says what to fix; summary() raises while points are missing."""

import pytest
from ftcourse.grading import Lab, LabIncomplete, answers, checks
from ftcourse.grading.answers import Answers, Question
from lab_fixtures import CHECKS


@pytest.fixture
def ns(monkeypatch):
    monkeypatch.setenv(checks.CHECKS_DIR_ENV, str(CHECKS))
    return {}


def test_check_prints_and_never_raises(ns, capsys):
    lab = Lab("lab99", namespace=ns)
    assert lab.check("q1") is None
    assert "❌ q1 · 0/2 points · fail" in capsys.readouterr().out
    exec("def double(x):\n    raise NotImplementedError('q1')", ns)
    lab.check("q1")
    assert "still raises NotImplementedError" in capsys.readouterr().out
    exec("def double(x):\n    return 2 * x if x < 0 else 1 / 0", ns)
    lab.check("q1")
    out = capsys.readouterr().out
    assert "1/2 points · error" in out and "ZeroDivisionError: division by zero" in out and "Hint:" in out
    assert "Traceback" not in out
    exec("def double(x):\n    return 2 * x if x > 0 else 1 / 0", ns)  # the hidden part errs: shown, not spelled out
    lab.check("q1")
    out = capsys.readouterr().out
    assert "1/2 points · error" in out and "✘ a hidden test (0/1)" in out
    assert "ZeroDivisionError" not in out and "-1.5" not in out
    assert "(hidden test 'double(-1.5) is -3.0') `double` raised ZeroDivisionError" in lab.results["q1"].message
    exec("def double(x):\n    return 2 * x", ns)
    lab.check("q1")
    assert "✅ q1 · 2/2 points" in capsys.readouterr().out


def test_exits_and_interrupts_in_learner_code_are_feedback(ns, capsys):
    lab = Lab("lab99", namespace=ns)
    exec("import sys\ndef greet(name):\n    sys.exit(3)", ns)
    lab.check("q2")
    assert "stopped with sys.exit()" in capsys.readouterr().out
    exec("def greet(name):\n    raise KeyboardInterrupt", ns)
    lab.check("q2")
    assert "KeyboardInterrupt" in capsys.readouterr().out


def test_a_broken_check_is_reported_not_raised(ns, capsys):
    lab = Lab("lab99", namespace=ns)

    def buggy(a: Answers) -> None:
        raise RuntimeError("bug in the check")

    lab.questions["q3"] = Question("q3", 2, buggy)
    lab.check("q3")
    assert "the check itself failed (RuntimeError: bug in the check)" in capsys.readouterr().out
    assert lab.results["q3"].status == "error"


def test_unknown_question(ns, capsys):
    Lab("lab99", namespace=ns).check("q9")
    assert "has no question 'q9'; questions: q1, q2, q3" in capsys.readouterr().out


def test_unknown_lab_names_the_valid_ones(ns):
    with pytest.raises(ValueError, match="lab99"):
        Lab("lab42")
    with pytest.raises(ValueError, match="named like 'lab01'"):
        Lab("tokens")


def test_summary_raises_until_full_marks(ns, capsys):
    lab = Lab("lab99", namespace=ns)
    exec("def double(x):\n    return 2 * x\ndef greet(name):\n    return 'hi'\nSQUARES = [0, 1, 4, 9, 16]", ns)
    for qid in ("q1", "q2"):
        lab.check(qid)
    with pytest.raises(LabIncomplete, match=r"2/6 points; not yet full marks: q2, q3"):
        lab.summary()
    assert "not checked yet" in capsys.readouterr().out
    exec("def greet(name):\n    return f'hello {name}'", ns)
    lab.check("q2")
    lab.check("q3")
    lab.summary()
    assert "🎉 full marks" in capsys.readouterr().out


def test_partial_credit_and_parts():
    def two_parts(a: Answers) -> None:
        with a.part("first", points=1):
            pass
        with a.part("second", points=2):
            a.fail("wrong", hint="think again")

    result = answers.run(Question("q1", 3, two_parts), {})
    assert (result.points, result.status) == (1, "fail")
    assert result.message == "wrong Hint: think again"
    assert [(p.name, p.earned) for p in result.parts] == [("first", 1), ("second", 0)]


def test_missing_answers_stop_the_question():
    def uses(a: Answers) -> None:
        a.value("answer", int)

    assert answers.run(Question("q1", 1, uses), {}).message.startswith("`answer` is not defined.")
    assert "still `...`" in answers.run(Question("q1", 1, uses), {"answer": ...}).message
    assert "should be a int, but it is a str" in answers.run(Question("q1", 1, uses), {"answer": "4"}).message


def test_number_accepts_tensors_and_floats_only():
    import torch

    assert Answers.number(torch.tensor(2.5)) == 2.5
    for bad, text in [(torch.ones(2), "single number"), ("1.0", "a number"), (float("nan"), "not a finite")]:
        with pytest.raises(answers.Fail, match=text):
            Answers.number(bad)


def test_question_points_are_validated():
    with pytest.raises(ValueError, match="positive integer"):
        answers.question("q1", points=0)


def test_the_old_import_path_still_works():
    from ftcourse.grading.checks import Answers as Same
    from ftcourse.grading.checks import question as same_question

    assert Same is Answers and same_question is answers.question and checks.run is answers.run


def test_registry_lists_labs(ns):
    assert "lab01" in checks.available() and "lab99" in checks.available()
    assert list(checks.load("lab01")) == ["q1", "q2", "q3", "q4"]
    assert sum(q.points for q in checks.load("lab01").values()) == 11
