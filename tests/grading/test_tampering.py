"""Tampering with check and locked cells, faked results, and notebooks the grader cannot read."""

import json
import subprocess
import sys

import pytest
from ftcourse.grading import grade
from lab_fixtures import CHECKS, FAULTS, OPTIONS, SOLUTION, SOLUTIONS, assert_grades, grade_faults, write_fault

NAMES = ["edited_check", "deleted_check", "duplicated_ids", "check_to_markdown", "showtraceback"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_faults(tmp_path_factory, NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_tampering_is_graded_fairly(graded, name):
    assert_grades(graded[0][name], FAULTS[name])


def test_restored_cells_are_the_canonical_ones(graded):
    executed = json.loads((graded[1] / "lab99_edited_check" / "executed.ipynb").read_text())
    check = next(c for c in executed["cells"] if c["id"] == "q1-check")
    assert check["source"] == 'lab.check("q1")'
    assert "1/2 points" in check["outputs"][0]["text"], "the check cell shows the real result, not the fake one"


def test_a_hidden_part_is_named_in_the_reports_only(graded):
    output = "".join(o.get("text", "") for o in next(
        c for c in json.loads((graded[1] / "lab99_edited_check" / "executed.ipynb").read_text())["cells"]
        if c["id"] == "q1-check")["outputs"])
    assert "✘ a hidden test (0/1)" in output and "-1.5" not in output, "the notebook does not spell out hidden inputs"
    said = "(hidden test 'double(-1.5) is -3.0') double(-1.5) returned 1.5, expected -3.0."
    q1 = json.loads((graded[1] / "results.json").read_text())["notebooks"][0]["questions"][0]
    assert said in q1["message"], "results.json names the hidden part and what failed"
    assert said in (graded[1] / "summary.md").read_text()


def test_the_solution_itself_scores_full_marks(tmp_path):
    result = grade.grade_notebook(SOLUTION, tmp_path / "out", OPTIONS)
    assert [q.status for q in result.questions] == ["pass"] * 3 and result.points == 6 and not result.warnings


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ftcourse.cli", "grade", *map(str, args), "--solutions",
                           str(SOLUTIONS), "--checks", str(CHECKS), "--timeout", "10"],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_malformed_notebook_is_one_clear_line(tmp_path):
    broken = tmp_path / "lab99_broken.ipynb"
    broken.write_text('{"cells": [ {"cell_type": "code", ')
    proc = cli(broken, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid JSON" in proc.stderr and "lab99_broken.ipynb" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_one_bad_notebook_does_not_stop_a_class(tmp_path):
    good = write_fault(tmp_path, FAULTS["deleted_check"])
    (tmp_path / "lab99_empty.ipynb").write_text("")
    (tmp_path / "homework.ipynb").write_text(SOLUTION.read_text())
    proc = cli(good, tmp_path / "lab99_empty.ipynb", tmp_path / "homework.ipynb", "--out", tmp_path / "out")
    assert proc.returncode == 2, "the grader could not grade two of the notebooks"
    rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert rows[0] == "notebook,lab,q1,q2,q3,total,max,error"
    assert rows[1].endswith(",lab99,2,2,2,6,6,")
    assert "invalid JSON" in rows[2] and "cannot tell which lab" in rows[3]
    assert "NOT GRADED" in proc.stdout


def test_unknown_options_and_missing_files(tmp_path):
    proc = cli(tmp_path / "lab99_missing.ipynb", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "ftcourse.cli", "grade", "x.ipynb", "--timeout", "-3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "positive number of seconds" in bad.stderr
