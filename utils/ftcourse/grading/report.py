"""Grades as people and tools read them: a terminal table, Markdown (CI job summary), JUnit XML, CSV, JSON."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ftcourse.grading._io import atomic_write_text
from ftcourse.grading.results import ICONS, NotebookResult


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def terminal(result: NotebookResult, width: int = 100) -> str:
    """A plain-text table for one notebook, with the grader's warnings under it."""
    name = result.notebook
    if result.error:
        return f"{name}: NOT GRADED: {result.error}"
    lines = [f"{name} ({result.lab}): {result.points:g}/{result.max} points"]
    for q in result.questions:
        lines.append(f"  {q.id:<6} {q.status:<8} {q.points:>4g}/{q.max:<3} {q.seconds:6.1f} s  "
                     f"{_clip(q.message if q.status != 'pass' else '', width)}".rstrip())
    lines.extend(f"  warning: {w}" for w in result.warnings)
    return "\n".join(lines)


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def markdown_table(result: NotebookResult) -> str:
    """One notebook as a Markdown section: a row per question, then the grader's warnings."""
    name = result.notebook
    if result.error:
        return f"### {name}: not graded\n\n{_md(result.error)}\n"
    lines = [f"### {name} · {result.lab} · {result.points:g}/{result.max} points", "",
             "| question | result | points | feedback |", "|---|---|---:|---|"]
    for q in result.questions:
        feedback = "" if q.status == "pass" else _md(q.message)
        lines.append(f"| {q.id} | {ICONS.get(q.status, '')} {q.status} | {q.points:g}/{q.max} | {feedback} |")
    if result.warnings:
        lines += ["", "The grader repaired the notebook before running it:", ""]
        lines += [f"- {_md(w)}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def markdown(results: Sequence[NotebookResult]) -> str:
    """The whole run for a CI job summary: a total line, then one section per notebook."""
    graded = [r for r in results if not r.error]
    total, top = sum(r.points for r in graded), sum(r.max for r in graded)
    head = f"## Lab grades: {total:g}/{top} points"
    if len(results) > 1:
        head += f" over {len(graded)} notebook(s)"
    return "\n".join([head, "", *(markdown_table(r) for r in results)])


def junit(results: Sequence[NotebookResult]) -> str:
    """JUnit XML: a test suite per notebook, a test case per question."""
    suites = ET.Element("testsuites", name="ftcourse grade")
    for r in results:
        suite = ET.SubElement(suites, "testsuite", name=Path(r.notebook).name)
        if r.error:
            suite.set("tests", "1")
            suite.set("errors", "1")
            case = ET.SubElement(suite, "testcase", classname=r.key, name="notebook")
            ET.SubElement(case, "error", message=r.error)
            continue
        counts = {"failures": 0, "errors": 0, "skipped": 0}
        for q in r.questions:
            case = ET.SubElement(suite, "testcase", classname=f"{r.key}.{r.lab}", name=q.id, time=f"{q.seconds:.3f}")
            case.set("points", f"{q.points:g}/{q.max}")
            text = f"{q.points:g}/{q.max} points: {q.message}"
            if q.status == "fail":
                ET.SubElement(case, "failure", message=text, type="fail")
                counts["failures"] += 1
            elif q.status in ("error", "timeout"):
                ET.SubElement(case, "error", message=text, type=q.status)
                counts["errors"] += 1
            elif q.status == "not_run":
                ET.SubElement(case, "skipped", message=text)
                counts["skipped"] += 1
        suite.set("tests", str(len(r.questions)))
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def grades_csv(results: Sequence[NotebookResult]) -> str:
    """One row per notebook: points per question, total, maximum, and the error if it could not be graded."""
    labs = {r.lab for r in results if r.lab}
    columns: list[str] = []
    for r in results:
        for q in r.questions:
            name = q.id if len(labs) <= 1 else f"{r.lab}.{q.id}"
            if name not in columns:
                columns.append(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["notebook", "lab", *columns, "total", "max", "error"])
    for r in results:
        points = {(q.id if len(labs) <= 1 else f"{r.lab}.{q.id}"): f"{q.points:g}" for q in r.questions}
        writer.writerow([r.notebook, r.lab or "", *(points.get(c, "") for c in columns),
                         f"{r.points:g}" if not r.error else "", r.max if not r.error else "", r.error or ""])
    return buffer.getvalue()


def write(results: Sequence[NotebookResult], out: str | Path) -> list[Path]:
    """summary.md, junit.xml and results.json for the run; grades.csv too when there are several notebooks."""
    out = Path(out)
    files = {
        "summary.md": markdown(results),
        "junit.xml": junit(results),
        "results.json": json.dumps({"notebooks": [r.to_dict() for r in results]}, indent=1, ensure_ascii=False) + "\n",
    }
    if len(results) > 1:
        files["grades.csv"] = grades_csv(results)
    for name, text in files.items():
        atomic_write_text(out / name, text)
    return [out / name for name in files]
