"""The lab format: cell roles in metadata, solution markers, and reading notebooks safely.

A lab's single source is ``solutions/labNN_slug.ipynb``. Cells that matter to grading carry
``{"ftcourse": {"role": "solution" | "check" | "locked", "id": "q1", "points": 2}}`` in their
metadata; answer code sits between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines.

- ``solution``: the learner's answer to question ``id``; the marked regions become stubs.
- ``check``: one line, ``lab.check("q1")``; ``points`` says what the question is worth.
- ``locked``: setup the checks rely on (imports, ``lab = Lab(...)``, the summary).
- ``timeout`` (seconds, optional, any role): the grader's time limit for that cell.

This module only reads and validates; it never imports the rest of the package.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("solution", "check", "locked")
META_KEYS = {"role", "id", "points", "timeout"}
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
SUMMARY_ID = "summary"  # the locked cell that calls lab.summary(); the grader shows its own table there
_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_MARKER_RE = re.compile(r"^\s*#\s*(BEGIN|END)\s+SOLUTION\b", re.IGNORECASE)
_CHECK_RE = re.compile(r"""^lab\.check\((["'])(?P<id>[^"']+)\1\)$""")
LAB_RE = re.compile(r"^(lab\d{2})(?!\d)")  # lab01_tokens.ipynb, lab01.ipynb, "lab01_tokens (1).ipynb"


class LabFormatError(ValueError):
    """A lab notebook breaks the format; the message names the file and the cell."""


class UnreadableNotebook(ValueError):
    """A file that is not a readable Jupyter notebook; the message is one line."""


def source(cell: dict) -> str:
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def where(path: str | Path, index: int, cell: dict) -> str:
    """'file, cell 7 (id 'q1-solution')': how every error names a cell."""
    return f"{path}, cell {index} (id {cell.get('id')!r})"


@dataclass(frozen=True)
class CellMeta:
    """The validated ``ftcourse`` metadata of one cell."""

    role: str
    id: str
    points: int | None = None
    timeout: float | None = None


def cell_meta(cell: dict, place: str = "cell") -> CellMeta | None:
    """Validated ftcourse metadata of `cell`, None if it has none; LabFormatError if it is malformed."""
    raw = cell.get("metadata", {}).get("ftcourse")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise LabFormatError(f"{place}: metadata 'ftcourse' must be an object like "
                             f'{{"role": "check", "id": "q1", "points": 2}}, got {raw!r}')
    unknown = set(raw) - META_KEYS
    if unknown:
        raise LabFormatError(f"{place}: unknown ftcourse metadata key(s) {sorted(unknown)}; valid keys: "
                             f"{', '.join(sorted(META_KEYS))}")
    role, qid, points, timeout = raw.get("role"), raw.get("id"), raw.get("points"), raw.get("timeout")
    if role not in ROLES:
        raise LabFormatError(f"{place}: role {role!r} is not a role; valid roles: {', '.join(ROLES)}")
    if not isinstance(qid, str) or not _ID_RE.match(qid):
        raise LabFormatError(f"{place}: id {qid!r} must be a short lowercase name such as 'q1' "
                             "(letters, digits, '-' or '_', starting with a letter)")
    if role == "check":
        if not isinstance(points, int) or isinstance(points, bool) or points < 1:
            raise LabFormatError(f"{place}: a check cell needs 'points', a positive integer; got {points!r}")
    elif points is not None:
        raise LabFormatError(f"{place}: only check cells carry 'points' (this cell's role is {role!r})")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise LabFormatError(f"{place}: timeout must be a positive number of seconds, got {timeout!r}")
    if cell.get("cell_type") != "code":
        raise LabFormatError(f"{place}: a {role} cell must be a code cell, not {cell.get('cell_type')!r}")
    return CellMeta(role, qid, points, float(timeout) if timeout is not None else None)


@dataclass(frozen=True)
class Region:
    """Lines ``begin``..``end`` (0-based, markers included) of a solution region, and its indentation."""

    begin: int
    end: int
    indent: str


def solution_regions(text: str, place: str = "cell") -> list[Region]:
    """The ``# BEGIN SOLUTION`` / ``# END SOLUTION`` regions of a cell; refuses nesting and imbalance."""
    regions, open_at, open_indent = [], None, ""
    for lineno, line in enumerate(text.splitlines()):
        match = _MARKER_RE.match(line)
        if not match:
            continue
        kind = match.group(1).upper()
        if line.strip() not in (BEGIN, END):
            raise LabFormatError(f"{place}, line {lineno + 1}: write the marker exactly as "
                                 f"'{BEGIN if kind == 'BEGIN' else END}', got {line.strip()!r}")
        indent = line[: len(line) - len(line.lstrip())]
        if kind == "BEGIN":
            if open_at is not None:
                raise LabFormatError(f"{place}, line {lineno + 1}: nested '{BEGIN}' "
                                     f"(the region opened on line {open_at + 1} is not closed)")
            open_at, open_indent = lineno, indent
        else:
            if open_at is None:
                raise LabFormatError(f"{place}, line {lineno + 1}: '{END}' without a '{BEGIN}' before it")
            if indent != open_indent:
                raise LabFormatError(f"{place}, line {lineno + 1}: '{END}' must be indented like its "
                                     f"'{BEGIN}' on line {open_at + 1}")
            regions.append(Region(open_at, lineno, indent))
            open_at = None
    if open_at is not None:
        raise LabFormatError(f"{place}, line {open_at + 1}: '{BEGIN}' is never closed by '{END}'")
    return regions


def has_marker(text: str) -> bool:
    """True when any line looks like a solution marker (used to refuse markers outside solution cells)."""
    return any(_MARKER_RE.match(line) for line in text.splitlines())


def check_target(text: str) -> str | None:
    """The question id in a check cell's one line ``lab.check("q1")``, None if the cell is not that line."""
    match = _CHECK_RE.match(text.strip())
    return match.group("id") if match else None


@dataclass
class LabCell:
    """A cell of a lab with its position and validated metadata."""

    index: int
    cell: dict
    meta: CellMeta | None

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.meta.role, self.meta.id) if self.meta else None


@dataclass
class LabSpec:
    """A validated lab source notebook: which cells are solutions, checks and locked setup."""

    path: Path
    lab: str
    nb: dict
    cells: list[LabCell] = field(default_factory=list)

    def role_cells(self, role: str) -> list[LabCell]:
        return [c for c in self.cells if c.meta and c.meta.role == role]

    @property
    def questions(self) -> dict[str, int]:
        """Question id -> points, in notebook order (from the check cells)."""
        return {c.meta.id: c.meta.points for c in self.role_cells("check")}


def lab_name(path: str | Path, nb: dict | None = None) -> str:
    """'lab01' from a file named labNN_*.ipynb, else from the notebook's ftcourse metadata."""
    match = LAB_RE.match(Path(path).name)
    if match:
        return match.group(1)
    meta = (nb or {}).get("metadata", {}).get("ftcourse", {})
    if isinstance(meta, dict) and isinstance(meta.get("lab"), str) and re.fullmatch(r"lab\d{2}", meta["lab"]):
        return meta["lab"]
    raise LabFormatError(f"{path}: cannot tell which lab this is; name the file labNN_something.ipynb (e.g. "
                         "lab01_tokens.ipynb)")


def parse_lab(path: str | Path, nb: dict | None = None) -> LabSpec:
    """Read and validate a lab source notebook; LabFormatError names the file and cell of any problem."""
    path = Path(path)
    nb = read_notebook(path) if nb is None else nb
    spec = LabSpec(path=path, lab=lab_name(path, nb), nb=nb)
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple[str, str], int] = {}
    for index, cell in enumerate(nb["cells"]):
        place = where(path, index, cell)
        cid = cell.get("id")
        if cid is None:
            raise LabFormatError(f"{place}: cell has no id (save the notebook as nbformat 4.5 or newer)")
        if cid in seen_ids:
            raise LabFormatError(f"{place}: duplicate cell id {cid!r} (also cell {seen_ids[cid]})")
        seen_ids[cid] = index
        meta = cell_meta(cell, place)
        text = source(cell)
        if meta is None or meta.role != "solution":
            if has_marker(text):
                raise LabFormatError(f"{place}: solution marker outside a solution cell; give the cell metadata "
                                     '{"ftcourse": {"role": "solution", "id": "q1"}} or remove the marker')
        if meta is not None:
            key = (meta.role, meta.id)
            if key in seen_keys:
                raise LabFormatError(f"{place}: duplicate {meta.role} id {meta.id!r} (also cell {seen_keys[key]})")
            seen_keys[key] = index
            if meta.role == "solution" and not solution_regions(text, place):
                raise LabFormatError(f"{place}: a solution cell needs a '{BEGIN}' ... '{END}' region")
            if meta.role == "check":
                target = check_target(text)
                if target is None:
                    raise LabFormatError(f"{place}: a check cell must be the single line lab.check({meta.id!r}), "
                                         f"got {text.strip()[:60]!r}")
                if target != meta.id:
                    raise LabFormatError(f"{place}: check cell {meta.id!r} calls lab.check({target!r})")
        spec.cells.append(LabCell(index, cell, meta))
    questions = spec.questions
    for lc in spec.role_cells("solution"):
        if lc.meta.id not in questions:
            raise LabFormatError(f"{where(path, lc.index, lc.cell)}: solution {lc.meta.id!r} has no check cell "
                                 f"lab.check({lc.meta.id!r}); questions with checks: {', '.join(questions) or 'none'}")
    return spec


def read_notebook(path: str | Path) -> dict:
    """A notebook as plain JSON (duplicate ids kept, so tampering stays visible); UnreadableNotebook if not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableNotebook(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableNotebook(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableNotebook(f"{path}: not a notebook, invalid JSON at line {exc.lineno} column {exc.colno} "
                                 f"({exc.msg})") from None
    problem = _shape_problem(nb)
    if problem:
        raise UnreadableNotebook(f"{path}: not a Jupyter notebook ({problem})")
    return nb


def _shape_problem(nb: Any) -> str | None:
    if not isinstance(nb, dict):
        return f"the file holds a JSON {type(nb).__name__}, not an object"
    if nb.get("nbformat") != 4:
        return f"nbformat {nb.get('nbformat')!r}; only version 4 notebooks are supported"
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return "no list of cells"
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {i} is not a code, markdown or raw cell"
        src = cell.get("source", "")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            return f"cell {i} has a source that is not text"
        if not isinstance(cell.get("metadata", {}), dict):
            return f"cell {i} has metadata that is not an object"
    return None


def dumps(nb: dict) -> str:
    """Notebook JSON in the layout JupyterLab writes (1-space indent, trailing newline), so diffs stay small."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
