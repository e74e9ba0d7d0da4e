"""The results grading produces, as plain dataclasses every other grading module shares.

- ``PartResult`` and ``Result``: one question's check, as ``lab.check`` prints it and the receipt carries it.
- ``QuestionResult`` and ``NotebookResult``: one notebook's grade, as ``ftcourse grade`` reports it.

This module imports nothing from the rest of the package, so ``grade`` and ``report`` both import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("pass", "fail", "error", "timeout", "not_run")
ICONS = {"pass": "✅", "fail": "❌", "error": "❌", "timeout": "⏱️", "not_run": "⏭️"}


@dataclass
class PartResult:
    """One part of a question: its points, whether it passed, and (hidden parts) whether the learner sees it."""

    name: str
    points: int
    earned: int
    message: str = ""
    hidden: bool = False  # lab.check shows "a hidden test"; the grader's reports show name and message


@dataclass
class Result:
    """The outcome of one question's check: what the grader and ``lab.check`` report."""

    id: str
    points: float
    max: int
    status: str
    message: str
    seconds: float = 0.0
    parts: list[PartResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # failures outside any part

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QuestionResult:
    """One question's grade: what results.json, the tables and JUnit report."""

    id: str
    points: float
    max: int
    status: str  # pass | fail | error | timeout | not_run
    message: str
    seconds: float = 0.0


@dataclass
class NotebookResult:
    """One notebook's grade, or why it could not be graded."""

    notebook: str
    key: str
    lab: str | None = None
    questions: list[QuestionResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = False
    error: str | None = None

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def max(self) -> int:
        return sum(q.max for q in self.questions)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(points=self.points, max=self.max)
        return data


__all__ = ["ICONS", "STATUSES", "NotebookResult", "PartResult", "QuestionResult", "Result"]
