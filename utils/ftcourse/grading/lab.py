"""The object a lab notebook talks to: ``lab = Lab("lab01")``, ``lab.check("q1")``, ``lab.summary()``.

``check`` runs the question's check function against the notebook's variables and prints
✅/❌, the points and the feedback; it never raises, so a notebook always runs to the end.
``summary`` prints the score table and raises :class:`LabIncomplete` when points are missing,
so ``pytest --nbmake`` passes a finished lab and fails an unfinished one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from ftcourse.grading import answers, checks
from ftcourse.grading._io import atomic_write_text
from ftcourse.grading.answers import HIDDEN
from ftcourse.grading.results import ICONS, Result


class LabIncomplete(AssertionError):
    """Raised by ``lab.summary()`` when some questions are not yet worth full points."""


def _user_namespace() -> dict[str, Any]:
    """The notebook's global variables: IPython's user namespace, or __main__ outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def feedback(result: Result) -> str:
    """The lines ``lab.check`` prints: icon, question, points, status, then what to fix.

    A hidden part is shown as "a hidden test" with its points, never its name or message.
    """
    head = f"{ICONS.get(result.status, '❌')} {result.id} · {result.points:g}/{result.max} points"
    lines = [head if result.status == "pass" else f"{head} · {result.status}"]
    if len(result.parts) > 1 or (result.parts and result.status != "pass"):
        for part in result.parts:
            mark = "✔" if part.earned == part.points else "✘"
            name, detail = (HIDDEN, "") if part.hidden else (part.name, f": {part.message}" if part.message else "")
            lines.append(f"   {mark} {name} ({part.earned}/{part.points}){detail}")
    if result.status != "pass":
        lines.extend(f"   {note}" for note in (result.notes or ([] if result.parts else [result.message])))
    return "\n".join(lines)


class Lab:
    """One lab's checks, bound to the notebook that runs them."""

    def __init__(self, name: str, namespace: Mapping[str, Any] | None = None):
        self.name = name
        self.questions = checks.load(name)
        self.results: dict[str, Result] = {}
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"Lab({self.name!r}: {len(self.questions)} questions, {self.max_points} points)"

    @property
    def max_points(self) -> int:
        return sum(q.points for q in self.questions.values())

    def run(self, qid: str) -> Result:
        """Run the check of question `qid` and return its result (never raises)."""
        if qid not in self.questions:
            return Result(str(qid), 0, 0, "error", f"{self.name} has no question {qid!r}; questions: "
                          f"{', '.join(self.questions)}")
        namespace = self._namespace if self._namespace is not None else _user_namespace()
        result = answers.run(self.questions[qid], namespace)
        self.results[qid] = result
        return result

    def check(self, qid: str) -> None:
        """Check question `qid` and print ✅/❌, points and feedback; never raises."""
        try:
            print(feedback(self.run(qid)))
        except BaseException as exc:  # printing must not break the notebook either
            print(f"❌ {qid}: could not report the check ({type(exc).__name__}: {exc})")

    def table(self) -> str:
        """The score table: one line per question, then the total."""
        width = max([len(q) for q in self.questions] + [8])
        lines = [f"{'question':<{width}}  points  result"]
        for qid, q in self.questions.items():
            r = self.results.get(qid)
            status = f"{ICONS[r.status]} {r.status}" if r else "not checked yet (run its check cell)"
            earned = f"{r.points:g}" if r else "0"
            lines.append(f"{qid:<{width}}  {earned:>2}/{q.points:<3}  {status}")
        lines.append(f"{'total':<{width}}  {self.score:g}/{self.max_points}")
        return "\n".join(lines)

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results.values() if r.id in self.questions)

    def summary(self) -> None:
        """Print the score table; raise LabIncomplete if any points are missing."""
        print(f"{self.name}: {self.score:g}/{self.max_points} points\n{self.table()}")
        missing = [q for q, spec in self.questions.items()
                   if q not in self.results or self.results[q].points < spec.points]
        if missing:
            raise LabIncomplete(f"{self.name}: {self.score:g}/{self.max_points} points; not yet full marks: "
                                f"{', '.join(missing)}. Fix these and run their check cells again.")
        print("🎉 full marks")


def graded_check(lab: str, qid: str, receipt: str, nonce: str) -> None:
    """Run by the grader in the learner's kernel instead of the check cell: a fresh Lab (whatever the notebook
    did to its own ``lab``), feedback printed as usual, and the result written to `receipt` with the grader's
    nonce, which the grader reads out of band."""
    result = Lab(lab).run(qid)
    print(feedback(result))
    data = {"nonce": nonce, "lab": lab, **result.to_dict()}
    atomic_write_text(receipt, json.dumps(data))
