"""Faulty and tampered copies of the fixture lab (lab99), each with the grades a fair grader must give; and the
machinery the labs' own tests share: running a lab's cells, and a wrong answer written as a learner would write it.

lab99 has three questions worth 2 points each: q1 `double(x)`, q2 `greet(name)`, q3 `SQUARES`.
Each fault starts from the full-marks solution and breaks or tampers with it; `expected` is the
status per question, `points` the points per question that must survive the fault.
"""

from __future__ import annotations

import copy
import hashlib
import json
import textwrap
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from ftcourse.grading import grade
from ftcourse.grading.results import Result

FIXTURES = Path(__file__).with_name("fixtures")
SOLUTIONS = FIXTURES / "solutions"
CHECKS = FIXTURES / "checks"
SOLUTION = SOLUTIONS / "lab99_faults.ipynb"


def run_cells(path: Path, only: Collection[str] | None = None) -> dict:
    """Run a lab's code cells (not its checks or summary) in a fresh namespace, as a notebook would; the namespace.

    only: the ids of the cells to run (e.g. the locked setup cells), in notebook order; default every cell.
    """
    ns: dict = {"__name__": "__main__"}
    for c in json.loads(Path(path).read_text())["cells"]:
        role = c["metadata"].get("ftcourse", {})
        if c["cell_type"] == "code" and role.get("role") != "check" and role.get("id") != "summary" and (
                only is None or c["id"] in only):
            exec(compile("".join(c["source"]), f"<cell {c['id']}>", "exec"), ns)
    return ns


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible wrong answer to one question, as a learner would write the cell, and the hint it must get.

    `hint` is a phrase of the check's known-mistakes table (or of its hint for that case); `source` replaces the
    solution cell (it runs in a copy of the solved namespace, so it can use the lab's model, tokenizer, ...).
    """

    name: str
    qid: str
    source: str
    hint: str


def with_cell(namespace: dict, source: str, **names) -> dict:
    """A copy of `namespace` (with `names` set) after running `source` as one notebook cell."""
    ns = {**namespace, **names}
    exec(compile(textwrap.dedent(source), "<cell wrong-answer>", "exec"), ns)
    return ns


def assert_wrong_answer(lab: str, namespace: dict, wrong: WrongAnswer, **names) -> Result:
    """Run `wrong`'s cell in a copy of `namespace`, check its question: it must lose points and show the hint."""
    from ftcourse.grading import Lab

    result = Lab(lab, namespace=with_cell(namespace, wrong.source, **names)).run(wrong.qid)
    assert result.points < result.max, f"{wrong.name}: the wrong answer kept every point ({result.message})"
    assert wrong.hint in result.message, f"{wrong.name}: expected the hint {wrong.hint!r}, got {result.message!r}"
    return result


def solution() -> dict:
    return json.loads(SOLUTION.read_text())


def cell(nb: dict, cid: str) -> dict:
    return next(c for c in nb["cells"] if c["id"] == cid)


def index(nb: dict, cid: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["id"] == cid)


def code(cid: str, text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cid, "metadata": {}, "outputs": [], "source": text}


def set_source(nb: dict, cid: str, text: str) -> None:
    cell(nb, cid)["source"] = text


def edited_check(nb: dict) -> None:
    """q1 half right; its check cell and the setup cell edited to print a fake pass (nbgrader's checksum case)."""
    set_source(nb, "q1-solution", "def double(x):\n    return x + 3")  # right for 3, wrong for -1.5
    set_source(nb, "q1-check", 'print("✅ q1 · 2/2 points")')
    set_source(nb, "setup", 'from ftcourse.grading import Lab\n\nlab = Lab("lab99")\nprint("edited")')


def deleted_check(nb: dict) -> None:
    """q2's check cell and the summary cell deleted (nbgrader #1682); q2's answer is right."""
    nb["cells"] = [c for c in nb["cells"] if c["id"] not in ("q2-check", "summary")]


def duplicated_ids(nb: dict) -> None:
    """A wrong copy of q1's answer with the same cell id before the right one; q3's check cell duplicated."""
    wrong = copy.deepcopy(cell(nb, "q1-solution"))
    wrong["source"] = "def double(x):\n    return 0"
    nb["cells"].insert(index(nb, "q1-solution"), wrong)
    nb["cells"].insert(index(nb, "q2-solution"), copy.deepcopy(cell(nb, "q3-check")))


def check_to_markdown(nb: dict) -> None:
    """q3's check cell retyped to markdown (same id and metadata)."""
    target = cell(nb, "q3-check")
    target["cell_type"] = "markdown"
    target.pop("outputs")
    target.pop("execution_count")


def showtraceback(nb: dict) -> None:
    """Tracebacks silenced (nbgrader #1324), `lab` rebound to a fake, fake passes printed; q2 raises, q3 wrong."""
    hack = code("hack", "import sys\n\n"
                        "get_ipython().showtraceback = lambda *args, **kwargs: None\n"
                        "sys.excepthook = lambda *args: None\n\n\n"
                        "class Fake:\n"
                        "    def check(self, qid):\n"
                        '        print(f"✅ {qid} · 2/2 points")\n\n'
                        "    def summary(self):\n"
                        '        print("full marks")\n\n\n'
                        "lab = Fake()")
    nb["cells"].insert(index(nb, "q1-solution"), hack)
    set_source(nb, "q2-solution", 'def greet(name):\n    raise ValueError("no greeting today")\n\n\n'
                                  'print("✅ q2 · 2/2 points")')
    set_source(nb, "q3-solution", 'SQUARES = [1, 2, 3]\nprint("✅ q3 · 2/2 points")')


def sys_exit(nb: dict) -> None:
    """sys.exit() inside q1's function (raised during the check) and at the top level of q2's cell."""
    set_source(nb, "q1-solution", "import sys\n\n\ndef double(x):\n    sys.exit(1)")
    set_source(nb, "q2-solution", 'import sys\n\n\ndef greet(name):\n    return f"hello {name}"\n\n\nsys.exit()')


def infinite_loop(nb: dict) -> None:
    """After q1 earns its points: a loop that ignores interrupts (the kernel must be replaced), then a plain
    infinite loop in q3's cell (interrupted). otter-grader #813: one loop must not zero everything."""
    stubborn = code("stubborn", "import time\n\nwhile True:\n    try:\n        time.sleep(0.05)\n"
                                "    except KeyboardInterrupt:\n        pass")
    nb["cells"].insert(index(nb, "q1-check") + 1, stubborn)
    set_source(nb, "q3-solution", "while True:\n    pass\nSQUARES = [i * i for i in range(5)]")


def dead_kernel(nb: dict) -> None:
    """os._exit(1) at the top of q2's cell kills the kernel (nbgrader #427: a dead kernel scored as a pass)."""
    set_source(nb, "q2-solution", 'import os\n\nos._exit(1)\n\n\ndef greet(name):\n    return f"hello {name}"')


def dies_in_check(nb: dict) -> None:
    """q2's function kills the kernel only when the check calls it."""
    set_source(nb, "q2-solution", "import os\n\n\ndef greet(name):\n    os._exit(1)")


def exit_call(nb: dict) -> None:
    """exit() at the end of q1's cell: IPython shuts the kernel down after the cell."""
    set_source(nb, "q1-solution", "def double(x):\n    return 2 * x\n\n\nexit()")


def huge_output(nb: dict) -> None:
    """q1's cell prints 50 MB and q2's writes warnings and stderr noise; every answer is right."""
    set_source(nb, "q1-solution", 'def double(x):\n    return 2 * x\n\n\nprint("x" * 50_000_000)')
    set_source(nb, "q2-solution", 'import sys\nimport warnings\n\nwarnings.warn("noise")\nsys.stderr.write("noise\\n" '
                                  '* 1000)\n\n\ndef greet(name):\n    return f"hello {name}"')


@dataclass(frozen=True)
class Fault:
    name: str
    make: Callable[[dict], None]
    expected: dict[str, str]
    points: dict[str, float]
    warns: tuple[str, ...] = ()


FAULTS = {f.name: f for f in [
    Fault("edited_check", edited_check, {"q1": "fail", "q2": "pass", "q3": "pass"}, {"q1": 1, "q2": 2, "q3": 2},
          ("restored check cell 'q1-check': it had been edited", "restored locked cell 'setup': it had been edited")),
    Fault("deleted_check", deleted_check, {"q1": "pass", "q2": "pass", "q3": "pass"}, {"q1": 2, "q2": 2, "q3": 2},
          ("restored check cell 'q2-check': it had been deleted",)),
    Fault("duplicated_ids", duplicated_ids, {"q1": "pass", "q2": "pass", "q3": "pass"}, {"q1": 2, "q2": 2, "q3": 2},
          ("repeats the id of answer cell 'q1-solution'", "a copy of check cell 'q3-check'")),
    Fault("check_to_markdown", check_to_markdown, {"q1": "pass", "q2": "pass", "q3": "pass"},
          {"q1": 2, "q2": 2, "q3": 2}, ("restored check cell 'q3-check': it had been turned into a markdown cell",)),
    Fault("showtraceback", showtraceback, {"q1": "pass", "q2": "error", "q3": "fail"}, {"q1": 2, "q2": 0, "q3": 0}),
    Fault("sys_exit", sys_exit, {"q1": "error", "q2": "pass", "q3": "pass"}, {"q1": 0, "q2": 2, "q3": 2}),
    Fault("infinite_loop", infinite_loop, {"q1": "pass", "q2": "pass", "q3": "timeout"}, {"q1": 2, "q2": 2, "q3": 0}),
    Fault("dead_kernel", dead_kernel, {"q1": "pass", "q2": "error", "q3": "pass"}, {"q1": 2, "q2": 0, "q3": 2}),
    Fault("dies_in_check", dies_in_check, {"q1": "pass", "q2": "error", "q3": "pass"}, {"q1": 2, "q2": 0, "q3": 2}),
    Fault("exit_call", exit_call, {"q1": "error", "q2": "pass", "q3": "pass"}, {"q1": 0, "q2": 2, "q3": 2}),
    Fault("huge_output", huge_output, {"q1": "pass", "q2": "pass", "q3": "pass"}, {"q1": 2, "q2": 2, "q3": 2}),
]}


def write_fault(directory: Path, fault: Fault) -> Path:
    """The tampered notebook, saved as lab99_<fault>.ipynb in `directory`."""
    nb = solution()
    fault.make(nb)
    path = directory / f"lab99_{fault.name}.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path


# short limits: the loops in the fixtures cost seconds, not minutes; the real cells take milliseconds
OPTIONS = grade.Options(timeout=4, grace=2, solutions_dir=SOLUTIONS, checks_dir=CHECKS)


def grade_faults(tmp_path_factory, names):
    """Write the fault notebooks, grade them in one run, and check that none of them was touched."""
    folder = tmp_path_factory.mktemp("faults")
    paths = [write_fault(folder, FAULTS[name]) for name in names]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    results = grade.grade(paths, folder / "out", OPTIONS, echo=lambda text: None)
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths] == before, "grading modified a notebook"
    return {name: result for name, result in zip(names, results)}, folder / "out"


def assert_grades(result, fault):
    assert result.error is None and result.complete
    assert {q.id: q.status for q in result.questions} == fault.expected
    assert {q.id: q.points for q in result.questions} == fault.points
    for q in result.questions:
        assert q.status == "pass" or q.message, f"{q.id} needs a message saying what went wrong"
    for text in fault.warns:
        assert any(text in w for w in result.warnings), result.warnings
