"""``ftcourse grade``: execute a learner's lab in a fresh kernel and score every question on its own.

How a question's result is read, out of band: the grader does not run the check cell's text.
At each check cell it sends its own request, which runs the check function from the grader's
installation in a fresh ``Lab`` object and writes the result, with a nonce drawn for that request,
to a receipt file under ``--out``. A question passes only when that request's execute reply has
status ``ok`` and the receipt carries the nonce and says ``pass``. Printed text, tracebacks (or
their absence), ``showtraceback`` overrides, a rebound ``lab`` and stderr noise change nothing.

Faults cost only what they touch: a cell over its time limit is interrupted; a kernel that
dies or stays busy after the interrupt is replaced by a fresh one, which re-runs the cells
above except the culprit, and grading goes on. Results already earned are kept and
``results.json`` is rewritten as each question finishes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ftcourse.grading import checks, report
from ftcourse.grading._io import atomic_write_text
from ftcourse.grading.answers import Question
from ftcourse.grading.format import LabFormatError, UnreadableNotebook, dumps, lab_name, parse_lab, read_notebook
from ftcourse.grading.kernel import KernelSession, Outcome
from ftcourse.grading.restore import Restored, restore
from ftcourse.grading.results import STATUSES, NotebookResult, QuestionResult

DEFAULT_TIMEOUT = 120.0  # seconds per cell unless the lab's metadata says otherwise
DEFAULT_GRACE = 5.0  # seconds a kernel gets to stop after an interrupt before it is replaced
MAX_RESTARTS = 3
PACKAGE_REPO = Path(__file__).resolve().parents[3]


class GraderError(RuntimeError):
    """The grader itself cannot run (no canonical lab, no checks, no kernel); the message is one line."""


@dataclass
class Options:
    """How to grade: time limits, kernel, where canonical labs and checks live."""

    timeout: float = DEFAULT_TIMEOUT
    grace: float = DEFAULT_GRACE
    kernel_name: str = "python3"
    max_restarts: int = MAX_RESTARTS
    solutions_dir: Path | None = None
    checks_dir: Path | None = None


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours, with relative PYTHONPATH entries made absolute (the kernel starts in the
    notebook's folder) and, for a source checkout, this very ftcourse first (the grader's checks are the ones
    that run in the kernel)."""
    entries = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    package_parent = Path(__file__).resolve().parents[2]
    if package_parent.name not in ("site-packages", "dist-packages"):  # an editable install or a checkout
        entries.insert(0, str(package_parent))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(entries))}


def find_solution(lab: str, notebook: Path, solutions_dir: Path | None = None) -> Path:
    """The canonical source of `lab`: solutions/labNN_*.ipynb in --solutions, ./solutions, or the course repo."""
    if solutions_dir is not None:
        places = [Path(solutions_dir)]
    else:
        places = [Path.cwd() / "solutions", notebook.resolve().parent.parent / "solutions", PACKAGE_REPO / "solutions"]
    for place in places:
        found = sorted(place.glob(f"{lab}_*.ipynb")) + sorted(place.glob(f"{lab}.ipynb"))
        if len(found) > 1:
            raise GraderError(f"{place}: several canonical notebooks for {lab}: {', '.join(p.name for p in found)}")
        if found:
            return found[0]
    raise GraderError(f"no canonical solution for {lab} (looked for {lab}_*.ipynb in "
                      f"{', '.join(str(p) for p in dict.fromkeys(places))}); pass --solutions DIR")


