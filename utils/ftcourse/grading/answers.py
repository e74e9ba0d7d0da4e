"""The framework check functions are written in: questions, parts, and primitives that turn mistakes into feedback.

A lab's checks live in ``ftcourse/grading/checks/labNN.py``, one function per question::

    from ftcourse.grading.answers import Answers, question

    @question("q2", points=3)
    def q2(a: Answers) -> None:
        loss_fn = a.function("next_token_loss")               # missing -> "define next_token_loss ..."
        with a.part("one sentence", points=2):
            got = a.call(loss_fn, logits, ids)                # learner errors -> friendly message
            a.expect_close(got, ref, rel=1e-4, what="your loss",
                           mistakes={ref * n: "that is the sum; take the mean."},
                           hint="average -log p over the positions.")
        with a.part("a batch of five", points=1, hidden=True):  # lab.check shows only "a hidden test"
            ...

A question earns the points of every part that passes; points not assigned to parts are earned
when the whole function finishes without a failure. A failure inside a part costs that part;
outside a part (or with ``stop=True``) it ends the question. Known mistakes are one shape in
every lab: ``mistakes=`` is a mapping value → hint, or a sequence of (value, hint) pairs (for
tensors, which cannot be dict keys, and for values that may coincide: the first match wins);
a wrong answer close to a value (by the same rule as the answer itself) gets that hint.

Closeness: numbers as ``math.isclose(rel, abs)`` (integers exactly at zero tolerance); tensors by
their error relative to the reference's largest magnitude, max|got − want| / max|want|, within
``rel`` (default 8 · eps(dtype) · depth, the rule of ``ftcourse.numerics``, kept here because this
machinery imports nothing else from the package). Import heavy libraries (torch) inside the check
functions, so that listing a lab's questions stays fast; this module imports torch only when it
is handed a tensor.

Hidden parts are hidden from the notebook only: ``lab.check`` shows "a hidden test" and its points,
the grader's reports name it and say what failed. Code in the learner's kernel can read anything
(see the README's threat model); hidden parts keep honest learners from fitting the visible inputs.
"""

from __future__ import annotations

import builtins
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ftcourse.grading.results import ICONS, STATUSES, PartResult, Result

SLACK = 8.0  # rounding steps per depth unit that a reordered reduction may cost (ftcourse.numerics.SLACK)
HIDDEN = "a hidden test"  # how lab.check names a hidden part

Mistakes = Mapping[Any, str] | Sequence[tuple[Any, str]]
Message = str | Callable[[Any, Any], str]


class Fail(Exception):
    """Raised by a check (through ``Answers.fail`` and the ``expect_*`` primitives) to report a wrong answer."""

    def __init__(self, message: str, hint: str | None = None, *, stop: bool = False, error: bool = False):
        super().__init__(message)
        self.message, self.hint, self.stop, self.error = message, hint, stop, error
        self.part: PartResult | None = None  # the part it cost, once a part has recorded it

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


# -- closeness: one rule for every lab -------------------------------------------------------------
def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported: no import here
    return torch is not None and isinstance(value, torch.Tensor)


def _is_array(value: Any) -> bool:
    """A tensor with dimensions: compared as a whole (a 0-d tensor is a number)."""
    return _is_tensor(value) and value.dim() > 0


def _as_number(value: Any) -> int | float | None:
    """An int or float from a number or a one-element tensor or array; None for anything else (bools too)."""
    if hasattr(value, "item") and getattr(value, "size", 1) in (1, ()) or _is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _numbers_close(got: int | float, want: int | float, rel: float | None, abs: float | None) -> bool:
    rel_tol, abs_tol = (1e-9 if rel is None else rel), (0.0 if abs is None else abs)
    if isinstance(got, int) and isinstance(want, int) and rel_tol == 0:
        return builtins.abs(got - want) <= abs_tol  # exact, even beyond 2**53
    return math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)


def tensor_tolerance(*tensors: Any, depth: float = 1) -> float:
    """8 · eps · depth for the coarsest floating dtype among `tensors` (0 when none is floating: compare exactly)."""
    import torch

    kinds = [t.dtype for t in tensors if _is_tensor(t) and t.dtype.is_floating_point]
    if not kinds:
        return 0.0
    return SLACK * max(torch.finfo(k).eps for k in kinds) * depth


