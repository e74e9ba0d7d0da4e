"""Check functions: one per question, with its points, optional parts for partial credit, and feedback.

A lab's checks live in ``ftcourse/grading/checks/labNN.py``::

    @question("q2", points=3)
    def q2(a: Answers) -> None:
        loss_fn = a.function("next_token_loss")          # missing -> "define next_token_loss ..."
        with a.part("one sentence", points=2):
            got = a.number(a.call(loss_fn, logits, ids))   # learner errors -> friendly message
            if abs(got - ref) > 1e-4:
                a.fail(f"your loss is {got - ref:+.3f} off", hint="did you shift the targets by one?")
        with a.part("a batch of three", points=1):
            ...

A question earns the points of every part that passes; points not assigned to parts are earned
when the whole function finishes without a failure. ``a.fail`` inside a part costs that part;
outside a part (or with ``stop=True``) it ends the question. Import heavy libraries (torch)
inside the check functions, so that listing a lab's questions stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

CHECKS_DIR_ENV = "FTCOURSE_CHECKS_DIR"  # extra directory of labNN.py check modules (instructors, tests)
STATUSES = ("pass", "fail", "error", "timeout", "not_run")
ICONS = {"pass": "✅", "fail": "❌", "error": "❌", "timeout": "⏱️", "not_run": "⏭️"}
_LAB_RE = re.compile(r"^lab\d{2}$")


class Fail(Exception):
    """Raised by a check (through ``Answers.fail``) to report a wrong answer with a hint."""

    def __init__(self, message: str, hint: str | None = None, *, stop: bool = False, error: bool = False):
        super().__init__(message)
        self.message, self.hint, self.stop, self.error = message, hint, stop, error

    def text(self) -> str:
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class Question:
    """A check function with the question id and points it grades."""

    id: str
    points: int
    func: Callable[[Answers], None]
    title: str = ""


def question(qid: str, points: int, title: str = "") -> Callable[[Callable], Callable]:
    """Decorator: register a check function for question `qid`, worth `points`."""
    if not isinstance(points, int) or isinstance(points, bool) or points < 1:
        raise ValueError(f"question {qid!r}: points must be a positive integer, got {points!r}")

    def wrap(func: Callable) -> Callable:
        func.question = Question(qid, points, func, title or (func.__doc__ or "").strip().split("\n")[0])
        return func

    return wrap


@dataclass
class PartResult:
    """One part of a question: its points and whether it passed."""

    name: str
    points: int
    earned: int
    message: str = ""


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


class Answers:
    """What a check function sees: the learner's namespace, with helpers that turn mistakes into feedback."""

    def __init__(self, namespace: Mapping[str, Any], question: Question):
        self.ns, self.question = namespace, question
        self.parts: list[PartResult] = []
        self.failures: list[Fail] = []

    # -- reading the learner's answers -------------------------------------------------------------
    def value(self, name: str, kinds: type | tuple[type, ...] | None = None) -> Any:
        """The learner's variable `name`; a stopping failure if it is missing or of the wrong type."""
        if name not in self.ns:
            self.fail(f"`{name}` is not defined.", hint=f"write your answer in the cell of {self.question.id} and run "
                      "it (Shift+Enter) before this check.", stop=True)
        value = self.ns[name]
        if value is Ellipsis:
            self.fail(f"`{name}` is still `...`.", hint="replace the `...` with your answer.", stop=True)
        if kinds is not None and not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            self.fail(f"`{name}` should be a {names}, but it is a {type(value).__name__}.", stop=True)
        return value

    def function(self, name: str) -> Callable:
        """The learner's function `name`; a stopping failure if it is missing or not callable."""
        func = self.value(name)
        if not callable(func):
            self.fail(f"`{name}` should be a function, but it is a {type(func).__name__}.", stop=True)
        return func

    def call(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call learner code; its exceptions become feedback naming the error and the line, never a traceback."""
        try:
            return func(*args, **kwargs)
        except NotImplementedError:
            self.fail(f"`{getattr(func, '__name__', 'your function')}` still raises NotImplementedError.",
                      hint="replace the `raise NotImplementedError(...)` line with your answer.", stop=True)
        except (SystemExit, KeyboardInterrupt) as exc:
            what = "sys.exit()" if isinstance(exc, SystemExit) else "an interrupt (KeyboardInterrupt)"
            self.fail(f"`{getattr(func, '__name__', 'your function')}` stopped with {what}.",
                      hint="return a value instead of exiting.", stop=True, error=True)
        except Exception as exc:  # any learner bug becomes a message
            self.fail(f"`{getattr(func, '__name__', 'your function')}` raised {describe_exception(exc)}.",
                      hint="run it on a small example in a new cell to see the full error.", error=True)

    @staticmethod
    def number(value: Any, what: str = "your answer") -> float:
        """A Python float from a number, a 0-d tensor or array; a failure for anything else."""
        if hasattr(value, "numel") and hasattr(value, "item"):
            if value.numel() != 1:
                raise Fail(f"{what} should be a single number, but it has shape {tuple(value.shape)}.",
                           hint="average over every position, e.g. `.mean()`.")
            value = value.item()
        elif hasattr(value, "item") and getattr(value, "size", 1) == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Fail(f"{what} should be a number, but it is a {type(value).__name__}.")
        if not math.isfinite(value):
            raise Fail(f"{what} is {value}, not a finite number.")
        return float(value)

    # -- reporting ---------------------------------------------------------------------------------
    def fail(self, message: str, hint: str | None = None, *, stop: bool = False, error: bool = False) -> None:
        """Report a wrong answer (with a hint); inside a part it costs that part, else the rest of the question."""
        raise Fail(message, hint, stop=stop, error=error)

    @contextmanager
    def part(self, name: str, points: int) -> Iterator[None]:
        """A part worth `points`: earned if the block finishes without a failure."""
        result = PartResult(name, points, 0)
        self.parts.append(result)
        try:
            yield
        except Fail as exc:
            result.message = exc.text()
            self.failures.append(exc)
            if exc.stop:
                raise
        else:
            result.earned = points


def describe_exception(exc: BaseException) -> str:
    """'ValueError: bad shape (your line 4: `x = y.view(3)`)': the error and the learner's line, one line."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    text = text if len(text) <= 300 else text[:297] + "..."
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_learner_frame(f.filename)]
    if frames:
        frame = frames[-1]
        text += f" (your line {frame.lineno}: `{(frame.line or '').strip()[:80]}`)"
    return text