class _Run:
    """Executes one restored notebook cell by cell, across kernel restarts, and scores each check."""

    def __init__(self, restored: Restored, lab: str, questions: dict[str, Question], work: Path,
                 cwd: Path, options: Options, on_result: Callable[[QuestionResult], None]):
        cells = []
        for cell in copy.deepcopy(restored.nb["cells"]):
            cell.setdefault("metadata", {})
            if isinstance(cell.get("source"), list):
                cell["source"] = "".join(cell["source"])
            cells.append(cell)
        self.nb = nbformat.from_dict({**restored.nb, "cells": cells})
        self.slots, self.lab, self.questions, self.options = restored.slots, lab, questions, options
        self.receipts = work / "receipts"
        self.receipts.mkdir(parents=True, exist_ok=True)
        self.cwd, self.on_result = cwd, on_result
        self.results: dict[str, QuestionResult] = {}
        self.troubles: dict[str, list[tuple[str, str]]] = defaultdict(list)  # qid -> [(kind, text)]
        self.seconds: dict[str, float] = defaultdict(float)
        self.stopped: set[int] = set()  # cells that hit their time limit: not worth a second wait on replay
        self.env = kernel_env()
        if options.checks_dir is not None:
            self.env[checks.CHECKS_DIR_ENV] = str(Path(options.checks_dir).resolve())

    def timeout(self, index: int) -> float:
        return self.slots[index].timeout or self.options.timeout

    async def run(self) -> None:
        position, culprits, restarts, n = 0, set(), 0, len(self.nb.cells)
        while position < n:
            session = KernelSession(self.nb, self.options.kernel_name, str(self.cwd), self.env, self.options.grace)
            try:
                await session.start()
            except Exception as exc:  # no kernel at all: the grader cannot run
                await session.close()
                if restarts == 0:
                    raise GraderError(f"cannot start kernel {self.options.kernel_name!r}: "
                                      f"{type(exc).__name__}: {exc}") from None
                self._not_run(f"a fresh kernel could not be started ({type(exc).__name__})")
                return
            try:
                lost = await self._replay(session, position, culprits) if position else None
                if lost is None:
                    lost = await self._forward(session, position)
                    if lost is None:
                        return
                    position = lost + 1
                culprits.add(lost)
            finally:
                await session.close()
            restarts += 1
            if restarts > self.options.max_restarts:
                self._not_run(f"the kernel was lost {restarts} times, last in {self.slots[lost].label}")
                return

    async def _forward(self, session: KernelSession, start: int) -> int | None:
        """Run cells from `start`; the index of a cell that lost the kernel, or None at the end."""
        for index in range(start, len(self.nb.cells)):
            slot, cell = self.slots[index], self.nb.cells[index]
            if slot.kind == "summary":
                continue
            if slot.kind == "check":
                outcome = await self._check(session, index)
            else:
                outcome = await session.run(cell, index, self.timeout(index))
                self._record(index, outcome)
            if outcome.lost_kernel:
                return index
        return None

    async def _replay(self, session: KernelSession, stop: int, culprits: set[int]) -> int | None:
        """Rebuild the state of a lost kernel: re-run cells before `stop`, except checks and culprits."""
        for index in range(stop):
            if index in culprits or index in self.stopped or self.slots[index].kind in ("check", "summary"):
                continue
            original = self.nb.cells[index]
            outcome = await session.run(copy.deepcopy(original), index, self.timeout(index))
            self.nb.cells[index] = original
            if outcome.lost_kernel:
                self._note(original, f"the kernel was lost again while re-running this cell ({outcome.status}); "
                                     "the grader skips it from now on")
                return index
        return None

    def _record(self, index: int, outcome: Outcome) -> None:
        slot, cell = self.slots[index], self.nb.cells[index]
        if slot.qid:
            self.seconds[slot.qid] += outcome.seconds
        limit = f"{self.timeout(index):g} s"
        if outcome.status in ("timeout", "wedged"):
            self.stopped.add(index)
        if outcome.status == "timeout":
            self._note(cell, f"stopped after its time limit of {limit}")
            text = f"{slot.label} ran over its time limit of {limit} and was stopped."
        elif outcome.status == "wedged":
            self._note(cell, f"ran over its time limit of {limit} and did not stop when interrupted; the grader "
                             "started a fresh kernel, re-ran the cells above and went on without this one")
            text = f"{slot.label} ran over its time limit of {limit}, could not be interrupted and was skipped."
        elif outcome.status == "died":
            why = f" ({outcome.error})" if outcome.error else ""
            self._note(cell, f"the kernel died while running this cell{why}; the grader started a fresh kernel, "
                             "re-ran the cells above and went on without this one")
            why = why or " (os._exit(), exit() or a crash?)"
            text = f"the kernel died while running {slot.label}{why}; the cell was skipped after a restart."
        elif outcome.status == "error":
            text = f"{slot.label} raised {outcome.error}."
        else:
            return
        if slot.qid:
            kind = "timeout" if outcome.status == "wedged" else outcome.status
            self.troubles[slot.qid].append((kind, text))

    @staticmethod
    def _note(cell: dict, text: str) -> None:
        cell.setdefault("outputs", []).append(
            nbformat.v4.new_output("stream", name="stderr", text=f"\n[ftcourse grade: {text}]\n"))

    async def _check(self, session: KernelSession, index: int) -> Outcome:
        """Run the grader's own check request for this check cell and score the question from its receipt."""
        slot, cell = self.slots[index], self.nb.cells[index]
        qid = slot.qid
        nonce = secrets.token_hex(16)
        receipt = self.receipts / f"{qid}-{nonce}.json"
        probe = copy.deepcopy(cell)
        probe["source"] = (f'__import__("ftcourse.grading.lab", fromlist=["graded_check"]).graded_check('
                           f"{self.lab!r}, {qid!r}, {str(receipt.resolve())!r}, {nonce!r})")
        outcome = await session.run(probe, index, self.timeout(index))
        self.nb.cells[index] = cell
        cell["outputs"], cell["execution_count"] = probe.get("outputs", []), probe.get("execution_count")
        self.seconds[qid] += outcome.seconds
        data = self._receipt(receipt, nonce, qid)
        result = self._score(qid, outcome, data, self.timeout(index))
        self.results[qid] = result
        self.on_result(result)
        return outcome

    @staticmethod
    def _receipt(path: Path, nonce: str, qid: str) -> dict | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        valid = (isinstance(data, dict) and data.get("nonce") == nonce and data.get("id") == qid
                 and isinstance(data.get("points"), int | float) and data.get("status") in STATUSES)
        return data if valid else None

    def _score(self, qid: str, outcome: Outcome, data: dict | None, limit: float) -> QuestionResult:
        top = self.questions[qid].points  # from the grader's copy of the checks, never from the notebook
        points = min(max(float(data["points"]), 0.0), top) if data else 0.0
        said = str(data.get("message", "")) if data else ""
        if outcome.status == "ok" and data:
            if data["status"] == "pass" and points == top:
                status = "pass"
            else:  # a "pass" short of full points (a part failed) is a fail
                status = data["status"] if data["status"] in ("fail", "error") else "fail"
            message = said
        elif outcome.status == "ok":
            status, message = "error", ("the check ran but its result never reached the grader (no receipt with "
                                        "this run's nonce); was ftcourse.grading changed inside the notebook?")
        elif outcome.status == "error":
            status, message = "error", f"the check could not run: {outcome.error}."
        elif outcome.status in ("timeout", "wedged"):
            status = "timeout"
            message = (f"the check did not finish within {limit:g} s and was stopped: does your code loop forever "
                       f"or take too long?{' ' + said if said else ''}")
        else:
            status, message = "error", ("the kernel died while checking this question (does your code call "
                                        "os._exit() or exit(), or crash Python?).")
        if status != "pass":
            troubles = self.troubles.get(qid, [])
            kinds = {kind for kind, _ in troubles}
            if status in ("fail", "error") and "timeout" in kinds:
                status = "timeout"
            elif status == "fail" and "died" in kinds:
                status = "error"
            message = " ".join([t for _, t in troubles] + [message]).strip()
        return QuestionResult(qid, round(points, 3), top, status, message, round(self.seconds[qid], 3))

    def _not_run(self, reason: str) -> None:
        for qid, q in self.questions.items():
            if qid not in self.results:
                self.results[qid] = QuestionResult(qid, 0.0, q.points, "not_run", f"not run: {reason}.",
                                                   round(self.seconds.get(qid, 0.0), 3))
                self.on_result(self.results[qid])