def tensor_errors(got: Any, want: Any) -> tuple[float, float]:
    """(max|got − want|, that divided by max|want|), in fp64 on the CPU; inf for a non-finite `got`.

    Both are 0 for two empty or all-zero tensors; the relative error is inf for any difference from all zeros.
    """
    import torch

    g = torch.as_tensor(got).detach().to("cpu", torch.float64)  # (same shape as want)
    w = torch.as_tensor(want).detach().to("cpu", torch.float64)
    if not torch.isfinite(w).all():
        raise ValueError("the reference holds NaN or inf: a check must compare against finite values")
    if not torch.isfinite(g).all():
        return math.inf, math.inf
    diff = (g - w).abs().max().item() if g.numel() else 0.0
    scale = w.abs().max().item() if w.numel() else 0.0
    if scale == 0.0:
        return diff, (0.0 if diff == 0.0 else math.inf)
    return diff, diff / scale


def _tensor_miss(got: Any, want: Any, rel: float | None, abs: float | None, depth: float) -> str | None:
    """None when tensor `got` is close to `want`, else what is wrong (kind, shape, or the size of the error)."""
    import torch

    if not _is_tensor(got):
        return f"it is a {type(got).__name__}, not a tensor"
    want = torch.as_tensor(want)
    if tuple(got.shape) != tuple(want.shape):
        return f"it has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    diff, err = tensor_errors(got, want)
    tol = tensor_tolerance(got, want, depth=depth) if rel is None else rel
    if err <= tol or (abs is not None and diff <= abs):
        return None
    return (f"max |Δ| = {diff:.3g}, {err:.3g} of the reference's largest magnitude "
            f"(tolerance {tol:.3g}{f' or {abs:.3g} absolute' if abs is not None else ''})")


def close(got: Any, want: Any, *, rel: float | None = None, abs: float | None = None, depth: float = 1) -> bool:
    """Whether `got` is close to `want` by the rule of ``expect_close`` (never raises for a wrong kind: False)."""
    if _is_array(want):
        return _tensor_miss(got, want, rel, abs, depth) is None
    g, w = _as_number(got), _as_number(want)
    return g is not None and w is not None and math.isfinite(g) and _numbers_close(g, w, rel, abs)


def _equal(got: Any, want: Any) -> bool:
    if _is_tensor(got) or _is_tensor(want):
        import torch

        return _is_tensor(got) and _is_tensor(want) and got.shape == want.shape and bool(torch.equal(got, want))
    try:
        return bool(got == want)
    except Exception:  # a learner's object whose == misbehaves is simply not equal
        return False


def mistake_pairs(mistakes: Mistakes | None) -> list[tuple[Any, str]]:
    """The one shape of a known-mistakes table, normalised: a mapping value → hint, or (value, hint) pairs."""
    if mistakes is None:
        return []
    if isinstance(mistakes, Mapping):
        pairs = list(mistakes.items())
    elif isinstance(mistakes, Sequence) and not isinstance(mistakes, str | bytes):
        pairs = list(mistakes)
    else:
        raise TypeError(f"mistakes must be a mapping value -> hint or a list of (value, hint) pairs, got "
                        f"{type(mistakes).__name__}")
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2 or not isinstance(pair[1], str):
            raise TypeError(f"each known mistake must be a (value, hint) pair with a str hint, got {pair!r}")
    return [(value, hint) for value, hint in pairs]


def match_mistake(got: Any, mistakes: Mistakes | None, *, rel: float | None = None, abs: float | None = None,
                  depth: float = 1, exact: bool = False) -> str | None:
    """The hint of the first known mistake `got` is close to (equal to, with exact=True), or None."""
    for value, hint in mistake_pairs(mistakes):
        if _equal(got, value) if exact else close(got, value, rel=rel, abs=abs, depth=depth):
            return hint
    return None