def _is_learner_frame(filename: str) -> bool:
    # IPython names cell code "<ipython-input-N-...>" or ".../ipykernel_PID/HASH.py"
    return filename.startswith("<ipython-input") or "ipykernel_" in filename or filename.startswith("<cell")


def run(q: Question, namespace: Mapping[str, Any]) -> Result:
    """Run one check against the learner's namespace; never raises (any problem becomes the result's message)."""
    answers = Answers(namespace, q)
    start = time.perf_counter()
    stopped: Fail | None = None
    bug: str | None = None
    try:
        q.func(answers)
    except Fail as exc:
        stopped = exc
    except BaseException as exc:  # a bug in the check itself, or the learner's code escaping it
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            stopped = Fail(f"the check was stopped ({type(exc).__name__}).", "run the check cell again.", error=True)
        else:
            bug = describe_exception(exc)
    seconds = time.perf_counter() - start
    failures = list(answers.failures)
    if stopped is not None and stopped not in failures:
        failures.append(stopped)
    declared = sum(p.points for p in answers.parts)
    earned = sum(p.earned for p in answers.parts)
    if not failures and bug is None:
        earned += max(0, q.points - declared)
    earned = min(earned, q.points)
    notes = [stopped.text()] if stopped is not None and stopped not in answers.failures else []
    if bug is not None:
        status, message = "error", f"the check itself failed ({bug}); please report this to the course authors."
        notes.append(message)
    elif not failures:
        status, message = "pass", "correct."
    else:
        status = "error" if any(f.error for f in failures) else "fail"
        message = _join(failures)
    return Result(q.id, earned, q.points, status, message, round(seconds, 3), answers.parts, notes)


def _join(failures: list[Fail]) -> str:
    """All failures in one message, each hint said once."""
    texts, hints = [], set()
    for f in failures:
        texts.append(f.message if f.hint in hints else f.text())
        hints.add(f.hint)
    return " ".join(texts)


# -- finding a lab's checks ------------------------------------------------------------------------
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