def _write_json(path: Path, data: dict) -> None:
    """results.json, replaced whole: a reader during grading sees the previous version or this one."""
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def grade_notebook(path: str | Path, work: str | Path, options: Options | None = None, key: str | None = None,
                   table: Callable[[NotebookResult], str] | None = None) -> NotebookResult:
    """Grade one notebook into directory `work` (results.json, executed.ipynb); the notebook itself is only read."""
    options = options or Options()
    path, work = Path(path), Path(work)
    learner = read_notebook(path)
    lab = lab_name(path, learner)
    spec = parse_lab(find_solution(lab, path, options.solutions_dir))
    try:
        questions = checks.load(lab, options.checks_dir)
    except (ValueError, ImportError, SyntaxError) as exc:
        raise GraderError(f"cannot load the checks of {lab}: {exc}") from None
    if set(questions) != set(spec.questions):
        raise GraderError(f"{spec.path}: check cells {sorted(spec.questions)} and check functions {sorted(questions)} "
                          "disagree; run `ftcourse assign` to see which")
    restored = restore(spec, learner)
    work.mkdir(parents=True, exist_ok=True)
    result = NotebookResult(str(path), key or path.stem, lab, warnings=restored.warnings)
    finished: dict[str, QuestionResult] = {}

    def on_result(q: QuestionResult) -> None:
        finished[q.id] = q
        result.questions = [finished[qid] for qid in questions if qid in finished]
        _write_json(work / "results.json", result.to_dict())

    _write_json(work / "results.json", result.to_dict())
    run = _Run(restored, lab, questions, work, path.resolve().parent, options, on_result)
    asyncio.run(run.run())
    for qid, q in questions.items():  # a check cell never reached (cannot happen after restore, but be sure)
        if qid not in finished:
            on_result(QuestionResult(qid, 0.0, q.points, "not_run", "not run: its check cell was never reached."))
    result.complete = True
    _write_json(work / "results.json", result.to_dict())
    if table is not None:
        for cell, slot in zip(run.nb.cells, run.slots):
            if slot.kind == "summary":
                cell["outputs"] = [nbformat.v4.new_output("display_data", data={"text/markdown": table(result)})]
    atomic_write_text(work / "executed.ipynb", dumps(run.nb))
    return result


