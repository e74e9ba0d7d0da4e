"""`ftcourse grade` on lab01: the solution scores 11/11, the shipped lab runs to the end and scores 0/11 with
every question reported, and every report is written."""

import csv
import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = Path("solutions/lab01_tokens.ipynb")
LAB = Path("labs/lab01_tokens.ipynb")


def digest(path: Path) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One CLI run over both notebooks (as an instructor grading a class would)."""
    out = tmp_path_factory.mktemp("grading")
    before = {p: digest(p) for p in (SOLUTION, LAB)}
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "grade", str(SOLUTION), str(LAB), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    after = {p: digest(p) for p in (SOLUTION, LAB)}
    return proc, out, before == after


def notebook(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "results.json").read_text())


def test_exit_code_is_zero_whatever_the_score(graded):
    proc, _, _ = graded
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_notebooks_are_never_modified(graded):
    assert graded[2]


def test_solution_scores_full_marks(graded):
    result = notebook(graded[1], "solutions__lab01_tokens")
    assert (result["points"], result["max"], result["complete"]) == (11, 11, True)
    assert [q["status"] for q in result["questions"]] == ["pass"] * 4
    assert result["warnings"] == []


def test_shipped_lab_scores_zero_and_reports_every_question(graded):
    result = notebook(graded[1], "labs__lab01_tokens")
    assert (result["points"], result["max"]) == (0, 11)
    assert [q["id"] for q in result["questions"]] == ["q1", "q2", "q3", "q4"]
    for q in result["questions"]:
        assert set(q) == {"id", "points", "max", "status", "message", "seconds"}
        assert q["status"] == "fail" and "NotImplementedError" in q["message"]


def test_shipped_lab_runs_to_the_end(graded):
    executed = json.loads((graded[1] / "labs__lab01_tokens" / "executed.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code[:-1]), "every cell before the summary ran"
    summary = code[-1]["outputs"][0]["data"]["text/markdown"]
    assert "0/11 points" in summary, "the summary cell shows the grader's own table"
    checks = [c for c in code if c["metadata"].get("ftcourse", {}).get("role") == "check"]
    assert all("❌" in "".join(o.get("text", "") for o in c["outputs"]) for c in checks)


def test_reports(graded):
    proc, out, _ = graded
    markdown = (out / "summary.md").read_text()
    assert "## Lab grades: 11/22 points over 2 notebook(s)" in markdown
    assert "| q2 | ✅ pass | 3/3 |" in markdown and "| q2 | ❌ fail | 0/3 |" in markdown
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("4", "0"), ("4", "4")]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [(r["notebook"], r["total"], r["q3"]) for r in rows] == [(str(SOLUTION), "11", "3"), (str(LAB), "0", "0")]
    combined = json.loads((out / "results.json").read_text())
    assert [n["points"] for n in combined["notebooks"]] == [11, 0]
    assert "solutions/lab01_tokens.ipynb (lab01): 11/11 points" in proc.stdout
