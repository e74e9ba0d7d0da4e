"""``ftcourse assign``: the student versions in labs/, generated from the solutions in solutions/.

Each solution region becomes a stub at the same indentation: ``...`` at top level and
``raise NotImplementedError("q1")`` inside a function body. Outputs are cleared; check and
locked cells are made read-only (``editable: false``, ``deletable: false``, honoured by
JupyterLab and Colab). A lab whose format is broken, or whose check cells and check functions
disagree, is refused with the file and cell named, and nothing is written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftcourse.grading import checks
from ftcourse.grading._io import atomic_write_text
from ftcourse.grading.answers import Question
from ftcourse.grading.format import LabFormatError, LabSpec, Region, dumps, parse_lab, solution_regions, source, where

Render = Callable[[dict, str], object]  # (notebook, path relative to the repository root) -> regenerate badge/setup
_DEF_RE = re.compile(r"^(async\s+)?def\s")
_RUNTIME_KEYS = ("execution", "collapsed", "scrolled")


def stub(lines: list[str], region: Region, qid: str) -> str:
    """The line that replaces `region`: ``raise NotImplementedError(qid)`` in a function body, else ``...``."""
    level = len(region.indent)
    for line in reversed(lines[: region.begin]):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith("#") or indent >= level:
            continue
        if _DEF_RE.match(stripped):
            return f'{region.indent}raise NotImplementedError("{qid}")'
        if stripped.startswith("class "):
            break
        level = indent
    return f"{region.indent}..."


def stub_source(text: str, qid: str, place: str = "cell") -> str:
    """A solution cell's source with every region replaced by its stub."""
    lines = text.splitlines()
    out: list[str] = []
    position = 0
    for region in solution_regions(text, place):
        out.extend(lines[position : region.begin])
        out.append(stub(lines, region, qid))
        position = region.end + 1
    out.extend(lines[position:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _set_source(cell: dict, text: str) -> None:
    """Keep the notebook's own representation (one string, or a list of lines)."""
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def _clear(cell: dict) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    for key in _RUNTIME_KEYS:
        cell.get("metadata", {}).pop(key, None)


def validate_against_checks(spec: LabSpec, questions: dict[str, Question]) -> None:
    """Every check cell has a check function with the same points, and every check function has a cell."""
    for lc in spec.role_cells("check"):
        q = questions.get(lc.meta.id)
        if q is None:
            raise LabFormatError(f"{where(spec.path, lc.index, lc.cell)}: no check function for {lc.meta.id!r} in "
                                 f"ftcourse/grading/checks/{spec.lab}.py (it has: {', '.join(questions) or 'none'})")
        if q.points != lc.meta.points:
            raise LabFormatError(f"{where(spec.path, lc.index, lc.cell)}: the cell says {lc.meta.points} points but "
                                 f"check function {q.func.__name__} says {q.points}")
    cells = spec.questions
    orphans = [q for q in questions.values() if q.id not in cells]
    if orphans:
        names = ", ".join(f"{q.id} ({q.func.__name__})" for q in orphans)
        raise LabFormatError(f"{spec.path}: check function(s) without a check cell: {names}; add a cell "
                             f'lab.check("{orphans[0].id}") with metadata {{"ftcourse": {{"role": "check", '
                             f'"id": "{orphans[0].id}", "points": {orphans[0].points}}}}}')


def student_version(spec: LabSpec, questions: dict[str, Question]) -> dict:
    """The student notebook for a validated lab: stubs, no outputs, read-only check and locked cells."""
    validate_against_checks(spec, questions)
    nb = copy.deepcopy(spec.nb)
    for lc, cell in zip(spec.cells, nb["cells"]):
        _clear(cell)
        if lc.meta is None:
            continue
        if lc.meta.role == "solution":
            _set_source(cell, stub_source(source(cell), lc.meta.id, where(spec.path, lc.index, cell)))
        else:
            cell["metadata"]["editable"] = False
            cell["metadata"]["deletable"] = False
    meta = nb.setdefault("metadata", {})
    meta["ftcourse"] = {"lab": spec.lab, "generated": "by `ftcourse assign` from solutions/; do not edit by hand"}
    return nb


@dataclass(frozen=True)
class Assigned:
    """One generated lab: where it comes from, where it goes, and its text."""

    solution: Path
    lab: Path
    text: str


def build(solutions_dir: str | Path, labs_dir: str | Path, root: str | Path, render: Render | None = None,
          checks_dir: str | Path | None = None) -> list[Assigned]:
    """Generate (in memory) the student version of every solutions/lab*.ipynb; raises LabFormatError."""
    solutions_dir, labs_dir, root = Path(solutions_dir), Path(labs_dir), Path(root)
    paths = sorted(solutions_dir.glob("lab*.ipynb"))
    if not paths:
        raise LabFormatError(f"{solutions_dir}: no lab notebooks (solutions/labNN_slug.ipynb) to assign")
    out = []
    for path in paths:
        spec = parse_lab(path)
        nb = student_version(spec, checks.load(spec.lab, checks_dir))
        target = labs_dir / path.name
        if render is not None:
            render(nb, target.resolve().relative_to(root.resolve()).as_posix())
        out.append(Assigned(path, target, dumps(nb)))
    return out


def assign(solutions_dir: str | Path, labs_dir: str | Path, root: str | Path, render: Render | None = None,
           checks_dir: str | Path | None = None) -> list[Path]:
    """Write labs/ from solutions/ (all labs or none); returns the files that changed."""
    changed = []
    built = build(solutions_dir, labs_dir, root, render, checks_dir)
    Path(labs_dir).mkdir(parents=True, exist_ok=True)
    for item in built:
        if not item.lab.is_file() or item.lab.read_text(encoding="utf-8") != item.text:
            atomic_write_text(item.lab, item.text)
            changed.append(item.lab)
    return changed


def drift(solutions_dir: str | Path, labs_dir: str | Path, root: str | Path, render: Render | None = None,
          checks_dir: str | Path | None = None) -> list[str]:
    """What differs between labs/ and a fresh assign (empty when they agree)."""
    built = build(solutions_dir, labs_dir, root, render, checks_dir)
    problems = []
    for item in built:
        if not item.lab.is_file():
            problems.append(f"{item.lab}: missing (run `ftcourse assign`)")
        elif item.lab.read_text(encoding="utf-8") != item.text:
            problems.append(f"{item.lab}: differs from a fresh `ftcourse assign` of {item.solution}")
    expected = {item.lab.name for item in built}
    for extra in sorted(Path(labs_dir).glob("lab*.ipynb")):
        if extra.name not in expected:
            problems.append(f"{extra}: no solution {Path(solutions_dir) / extra.name} generates it")
    return problems