def unique_keys(paths: Sequence[Path]) -> list[str]:
    """A short, distinct folder name per notebook: its stem, with as many parent folders as it takes to tell
    notebooks with the same stem apart (alice/lab01.ipynb, bob/lab01.ipynb -> alice__lab01, bob__lab01)."""
    def key(path: Path, parents: int) -> str:
        parts = path.resolve().parts[:-1]
        return "__".join([*parts[len(parts) - parents :], path.stem] if parents else [path.stem])

    keys: list[str] = []
    for path in paths:
        parents = 0
        while parents < len(path.resolve().parts) and any(
                other is not path and key(other, parents) == key(path, parents) for other in paths):
            parents += 1
        name = key(path, parents)
        while name in keys:  # the same file given twice
            name += "_"
        keys.append(name)
    return keys


def grade(paths: Sequence[str | Path], out: str | Path, options: Options | None = None,
          echo: Callable[[str], None] = print) -> list[NotebookResult]:
    """Grade every notebook into `out` and write the reports; problems with one notebook do not stop the others."""
    paths = [Path(p) for p in paths]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path, key in zip(paths, unique_keys(paths)):
        try:
            result = grade_notebook(path, out / key, options, key, table=report.markdown_table)
        except (UnreadableNotebook, LabFormatError, GraderError) as exc:
            result = NotebookResult(str(path), key, error=str(exc))
        results.append(result)
        echo(report.terminal(result))
    report.write(results, out)
    return results
