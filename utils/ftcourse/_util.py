"""Small basics every layer shares: input validation, atomic writes, the repository root.

Validation errors name the bad value and the valid choices, in one wording everywhere:
``check_choice("method", "ful", METHODS)`` raises
``ValueError: method='ful' is not valid; valid choices: full, lora, qlora``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`, else a ValueError naming it and every choice."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; valid choices: {', '.join(choices)}")
    return value


def check_positive_int(name: str, value) -> int:
    """`value` if it is an int > 0 (bools refused), else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


def check_positive_number(name: str, value) -> float:
    """`value` if it is a finite int or float > 0 (bools refused), else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive finite number")
    return value


def check_probability(name: str, value, *, closed: bool = False) -> float:
    """`value` if it is a number in [0, 1) ([0, 1] when closed), else a ValueError naming it."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        raise ValueError(f"{name}={value!r} must be a probability in [0, 1{']' if closed else ')'}")
    return value


def check_bool(name: str, value) -> bool:
    """`value` if it is True or False, else a ValueError naming it."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False")
    return value


def renamed(func: str, old: str, new: str, kwargs: dict) -> None:
    """Refuse a keyword that peft spells differently: TypeError naming the peft name to use instead."""
    if old in kwargs:
        raise TypeError(f"{func}() got the keyword {old}=; it is called {new}= now (peft's field name)")


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(tmp) on a temporary file beside `path`, then rename it over `path`: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def repo_root(start: str | os.PathLike | None = None) -> Path | None:
    """The course repository holding `start` (default: the working directory): nearest folder with a pyproject.toml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def lazy_exports(package: str, where: dict[str, str]):
    """`__getattr__` and `__dir__` for a package that imports `name` from `ftcourse.<where[name]>` on first use.

    Keeps `import ftcourse.<package>` fast (torch loads late) and `python -m ftcourse.<package>.<module>` clean.
    """
    import importlib

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(f"ftcourse.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__


__all__ = ["atomic_write", "atomic_write_text", "check_bool", "check_choice", "check_positive_int",
           "check_positive_number", "check_probability", "lazy_exports", "renamed", "repo_root"]
