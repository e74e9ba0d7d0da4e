"""Faults and tampering: each fixture is graded with the expected status per question and no earned points lost.

Kernel-level faults (loops, exits, dead kernels, huge output) are graded in one run here; tampering with
cells in test_tampering.py, so that pytest-xdist can run the two files in parallel.
"""

import pytest
from ftcourse.grading import grade
from lab_fixtures import FAULTS, OPTIONS, assert_grades, grade_faults, write_fault

NAMES = ["sys_exit", "infinite_loop", "dead_kernel", "dies_in_check", "exit_call", "huge_output"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_faults(tmp_path_factory, NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fault_is_graded_fairly(graded, name):
    assert_grades(graded[0][name], FAULTS[name])


def test_messages_say_what_happened(graded):
    results = graded[0]

    def message(name, qid):
        return next(q.message for q in results[name].questions if q.id == qid)

    assert "stopped with sys.exit()" in message("sys_exit", "q1")
    assert "ran over its time limit of 4 s" in message("infinite_loop", "q3")
    assert "kernel died while running your cell for q2" in message("dead_kernel", "q2")
    assert "kernel died while checking this question" in message("dies_in_check", "q2")
    assert "the cell called exit()" in message("exit_call", "q1")


def test_a_runaway_output_is_cut(graded):
    executed = graded[1] / "lab99_huge_output" / "executed.ipynb"
    assert executed.stat().st_size < 2_000_000
    assert "output of this cell cut" in executed.read_text()


def test_results_are_written_as_each_question_finishes(tmp_path, monkeypatch):
    snapshots = []
    real = grade._write_json
    monkeypatch.setattr(grade, "_write_json", lambda path, data: (snapshots.append(data), real(path, data)))
    path = write_fault(tmp_path, FAULTS["dead_kernel"])
    grade.grade_notebook(path, tmp_path / "out", OPTIONS)
    progress = [([q["id"] for q in s["questions"]], s["complete"]) for s in snapshots]
    assert progress == [([], False), (["q1"], False), (["q1", "q2"], False), (["q1", "q2", "q3"], False),
                        (["q1", "q2", "q3"], True)]
