"""The graded copy of a learner's notebook: check and locked cells restored from the canonical lab.

Matching is by cell id, then by the cell's ``ftcourse`` metadata (role and id). Check and
locked cells always come from the canonical source: an edited one is replaced, a deleted one
is put back after its canonical predecessor, one retyped to markdown becomes code again, and
copies are dropped. The learner's answers and extra cells keep their order. Time limits come
from the canonical metadata only, never from the learner's copy. Each repair is a warning.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from ftcourse.grading.format import SUMMARY_ID, CellMeta, LabCell, LabFormatError, LabSpec, cell_meta, source

_CELL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,60}$")  # nbformat allows 64 characters; keep room for a suffix


@dataclass
class Slot:
    """What one cell of the graded copy is, for the grader."""

    kind: str  # check | locked | summary | solution | learner
    qid: str | None  # the question it belongs to (learner cells: the next check after them)
    timeout: float | None  # from the canonical metadata; None means the grader's default
    label: str  # how messages name it, e.g. "your cell for q2 (id 'q2-solution')"


@dataclass
class Restored:
    """The notebook to execute, a slot per cell, and what was repaired."""

    nb: dict
    slots: list[Slot]
    warnings: list[str] = field(default_factory=list)


def _lenient_meta(cell: dict) -> CellMeta | None:
    """Learner-side metadata may be anything; malformed metadata simply does not count."""
    try:
        return cell_meta(cell) if isinstance(cell, dict) else None
    except LabFormatError:
        return None


def _fresh(cell: dict) -> dict:
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def restore(spec: LabSpec, learner: dict) -> Restored:
    """Build the graded copy of `learner` against the canonical lab `spec` (neither is modified)."""
    by_id = {lc.cell["id"]: lc for lc in spec.cells if lc.meta}
    by_key = {lc.key: lc for lc in spec.cells if lc.meta}
    out: list[tuple[dict, Slot]] = []
    placed: set[str] = set()
    warnings: list[str] = []

    def match(cell: dict) -> LabCell | None:
        found = by_id.get(cell.get("id"))
        if found is not None:
            return found
        meta = _lenient_meta(cell) if cell.get("cell_type") == "code" else _markdown_meta(cell)
        return by_key.get((meta.role, meta.id)) if meta else None

    cells = learner.get("cells", [])
    matches = [match(cell) for cell in cells]
    chosen = _choose_copies(matches)
    for index, (cell, lc) in enumerate(zip(cells, matches)):
        role = lc.meta.role if lc else None
        if role in ("check", "locked"):
            cid = lc.cell["id"]
            if chosen[cid] != index:
                warnings.append(f"ignored cell {index}: a copy of {role} cell {cid!r}")
                continue
            placed.add(cid)
            if cell.get("cell_type") != "code":
                warnings.append(f"restored {role} cell {cid!r}: it had been turned into a {cell.get('cell_type')} cell")
            elif source(cell).strip() != source(lc.cell).strip():
                warnings.append(f"restored {role} cell {cid!r}: it had been edited")
            out.append((_fresh(lc.cell), _slot(lc)))
        elif role == "solution" and chosen[lc.cell["id"]] == index:
            cid = lc.cell["id"]
            placed.add(cid)
            mine = _fresh(cell)
            mine["id"] = cid
            mine.setdefault("metadata", {})["ftcourse"] = dict(lc.cell["metadata"]["ftcourse"])  # canonical limits
            if mine.get("cell_type") != "code":
                warnings.append(f"your answer cell {cid!r} for {lc.meta.id} is a {mine.get('cell_type')} cell, so it "
                                "was not run")
            out.append((mine, _slot(lc)))
        else:
            if role == "solution":
                warnings.append(f"cell {index} repeats the id of answer cell {lc.cell['id']!r}; it runs as an extra "
                                "cell")
            mine = _fresh(cell)
            mine.setdefault("metadata", {}).pop("ftcourse", None)
            out.append((mine, Slot("learner", None, None, f"your extra cell {index}")))

    _put_back_deleted(spec, out, placed, warnings)
    _attribute_learner_cells(out)
    _unique_ids(out)
    nb = {
        "cells": [cell for cell, _ in out],
        "metadata": {k: v for k, v in learner.get("metadata", {}).items() if k != "widgets"},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return Restored(nb, [slot for _, slot in out], warnings)


def _choose_copies(matches: list[LabCell | None]) -> dict[str, int]:
    """Which learner cell stands for each canonical cell when several claim it: the first copy, except that a
    check cell's copy must come after its question's answer cell when one does (a check run too early fails)."""
    positions: dict[str, list[int]] = {}
    for index, lc in enumerate(matches):
        if lc is not None:
            positions.setdefault(lc.cell["id"], []).append(index)
    answer_at = {lc.meta.id: positions[lc.cell["id"]][0] for lc in matches if lc and lc.meta.role == "solution"}
    chosen = {}
    for cid, found in positions.items():
        lc = matches[found[0]]
        if lc.meta.role == "check" and lc.meta.id in answer_at:
            later = [i for i in found if i > answer_at[lc.meta.id]]
            chosen[cid] = later[0] if later else found[-1]
        else:
            chosen[cid] = found[0]
    return chosen


def _markdown_meta(cell: dict) -> CellMeta | None:
    """ftcourse metadata on a retyped (markdown/raw) cell: cell_meta refuses non-code cells, so read it by hand."""
    raw = cell.get("metadata", {}).get("ftcourse")
    if isinstance(raw, dict) and isinstance(raw.get("role"), str) and isinstance(raw.get("id"), str):
        return CellMeta(raw["role"], raw["id"])
    return None


def _slot(lc: LabCell) -> Slot:
    meta = lc.meta
    if meta.role == "locked" and meta.id == SUMMARY_ID:
        return Slot("summary", None, meta.timeout, "the summary cell")
    if meta.role == "solution":
        return Slot("solution", meta.id, meta.timeout, f"your cell for {meta.id} (id {lc.cell['id']!r})")
    if meta.role == "check":
        return Slot("check", meta.id, meta.timeout, f"the check of {meta.id}")
    return Slot("locked", None, meta.timeout, f"locked cell {lc.cell['id']!r}")


def _put_back_deleted(spec: LabSpec, out: list[tuple[dict, Slot]], placed: set[str], warnings: list[str]) -> None:
    """Insert each deleted check/locked cell right after its nearest canonical predecessor that is present."""
    previous: str | None = None
    for lc in spec.cells:
        if lc.meta is None:
            continue
        cid = lc.cell["id"]
        if cid not in placed and lc.meta.role in ("check", "locked"):
            ids = [cell.get("id") for cell, _ in out]
            position = ids.index(previous) + 1 if previous in ids else 0
            out.insert(position, (_fresh(lc.cell), _slot(lc)))
            placed.add(cid)
            warnings.append(f"restored {lc.meta.role} cell {cid!r}: it had been deleted")
        elif cid not in placed and lc.meta.role == "solution":
            warnings.append(f"no answer cell {cid!r} for {lc.meta.id} (deleted?)")
        if cid in placed:
            previous = cid


def _attribute_learner_cells(out: list[tuple[dict, Slot]]) -> None:
    """A learner's extra cell belongs to the question whose check follows it (it runs before that check)."""
    upcoming: str | None = None
    for _, slot in reversed(out):
        if slot.kind == "check":
            upcoming = slot.qid
        elif slot.kind == "learner":
            slot.qid = upcoming


def _unique_ids(out: list[tuple[dict, Slot]]) -> None:
    """Canonical cells keep their ids; learner cells with a missing or repeated id get a fresh one."""
    reserved = {cell["id"] for cell, slot in out if slot.kind != "learner"}
    used: set[str] = set()
    for cell, slot in out:
        cid = cell.get("id")
        valid = isinstance(cid, str) and _CELL_ID_RE.match(cid)
        if slot.kind == "learner" and (not valid or cid in reserved or cid in used):
            base = cid if valid else "cell"
            suffix = 1
            while f"{base}-{suffix}" in used or f"{base}-{suffix}" in reserved:
                suffix += 1
            cell["id"] = f"{base}-{suffix}"
        used.add(cell["id"])
