"""The labs' check modules, ``checks/labNN.py``: finding and loading them (content only lives there).

``load("lab01")`` returns question id -> :class:`~ftcourse.grading.answers.Question`, from the package
or from an extra directory (``$FTCOURSE_CHECKS_DIR`` or ``checks_dir``, for instructors and tests).
The framework the check modules are written in is :mod:`ftcourse.grading.answers`; its names are
re-exported here so that ``from ftcourse.grading.checks import Answers, question`` keeps working.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from ftcourse.grading.answers import (
    ICONS,
    STATUSES,
    Answers,
    Fail,
    PartResult,
    Question,
    Result,
    close,
    describe_exception,
    question,
    run,
)

CHECKS_DIR_ENV = "FTCOURSE_CHECKS_DIR"  # extra directory of labNN.py check modules (instructors, tests)
_LAB_RE = re.compile(r"^lab\d{2}$")


def _extra_dir(checks_dir: str | Path | None) -> Path | None:
    chosen = checks_dir or os.environ.get(CHECKS_DIR_ENV)
    return Path(chosen) if chosen else None


def available(checks_dir: str | Path | None = None) -> list[str]:
    """Names of the labs that have check modules (the package's and those in `checks_dir`)."""
    names = {p.stem for p in Path(__file__).parent.glob("lab[0-9][0-9].py")}
    extra = _extra_dir(checks_dir)
    if extra and extra.is_dir():
        names |= {p.stem for p in extra.glob("lab[0-9][0-9].py")}
    return sorted(names)


def module(lab: str, checks_dir: str | Path | None = None) -> ModuleType:
    """The check module of `lab` (e.g. 'lab01'): from `checks_dir` or $FTCOURSE_CHECKS_DIR first, else the package."""
    if not isinstance(lab, str) or not _LAB_RE.match(lab):
        raise ValueError(f"lab must be named like 'lab01', got {lab!r}; labs with checks: {', '.join(available())}")
    extra = _extra_dir(checks_dir)
    if extra is not None and (extra / f"{lab}.py").is_file():
        name = f"ftcourse_extra_checks.{lab}"
        path = (extra / f"{lab}.py").resolve()
        cached = sys.modules.get(name)
        if cached is not None and Path(getattr(cached, "__file__", "")) == path:
            return cached
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    if not (Path(__file__).parent / f"{lab}.py").is_file():
        raise ValueError(f"no checks for {lab!r}; labs with checks: {', '.join(available(checks_dir)) or 'none'}")
    return importlib.import_module(f"{__name__}.{lab}")


def load(lab: str, checks_dir: str | Path | None = None) -> dict[str, Question]:
    """Question id -> Question for `lab`, in the order the check functions are defined."""
    mod = module(lab, checks_dir)
    found: dict[str, Question] = {}
    for obj in vars(mod).values():
        q = getattr(obj, "question", None)
        if isinstance(q, Question):
            if q.id in found:
                raise ValueError(f"{mod.__file__}: two check functions for question {q.id!r}")
            found[q.id] = q
    return found


__all__ = ["CHECKS_DIR_ENV", "ICONS", "STATUSES", "Answers", "Fail", "PartResult", "Question", "Result", "available",
           "close", "describe_exception", "load", "module", "question", "run"]
