"""`ftcourse grade` on lab07: the solution scores 10/10, the shipped lab runs to the end and scores 0/10 with
every question reported (naming what to write), the notebooks are never modified, and grading writes nothing
into the repository (adapters go to a temporary folder)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = Path("solutions/lab07_lora_budget.ipynb")
LAB = Path("labs/lab07_lora_budget.ipynb")
QUESTIONS = ["q1", "q2", "q3", "q4"]


def digest(path: Path) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def repo_files() -> set[str]:
    """Every file git sees (tracked or not ignored): grading must not add one."""
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.splitlines())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One CLI run over both notebooks."""
    out = tmp_path_factory.mktemp("grading")
    before = {p: digest(p) for p in (SOLUTION, LAB)}
    files_before = repo_files()
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "grade", str(SOLUTION), str(LAB), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    after = {p: digest(p) for p in (SOLUTION, LAB)}
    return proc, out, before == after, repo_files() - files_before


def notebook(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "results.json").read_text())


def test_exit_code_is_zero_whatever_the_score(graded):
    proc = graded[0]
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_notebooks_are_never_modified(graded):
    assert graded[2]


def test_grading_writes_nothing_into_the_repository(graded):
    assert graded[3] == set()


def test_solution_scores_full_marks(graded):
    result = notebook(graded[1], "solutions__lab07_lora_budget")
    assert (result["points"], result["max"], result["complete"]) == (10, 10, True)
    assert [q["status"] for q in result["questions"]] == ["pass"] * 4
    assert result["warnings"] == []


def test_shipped_lab_scores_zero_and_reports_every_question(graded):
    result = notebook(graded[1], "labs__lab07_lora_budget")
    assert (result["points"], result["max"]) == (0, 10)
    assert [q["id"] for q in result["questions"]] == QUESTIONS
    messages = {q["id"]: q["message"] for q in result["questions"]}
    for q in result["questions"]:
        assert set(q) == {"id", "points", "max", "status", "message", "seconds"}
        assert q["status"] == "fail" and q["points"] == 0
    assert "`lora_config` is not defined" in messages["q1"]
    assert "`peft_model` is not defined" in messages["q2"]
    assert "`adapter_dir` is not defined" in messages["q3"]
    assert "`reloaded` is not defined" in messages["q4"]


def test_shipped_lab_runs_to_the_end(graded):
    executed = json.loads((graded[1] / "labs__lab07_lora_budget" / "executed.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code[:-1]), "every cell before the summary ran"
    summary = code[-1]["outputs"][0]["data"]["text/markdown"]
    assert "0/10 points" in summary, "the summary cell shows the grader's own table"
    checks = [c for c in code if c["metadata"].get("ftcourse", {}).get("role") == "check"]
    assert len(checks) == 4
    assert all("❌" in "".join(o.get("text", "") for o in c["outputs"]) for c in checks)
