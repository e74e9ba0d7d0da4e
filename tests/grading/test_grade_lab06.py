"""`ftcourse grade` on lab06: the solution scores 12/12, the shipped lab runs to the end and scores 0/12 with
every question reported (with what to write), and the notebooks are never modified."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = Path("solutions/lab06_lora_by_hand.ipynb")
LAB = Path("labs/lab06_lora_by_hand.ipynb")
QUESTIONS = ["q1", "q2", "q3", "q4"]


def digest(path: Path) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One CLI run over both notebooks."""
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
    result = notebook(graded[1], "solutions__lab06_lora_by_hand")
    assert (result["points"], result["max"], result["complete"]) == (12, 12, True)
    assert [q["status"] for q in result["questions"]] == ["pass"] * 4
    assert result["warnings"] == []


def test_shipped_lab_scores_zero_and_reports_every_question(graded):
    result = notebook(graded[1], "labs__lab06_lora_by_hand")
    assert (result["points"], result["max"]) == (0, 12)
    assert [q["id"] for q in result["questions"]] == QUESTIONS
    messages = {q["id"]: q["message"] for q in result["questions"]}
    for q in result["questions"]:
        assert set(q) == {"id", "points", "max", "status", "message", "seconds"}
        assert q["status"] == "fail" and q["points"] == 0
    assert "`LoRALayer` still raises NotImplementedError" in messages["q1"]
    assert "`lora_forward` still raises NotImplementedError" in messages["q2"]
    assert "`delta_weight` still raises" in messages["q3"] and "`merge` still raises" in messages["q3"]
    assert "finish q1 first" in messages["q4"] and "`n_trainable` is not defined" in messages["q4"]


def test_shipped_lab_runs_to_the_end(graded):
    executed = json.loads((graded[1] / "labs__lab06_lora_by_hand" / "executed.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code[:-1]), "every cell before the summary ran"
    summary = code[-1]["outputs"][0]["data"]["text/markdown"]
    assert "0/12 points" in summary, "the summary cell shows the grader's own table"
    checks = [c for c in code if c["metadata"].get("ftcourse", {}).get("role") == "check"]
    assert len(checks) == 4
    assert all("❌" in "".join(o.get("text", "") for o in c["outputs"]) for c in checks)
