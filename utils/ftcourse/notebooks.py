"""Notebook housekeeping: the generated Colab badge and setup cells, stripping outputs, hygiene.

The repository's GitHub owner/name lives in one place, ``[tool.ftcourse]`` in pyproject.toml.
Every notebook's first cell (id ``colab-badge``) and setup cell (id ``setup``) are generated
from it, so a fork re-points all of them with ``make repoint REPO=owner/name``.

    python -m ftcourse.notebooks repoint OWNER/NAME   # set the repository and regenerate
    python -m ftcourse.notebooks render              # regenerate from the current setting
    python -m ftcourse.notebooks strip               # clear outputs and execution counts
    python -m ftcourse.notebooks check               # list hygiene problems (exit 1 if any)
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIRS = ("lessons", "solutions", "labs")
BADGE_ID = "colab-badge"
SETUP_ID = "setup"
_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def course_settings(root: Path = REPO_ROOT) -> dict[str, str]:
    """``[tool.ftcourse]`` from pyproject.toml: repository (owner/name) and branch."""
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["ftcourse"]
    return {"repository": settings["repository"], "branch": settings.get("branch", "main")}


def notebook_paths(root: Path = REPO_ROOT) -> list[Path]:
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb"))


def badge_source(relpath: str, repository: str, branch: str) -> str:
    url = f"https://colab.research.google.com/github/{repository}/blob/{branch}/{relpath}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_source(repository: str, branch: str) -> str:
    return f'''# Setup: on Colab this installs the course package (about a minute); locally `make lab` did it.
import importlib
import subprocess
import sys

if "google.colab" in sys.modules:
    url = "ftcourse @ git+https://github.com/{repository}@{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)
    importlib.invalidate_caches()

from ftcourse import env

MODE = env.mode()  # prints which mode (smoke / full) and why'''


def _find(nb: dict, cell_id: str) -> dict:
    for cell in nb["cells"]:
        if cell.get("id") == cell_id:
            return cell
    raise ValueError(f"notebook has no cell with id {cell_id!r} (every notebook needs a badge and a setup cell)")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def render(nb: dict, relpath: str, repository: str, branch: str) -> bool:
    """Regenerate the badge and setup cells in place; True when something changed."""
    badge, setup = _find(nb, BADGE_ID), _find(nb, SETUP_ID)
    before = (_source(badge), _source(setup))
    badge["source"] = badge_source(relpath, repository, branch)
    setup["source"] = setup_source(repository, branch)
    return before != (badge["source"], setup["source"])


def strip(nb: dict) -> bool:
    """Remove outputs, execution counts and run-time metadata; True when something changed."""
    changed = False
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"], cell["execution_count"] = [], None
        for key in ("execution", "collapsed", "scrolled"):
            changed |= cell.get("metadata", {}).pop(key, None) is not None
    changed |= nb.get("metadata", {}).pop("widgets", None) is not None
    return changed


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, nb: dict) -> None:
    """Write in the layout JupyterLab uses (1-space indent, trailing newline) to keep diffs small."""
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def problems(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """Hygiene problems of one notebook: outputs, counts, format, ids, badge and setup cells."""
    import nbformat

    found = []
    try:
        nb_obj = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(nb_obj)
    except Exception as exc:  # nbformat raises several types for broken files
        return [f"{path.name}: not a valid nbformat 4 notebook ({exc})"]
    nb = read(path)
    if nb.get("nbformat") != 4 or nb.get("nbformat_minor", 0) < 5:
        version = f"{nb.get('nbformat')}.{nb.get('nbformat_minor')}"
        found.append(f"{path.name}: nbformat {version} (need 4.5+, with cell ids)")
    ids = [c.get("id") for c in nb["cells"]]
    if None in ids or len(set(ids)) != len(ids):
        found.append(f"{path.name}: cell ids missing or duplicated")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            found.append(f"{path.name}: cell {i} ({cell.get('id')}) has outputs or an execution count")
    settings = course_settings(root)
    relpath = path.relative_to(root).as_posix()
    try:
        expected = json.loads(json.dumps(nb))
        if render(expected, relpath, settings["repository"], settings["branch"]):
            found.append(f"{path.name}: badge or setup cell differs from the generated one (run `make repoint`)")
    except ValueError as exc:
        found.append(f"{path.name}: {exc}")
    if nb["cells"] and nb["cells"][0].get("id") != BADGE_ID:
        found.append(f"{path.name}: the first cell must be the Colab badge (id {BADGE_ID!r})")
    return found


def set_repository(repository: str, root: Path = REPO_ROOT) -> None:
    """Write owner/name into pyproject.toml's [tool.ftcourse] table."""
    if not _REPO_RE.match(repository):
        raise ValueError(f"repository must look like 'owner/name', got {repository!r}")
    path = root / "pyproject.toml"
    text = path.read_text()
    new, count = re.subn(r'(?m)^(\[tool\.ftcourse\][^\[]*?^repository\s*=\s*)"[^"]*"', rf'\g<1>"{repository}"', text)
    if count != 1:
        raise ValueError(f"{path}: no `repository = ...` line under [tool.ftcourse]")
    path.write_text(new)


def render_all(root: Path = REPO_ROOT) -> list[Path]:
    settings = course_settings(root)
    changed = []
    for path in notebook_paths(root):
        nb = read(path)
        if render(nb, path.relative_to(root).as_posix(), settings["repository"], settings["branch"]):
            write(path, nb)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = ("repoint", "render", "strip", "check")
    if not args or args[0] not in commands or (args[0] == "repoint") != (len(args) == 2):
        print(f"usage: python -m ftcourse.notebooks {{{'|'.join(commands)}}} [OWNER/NAME for repoint]", file=sys.stderr)
        return 2
    if args[0] == "repoint":
        try:
            set_repository(args[1])
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args[0] in ("repoint", "render"):
        changed = render_all()
        print(f"{len(changed)} notebook(s) updated for {course_settings()['repository']}")
    elif args[0] == "strip":
        changed = []
        for path in notebook_paths():
            nb = read(path)
            if strip(nb):
                write(path, nb)
                changed.append(path)
        print(f"stripped {len(changed)} notebook(s)")
    else:
        found = [p for path in notebook_paths() for p in problems(path)]
        print("\n".join(found) or "all notebooks clean")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