# -- what a check function sees --------------------------------------------------------------------
class Answers:
    """What a check function sees: the learner's namespace, with helpers that turn mistakes into feedback."""

    def __init__(self, namespace: Mapping[str, Any], question: Question):
        self.ns, self.question = namespace, question
        self.parts: list[PartResult] = []
        self.failures: list[Fail] = []

    # -- reading the learner's answers -------------------------------------------------------------
    def value(self, name: str, kinds: type | tuple[type, ...] | None = None, *, stop: bool = True) -> Any:
        """The learner's variable `name`; a failure if it is missing, still `...` or of the wrong type.

        The failure ends the question (stop=True) or costs only the current part (stop=False).
        """
        if name not in self.ns:
            self.fail(f"`{name}` is not defined.", hint=f"write your answer in the cell of {self.question.id} and run "
                      "it (Shift+Enter) before this check.", stop=stop)
        value = self.ns[name]
        if value is Ellipsis:
            self.fail(f"`{name}` is still `...`.", hint="replace the `...` with your answer.", stop=stop)
        if kinds is not None and not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            self.fail(f"`{name}` should be a {names}, but it is a {type(value).__name__}.", stop=stop)
        return value

    def function(self, name: str, *, stop: bool = True) -> Callable:
        """The learner's function `name`; a failure (stopping unless stop=False) if it is missing or not callable."""
        func = self.value(name, stop=stop)
        if not callable(func):
            self.fail(f"`{name}` should be a function, but it is a {type(func).__name__}.", stop=stop)
        return func

    def call(self, func: Callable, *args: Any, hint: str | None = None, **kwargs: Any) -> Any:
        """Call learner code; its exceptions become feedback naming the error and the line, never a traceback.

        An error costs the current part (outside a part, the question), with `hint` as the failure's hint
        (default: run it on a small example). A stub's NotImplementedError does the same with its own hint.
        sys.exit() and KeyboardInterrupt end the question.
        """
        name = getattr(func, "__name__", "your function")
        try:
            return func(*args, **kwargs)
        except NotImplementedError:
            self.fail(f"`{name}` still raises NotImplementedError.",
                      hint="replace the `raise NotImplementedError(...)` line with your answer.")
        except (SystemExit, KeyboardInterrupt) as exc:
            what = "sys.exit()" if isinstance(exc, SystemExit) else "an interrupt (KeyboardInterrupt)"
            self.fail(f"`{name}` stopped with {what}.", hint="return a value instead of exiting.", stop=True,
                      error=True)
        except Exception as exc:  # any learner bug becomes a message
            self.fail(f"`{name}` raised {describe_exception(exc)}.",
                      hint=hint or "run it on a small example in a new cell to see the full error.", error=True)

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

    # -- comparing with the reference --------------------------------------------------------------
    def expect_close(self, got: Any, want: Any, *, rel: float | None = None, abs: float | None = None,
                     depth: float = 1, what: str = "your answer", mistakes: Mistakes | None = None,
                     hint: str | None = None, message: Message | None = None, stop: bool = False) -> Any:
        """`got` as a float (numbers, 0-d tensors) or a detached tensor, if it is close to `want`; else a failure.

        Numbers: ``math.isclose(got, want, rel_tol=rel, abs_tol=abs)`` (defaults 1e-9 and 0; ints exactly at
        rel=0). Tensors (`want` with dimensions): max|got − want| / max|want| within `rel` (default 8 · eps of
        the coarser dtype · `depth`), or max|got − want| within `abs` when given. On a miss the failure says
        `message` (a text, or a function of got and want; default: got and want) with the hint of the first
        of `mistakes` that `got` is close to by the same rule, else `hint`.
        """
        if _is_array(want):
            miss = _tensor_miss(got, want, rel, abs, depth)
            if miss is None:
                return got.detach()
            structural = not _is_tensor(got) or tuple(got.shape) != tuple(want.shape)
            text = (f"{what}: {miss}." if structural or message is None else
                    message(got, want) if callable(message) else message)
        else:
            got = self.number(got, what)
            want_number = _as_number(want)
            if want_number is None:
                raise TypeError(f"expect_close compares numbers or tensors; the reference is a {type(want).__name__}")
            if _numbers_close(got, want_number, rel, abs):
                return got
            text = (f"{what} is {got:.6g}, expected {want_number:.6g}." if message is None else
                    message(got, want) if callable(message) else message)
        found = match_mistake(got, mistakes, rel=rel, abs=abs, depth=depth)
        self.fail(text, hint=found or hint, stop=stop)

    def expect_equal(self, got: Any, want: Any, *, what: str = "your answer", mistakes: Mistakes | None = None,
                     hint: str | None = None, message: Message | None = None, stop: bool = False) -> Any:
        """`got` if it equals `want` (ids, counts, names, shapes); else a failure with the hint of the first of
        `mistakes` it equals, else `hint`. `message` as for ``expect_close``."""
        if _equal(got, want):
            return got
        text = (f"{what} is {got!r}, expected {want!r}." if message is None else
                message(got, want) if callable(message) else message)
        self.fail(text, hint=match_mistake(got, mistakes, exact=True) or hint, stop=stop)

    def expect_tensor(self, value: Any, what: str, *, shape: Sequence[int | None] | None = None,
                      dtype: Any = None, mistakes: Mistakes | None = None, hint: str | None = None,
                      stop: bool = False) -> Any:
        """`value` detached, if it is a tensor of `shape` (None: any size on that axis) and `dtype` (None: any).

        Otherwise a failure naming what came back; for a wrong shape the hint is that of `mistakes` (keyed by
        shape tuples, e.g. the transposed shape) or `hint`.
        """
        if not _is_tensor(value):
            self.fail(f"{what} returned {type(value).__name__}, not a tensor.", hint="return the tensor itself.",
                      stop=stop)
        got = tuple(value.shape)
        if shape is not None and (len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape))):
            expected = tuple("any" if s is None else s for s in shape)
            self.fail(f"{what} has shape {got}, expected {expected}.",
                      hint=match_mistake(got, mistakes, exact=True) or hint, stop=stop)
        if dtype is not None and value.dtype != dtype:
            self.fail(f"{what} has dtype {value.dtype}, expected {dtype}.", hint=f"return a {dtype} tensor, e.g. "
                      f"with .to({dtype}).", stop=stop)
        return value.detach()

    @staticmethod
    def mistake(got: Any, mistakes: Mistakes | None, *, rel: float | None = None, abs: float | None = None,
                depth: float = 1, exact: bool = False) -> str | None:
        """The hint of the first known mistake `got` matches, for a diagnosis on something other than the answer
        itself (e.g. the merged weight minus W0); None when none does."""
        return match_mistake(got, mistakes, rel=rel, abs=abs, depth=depth, exact=exact)

    # -- reporting ---------------------------------------------------------------------------------
    def fail(self, message: str, hint: str | None = None, *, stop: bool = False, error: bool = False) -> None:
        """Report a wrong answer (with a hint); inside a part it costs that part, else the rest of the question."""
        raise Fail(message, hint, stop=stop, error=error)

    @contextmanager
    def part(self, name: str, points: int, *, hidden: bool = False) -> Iterator[None]:
        """A part worth `points`: earned if the block finishes without a failure.

        A hidden part shows in the notebook as "a hidden test" with its points only; the grader's reports
        name it and give its message. Use it for variants the learner should not fit (other sizes).
        """
        result = PartResult(name, points, 0, hidden=hidden)
        self.parts.append(result)
        try:
            yield
        except Fail as exc:
            result.message = exc.text()
            exc.part = result
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
    """All failures in one message, each message and each hint said once; hidden parts named (for the grader)."""
    texts, messages, hints = [], set(), set()
    for f in failures:
        if f.message in messages and (f.hint in hints or not f.hint):
            continue  # e.g. the same stub raising NotImplementedError in every part
        text = f.message if f.hint in hints else f.text()
        if f.part is not None and f.part.hidden:
            text = f"(hidden test '{f.part.name}') {text}"
        texts.append(text)
        messages.add(f.message)
        hints.add(f.hint)
    return " ".join(texts)


__all__ = ["HIDDEN", "ICONS", "STATUSES", "Answers", "Fail", "Mistakes", "PartResult", "Question", "Result", "close",
           "describe_exception", "match_mistake", "mistake_pairs", "question", "run", "tensor_errors",
           "tensor_tolerance"]
