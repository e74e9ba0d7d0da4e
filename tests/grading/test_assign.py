"""`ftcourse assign`: student versions from solutions, refusals that name the file and cell, no drift in labs/."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ftcourse import cli, notebooks
from ftcourse.grading import assign, checks
from ftcourse.grading.format import LabFormatError, parse_lab, source
from lab_fixtures import CHECKS, SOLUTION, cell, code, index, solution

ROOT = Path(__file__).resolve().parents[2]


def write_solution(tmp_path: Path, nb: dict) -> Path:
    (tmp_path / "solutions").mkdir(exist_ok=True)
    path = tmp_path / "solutions" / SOLUTION.name
    path.write_text(json.dumps(nb, indent=1))
    return path


def refusal(tmp_path: Path, nb: dict) -> str:
    write_solution(tmp_path, nb)
    with pytest.raises(LabFormatError) as info:
        assign.assign(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS)
    assert not (tmp_path / "labs").exists(), "a refused assign must write nothing"
    return str(info.value)


def test_student_version_of_the_fixture_lab():
    nb = assign.student_version(parse_lab(SOLUTION), checks.load("lab99", CHECKS))
    assert source(cell(nb, "q1-solution")) == 'def double(x):\n    raise NotImplementedError("q1")'
    assert source(cell(nb, "q3-solution")) == "..."
    for cid in ("setup", "q1-check", "q2-check", "q3-check", "summary"):
        assert cell(nb, cid)["metadata"]["editable"] is False and cell(nb, cid)["metadata"]["deletable"] is False
        assert source(cell(nb, cid)) == source(cell(solution(), cid))
    assert "editable" not in cell(nb, "q1-solution")["metadata"]
    assert nb["metadata"]["ftcourse"]["lab"] == "lab99"
    assert solution()["cells"][3]["source"] != nb["cells"][3]["source"], "the solution must not be modified"


def test_outputs_are_cleared(tmp_path):
    nb = solution()
    cell(nb, "q1-solution").update(outputs=[{"output_type": "stream", "name": "stdout", "text": "hi"}],
                                   execution_count=4)
    cell(nb, "q1-solution")["metadata"]["execution"] = {"iopub.status.busy": "x"}
    write_solution(tmp_path, nb)
    assign.assign(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS)
    lab = json.loads((tmp_path / "labs" / SOLUTION.name).read_text())
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in lab["cells"])
    assert "execution" not in cell(lab, "q1-solution")["metadata"]


def test_no_answer_leaks_into_the_lab():
    text = (ROOT / "labs" / "lab01_tokens.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for answer_line in ("add_special_tokens=False)[", "log_probs.gather", "attention_mask\"][:, 1:]", ".argmax())"):
        assert answer_line not in text


def test_labs_equal_a_fresh_assign():
    """labs/ is generated: any hand edit or stale lab shows up here (run `ftcourse assign` to fix)."""
    problems = assign.drift(ROOT / "solutions", ROOT / "labs", ROOT, cli._renderer(ROOT))
    assert problems == []


def test_generated_labs_are_what_render_would_write():
    settings = notebooks.course_settings(ROOT)
    for path in sorted((ROOT / "labs").glob("lab*.ipynb")):
        nb = notebooks.read(path)
        assert notebooks.render(nb, f"labs/{path.name}", settings["repository"], settings["branch"]) is False
        assert notebooks.problems(path, ROOT) == []


def test_drift_is_reported(tmp_path):
    write_solution(tmp_path, solution())
    assign.assign(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS)
    assert assign.drift(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS) == []
    lab = tmp_path / "labs" / SOLUTION.name
    lab.write_text(lab.read_text().replace("Write `double(x)`", "Write double"))
    (tmp_path / "labs" / "lab42_stale.ipynb").write_text("{}")
    problems = "\n".join(assign.drift(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS))
    assert "lab99_faults.ipynb: differs from a fresh" in problems and "lab42_stale.ipynb: no solution" in problems


def test_unbalanced_marker(tmp_path):
    nb = solution()
    cell(nb, "q1-solution")["source"] = "def double(x):\n    # BEGIN SOLUTION\n    return 2 * x"
    message = refusal(tmp_path, nb)
    assert "lab99_faults.ipynb, cell 3 (id 'q1-solution')" in message and "never closed" in message


def test_nested_markers(tmp_path):
    nb = solution()
    cell(nb, "q3-solution")["source"] = ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nSQUARES = []\n"
                                         "# END SOLUTION\n# END SOLUTION")
    assert "cell 9 (id 'q3-solution'), line 2: nested" in refusal(tmp_path, nb)


@pytest.mark.parametrize("cid", ["setup", "q1-text", "q2-check"])
def test_marker_outside_a_solution_cell(tmp_path, cid):
    nb = solution()
    cell(nb, cid)["source"] += "\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION"
    message = refusal(tmp_path, nb)
    assert f"(id {cid!r})" in message and "solution marker outside a solution cell" in message


def test_duplicate_cell_ids(tmp_path):
    nb = solution()
    cell(nb, "q2-text")["id"] = "q1-text"
    assert "cell 5 (id 'q1-text'): duplicate cell id 'q1-text' (also cell 2)" in refusal(tmp_path, nb)


def test_duplicate_question_ids(tmp_path):
    nb = solution()
    cell(nb, "q2-check")["metadata"]["ftcourse"]["id"] = "q1"
    cell(nb, "q2-check")["source"] = 'lab.check("q1")'
    assert "(id 'q2-check'): duplicate check id 'q1'" in refusal(tmp_path, nb)


def test_check_cell_without_check_function(tmp_path):
    nb = solution()
    extra = code("q4-check", 'lab.check("q4")')
    extra["metadata"]["ftcourse"] = {"role": "check", "id": "q4", "points": 1}
    nb["cells"].insert(index(nb, "summary"), extra)
    message = refusal(tmp_path, nb)
    assert "(id 'q4-check'): no check function for 'q4'" in message and "it has: q1, q2, q3" in message


def test_check_function_without_cell(tmp_path):
    nb = solution()
    nb["cells"] = [c for c in nb["cells"] if c["id"] not in ("q3-solution", "q3-check")]
    message = refusal(tmp_path, nb)
    assert "check function(s) without a check cell: q3 (q3)" in message and "lab99_faults.ipynb" in message


def test_points_must_agree(tmp_path):
    nb = solution()
    cell(nb, "q2-check")["metadata"]["ftcourse"]["points"] = 5
    assert "(id 'q2-check'): the cell says 5 points but check function q2 says 2" in refusal(tmp_path, nb)


def test_check_cell_must_be_the_one_line(tmp_path):
    nb = solution()
    cell(nb, "q2-check")["source"] = 'lab.check("q2")\nprint("extra")'
    assert "a check cell must be the single line lab.check('q2')" in refusal(tmp_path, nb)
    cell(nb, "q2-check")["source"] = 'lab.check("q3")'
    assert "check cell 'q2' calls lab.check('q3')" in refusal(tmp_path, nb)


def test_solution_without_check(tmp_path):
    nb = solution()
    cell(nb, "q3-solution")["metadata"]["ftcourse"]["id"] = "q7"
    assert "solution 'q7' has no check cell" in refusal(tmp_path, nb)


def test_a_broken_lab_blocks_every_lab(tmp_path):
    good = solution()
    write_solution(tmp_path, good)
    broken = copy.deepcopy(good)
    cell(broken, "q1-solution")["source"] = "# END SOLUTION"
    (tmp_path / "solutions" / "lab98_other.ipynb").write_text(json.dumps(broken))
    with pytest.raises(LabFormatError, match="lab98_other.ipynb"):
        assign.assign(tmp_path / "solutions", tmp_path / "labs", tmp_path, checks_dir=CHECKS)
    assert not (tmp_path / "labs").exists()


def test_cli_assign_refuses_in_one_line(tmp_path):
    nb = solution()
    cell(nb, "q1-solution")["source"] = "# END SOLUTION"
    write_solution(tmp_path, nb)
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "assign", "--solutions", str(tmp_path / "solutions"),
                           "--checks", str(CHECKS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "ftcourse assign: error:" in proc.stderr and "q1-solution" in proc.stderr


def test_cli_assign_check_mode(tmp_path):
    write_solution(tmp_path, solution())
    args = ["assign", "--solutions", str(tmp_path / "solutions"), "--checks", str(CHECKS)]
    assert cli.main([*args, "--check"]) == 1  # labs/ missing
    assert cli.main(args) == 0
    assert cli.main([*args, "--check"]) == 0
