"""`ftcourse grade` on every lab: the solution scores full marks, the shipped lab runs to the end and scores 0 with
every question reported (naming what to write), the notebooks are never modified, and grading writes nothing into
the repository. A new lab adds one row to LABS; a lab without a row fails `test_every_lab_has_a_row`.
(lab01 has its own file, which also checks every report format.)"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# slug -> (max points, {question: phrases its message must contain in the shipped lab})
LABS = {
    "lab02_estimate": (12, {
        "q1": ["NotImplementedError"],  # function answers: the stub still raises
        "q2": ["`optimizer_bytes` still raises NotImplementedError"],
        "q3": ["NotImplementedError"],
        "q4": ["`full_gpu` is not defined", "`plan` is not defined"],
    }),
    "lab06_lora_by_hand": (12, {
        "q1": ["`LoRALayer` still raises NotImplementedError"],
        "q2": ["`lora_forward` still raises NotImplementedError"],
        "q3": ["`delta_weight` still raises", "`merge` still raises"],
        "q4": ["finish q1 first", "`n_trainable` is not defined"],
    }),
    "lab07_lora_budget": (10, {
        "q1": ["`lora_config` is not defined"],
        "q2": ["`peft_model` is not defined"],
        "q3": ["`adapter_dir` is not defined"],
        "q4": ["`reloaded` is not defined"],
    }),
}


def digest(path: Path) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def repo_files() -> set[str]:
    """Every file git sees (tracked or not ignored): grading must not add one."""
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.splitlines())


def test_every_lab_has_a_row():
    slugs = {p.stem for p in (ROOT / "solutions").glob("lab*.ipynb")} - {"lab01_tokens"}
    assert slugs == set(LABS)


@pytest.fixture(scope="module", params=sorted(LABS))
def graded(request, tmp_path_factory):
    """One CLI run over a lab's solution and shipped notebook."""
    slug = request.param
    solution, lab = Path(f"solutions/{slug}.ipynb"), Path(f"labs/{slug}.ipynb")
    out = tmp_path_factory.mktemp("grading")
    before = {p: digest(p) for p in (solution, lab)}
    files_before = repo_files()
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "grade", str(solution), str(lab), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    after = {p: digest(p) for p in (solution, lab)}
    return {"slug": slug, "proc": proc, "out": out, "unmodified": before == after,
            "new_files": repo_files() - files_before}


def result(graded: dict, folder: str) -> dict:
    return json.loads((graded["out"] / f"{folder}__{graded['slug']}" / "results.json").read_text())


def test_exit_code_is_zero_whatever_the_score(graded):
    assert graded["proc"].returncode == 0, graded["proc"].stdout + graded["proc"].stderr


def test_notebooks_are_never_modified(graded):
    assert graded["unmodified"]


def test_grading_writes_nothing_into_the_repository(graded):
    assert graded["new_files"] == set()


def test_solution_scores_full_marks(graded):
    top, expected = LABS[graded["slug"]]
    solved = result(graded, "solutions")
    assert (solved["points"], solved["max"], solved["complete"]) == (top, top, True)
    assert [q["status"] for q in solved["questions"]] == ["pass"] * len(expected)
    assert solved["warnings"] == []


def test_shipped_lab_scores_zero_and_reports_every_question(graded):
    top, expected = LABS[graded["slug"]]
    shipped = result(graded, "labs")
    assert (shipped["points"], shipped["max"]) == (0, top)
    assert [q["id"] for q in shipped["questions"]] == list(expected)
    for q in shipped["questions"]:
        assert set(q) == {"id", "points", "max", "status", "message", "seconds"}
        assert q["status"] == "fail" and q["points"] == 0
        for phrase in expected[q["id"]]:
            assert phrase in q["message"], f"{graded['slug']} {q['id']}: {q['message']!r}"


def test_shipped_lab_runs_to_the_end(graded):
    top, expected = LABS[graded["slug"]]
    executed = json.loads((graded["out"] / f"labs__{graded['slug']}" / "executed.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code[:-1]), "every cell before the summary ran"
    summary = code[-1]["outputs"][0]["data"]["text/markdown"]
    assert f"0/{top} points" in summary, "the summary cell shows the grader's own table"
    checks = [c for c in code if c["metadata"].get("ftcourse", {}).get("role") == "check"]
    assert len(checks) == len(expected)
    assert all("❌" in "".join(o.get("text", "") for o in c["outputs"]) for c in checks)
