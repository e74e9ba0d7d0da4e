"""The course's general-text corpus: English documentation that ships with every Python.

Documents are the interpreter's help topics (``pydoc_data.topics``) and the docstrings of
the standard library's own source files. They train the embedded tiny model and, split the
same way, measure perplexity and forgetting in the lessons. The split is decided by a hash
of each document's name, so it is the same on every machine with the same Python.
"""

from __future__ import annotations

import ast
import sysconfig
import zlib
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "heldout")

# Folders of the standard library that hold tests, tools or generated code rather than prose.
_SKIP_DIRS = {
    "test", "tests", "idle_test", "site-packages", "dist-packages", "lib2to3", "idlelib",
    "turtledemo", "ensurepip", "__pycache__", "_pydecimal", "encodings", "config-3.11",
}
_MIN_DOC_CHARS = 120
_HELDOUT_EVERY = 20  # one document in twenty is held out (5 %)


@dataclass(frozen=True)
class Document:
    """One document of the corpus: a stable name and its text."""

    name: str
    text: str

    @property
    def split(self) -> str:
        return "heldout" if zlib.crc32(self.name.encode()) % _HELDOUT_EVERY == 0 else "train"


def _topic_documents() -> list[Document]:
    from pydoc_data.topics import topics

    return [Document(f"topic:{key}", _clean(text)) for key, text in sorted(topics.items())]


def _docstrings(path: Path, root: Path) -> list[Document]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    module = ".".join(path.relative_to(root).with_suffix("").parts)
    docs = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        text = ast.get_docstring(node)
        if text and len(text) >= _MIN_DOC_CHARS:
            where = getattr(node, "name", "") or "module"
            docs.append(Document(f"doc:{module}:{where}:{node.lineno if hasattr(node, 'lineno') else 0}", _clean(text)))
    return docs


def _clean(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(lines)


def _stdlib_files() -> tuple[Path, list[Path]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p for p in root.rglob("*.py")
        if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])
    ]
    return root, sorted(files)


def load_documents(split: str | None = None) -> list[Document]:
    """All corpus documents in a fixed order, optionally only one split ("train" or "heldout")."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    root, files = _stdlib_files()
    docs = _topic_documents()
    for path in files:
        docs.extend(_docstrings(path, root))
    seen: set[str] = set()
    unique = []
    for doc in docs:  # the same docstring appears in several modules: keep the first
        if doc.text not in seen:
            seen.add(doc.text)
            unique.append(doc)
    if split is None:
        return unique
    return [d for d in unique if d.split == split]


def general_text(split: str = "train") -> list[str]:
    """The texts of one split of the smoke-mode general-text corpus."""
    return [d.text for d in load_documents(split)]
