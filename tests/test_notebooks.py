"""Notebook hygiene: clean, valid, generated badge/setup cells, ruff-clean code cells, forkable."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ftcourse import notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks.notebook_paths(ROOT)


def test_there_are_lessons():
    assert any(p.parent.name == "lessons" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean(path):
    assert notebooks.problems(path, ROOT) == []


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "lessons"], ids=lambda p: p.name)
def test_lesson_skeleton(path):
    nb = notebooks.read(path)
    markdown = "\n".join(notebooks._source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("You will learn", "Check your understanding", "Summary", "Next"):
        assert heading.lower() in markdown.lower(), f"{path.name} lacks a '{heading}' section"
    assert f"Lesson {path.stem[:2]}" in markdown, f"{path.name} needs the title 'Lesson {path.stem[:2]} · ...'"


def test_code_cells_pass_ruff():
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", "--no-cache", *map(str, NOTEBOOKS)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.filterwarnings("ignore::nbformat.warnings.DuplicateCellId")
def test_problems_are_found(tmp_path):
    src = next(p for p in NOTEBOOKS if p.parent.name == "lessons")
    root = tmp_path
    (root / "lessons").mkdir()
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    path = root / "lessons" / src.name
    nb = notebooks.read(src)
    code = next(c for c in nb["cells"] if c["cell_type"] == "code" and c["id"] != notebooks.SETUP_ID)
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    code["execution_count"] = 3
    nb["cells"][1]["id"] = nb["cells"][2]["id"]
    notebooks.write(path, nb)
    found = "\n".join(notebooks.problems(path, root))
    assert "outputs" in found and "ids" in found


def test_repoint_rewrites_every_badge_and_setup_cell(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path in NOTEBOOKS:
        (tmp_path / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, tmp_path / path.parent.name / path.name)
    notebooks.set_repository("someone/my-fork", tmp_path)
    changed = notebooks.render_all(tmp_path)
    assert len(changed) == len(NOTEBOOKS)
    assert notebooks.course_settings(tmp_path)["repository"] == "someone/my-fork"
    for path in notebooks.notebook_paths(tmp_path):
        text = path.read_text()
        assert "someone/my-fork" in text and notebooks.course_settings(ROOT)["repository"] not in text
        assert notebooks.problems(path, tmp_path) == []


@pytest.mark.parametrize("bad", ["no-slash", "a/b/c", "/x", "owner/", "own er/x"])
def test_repoint_rejects_bad_names(tmp_path, bad):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with pytest.raises(ValueError, match="owner/name"):
        notebooks.set_repository(bad, tmp_path)


def test_strip_removes_outputs():
    cell = {"cell_type": "code", "id": "a", "metadata": {"execution": {}}, "source": "1",
            "outputs": [{"output_type": "execute_result"}], "execution_count": 1}
    nb = {"cells": [cell], "metadata": {"widgets": {}}}
    assert notebooks.strip(nb) is True
    assert nb["cells"][0]["outputs"] == [] and nb["cells"][0]["execution_count"] is None
    assert notebooks.strip(json.loads(json.dumps(nb))) is False
