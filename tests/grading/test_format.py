"""The lab format: metadata validation, solution regions, stubs, and reading notebooks safely."""

import json

import pytest
from ftcourse.grading import format as fmt
from ftcourse.grading.assign import stub_source


def code(meta=None, source="x = 1", cell_type="code"):
    cell = {"cell_type": cell_type, "id": "c", "metadata": {}, "source": source}
    if meta is not None:
        cell["metadata"]["ftcourse"] = meta
    return cell


def test_valid_metadata():
    assert fmt.cell_meta(code({"role": "check", "id": "q1", "points": 2})) == fmt.CellMeta("check", "q1", 2)
    assert fmt.cell_meta(code({"role": "solution", "id": "q1", "timeout": 30})).timeout == 30.0
    assert fmt.cell_meta(code()) is None


@pytest.mark.parametrize(("meta", "message"), [
    ({"role": "answer", "id": "q1"}, "valid roles: solution, check, locked"),
    ({"role": "check", "id": "Q 1", "points": 1}, "id 'Q 1'"),
    ({"role": "check", "id": "q1"}, "needs 'points'"),
    ({"role": "check", "id": "q1", "points": 0}, "positive integer"),
    ({"role": "check", "id": "q1", "points": True}, "positive integer"),
    ({"role": "solution", "id": "q1", "points": 2}, "only check cells carry 'points'"),
    ({"role": "solution", "id": "q1", "timeout": -1}, "timeout must be a positive number"),
    ({"role": "solution", "id": "q1", "score": 1}, "unknown ftcourse metadata key(s) ['score']"),
    ("check", "must be an object"),
])
def test_bad_metadata_is_named(meta, message):
    with pytest.raises(fmt.LabFormatError, match="cell 3") as info:
        fmt.cell_meta(code(meta), "cell 3")
    assert message in str(info.value)


def test_role_cell_must_be_code():
    with pytest.raises(fmt.LabFormatError, match="must be a code cell"):
        fmt.cell_meta(code({"role": "locked", "id": "setup"}, cell_type="markdown"))


@pytest.mark.parametrize(("text", "message"), [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n# END SOLUTION", "nested"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION", "indented like"),
    ("#BEGIN SOLUTION\nx = 1\n# END SOLUTION", "exactly as '# BEGIN SOLUTION'"),
    ("# begin solution\nx = 1\n# END SOLUTION", "exactly as '# BEGIN SOLUTION'"),
])
def test_bad_regions_are_refused_with_the_line(text, message):
    with pytest.raises(fmt.LabFormatError, match="line") as info:
        fmt.solution_regions(text, "lab.ipynb, cell 4")
    assert message in str(info.value) and "lab.ipynb, cell 4" in str(info.value)


def test_stub_at_top_level_is_ellipsis():
    text = "import math\n\n# BEGIN SOLUTION\nanswer = math.pi\nprint(answer)\n# END SOLUTION\nprint('done')"
    assert stub_source(text, "q1") == "import math\n\n...\nprint('done')"


def test_stub_in_function_body_raises_with_the_question_id_at_the_same_indentation():
    text = 'def f(x):\n    """Doc."""\n    # BEGIN SOLUTION\n    y = x + 1\n    return y\n    # END SOLUTION'
    assert stub_source(text, "q2") == 'def f(x):\n    """Doc."""\n    raise NotImplementedError("q2")'


def test_stub_in_nested_blocks():
    text = ("class A:\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n\n    def m(self):\n"
            "        for i in range(3):\n            # BEGIN SOLUTION\n            print(i)\n"
            "            # END SOLUTION\n\n\nif True:\n    # BEGIN SOLUTION\n    z = 2\n    # END SOLUTION\n")
    assert stub_source(text, "q3") == ("class A:\n    ...\n\n    def m(self):\n        for i in range(3):\n"
                                       '            raise NotImplementedError("q3")\n\n\nif True:\n    ...\n')


def test_several_regions_in_one_cell():
    text = ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n\n\n"
            "# BEGIN SOLUTION\nv = f()\n# END SOLUTION")
    assert stub_source(text, "q1") == 'def f():\n    raise NotImplementedError("q1")\n\n\n...'


def test_check_target():
    assert fmt.check_target('lab.check("q1")') == "q1"
    assert fmt.check_target("  lab.check('q2')\n") == "q2"
    assert fmt.check_target('lab.check("q1"); print(1)') is None


def test_lab_name_from_file_or_metadata():
    assert fmt.lab_name("labs/lab01_tokens.ipynb") == "lab01"
    assert fmt.lab_name("lab07.ipynb") == "lab07"
    assert fmt.lab_name("mine.ipynb", {"metadata": {"ftcourse": {"lab": "lab02"}}}) == "lab02"
    with pytest.raises(fmt.LabFormatError, match="labNN_something.ipynb"):
        fmt.lab_name("homework.ipynb", {"metadata": {}})


@pytest.mark.parametrize(("content", "message"), [
    ('{"cells": [', "invalid JSON at line 1"),
    ("[1, 2]", "JSON list, not an object"),
    ('{"nbformat": 3, "worksheets": []}', "nbformat 3"),
    ('{"nbformat": 4, "cells": {}}', "no list of cells"),
    ('{"nbformat": 4, "cells": [{"cell_type": "widget"}]}', "cell 0 is not a code, markdown or raw cell"),
    ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}', "source that is not text"),
])
def test_unreadable_notebooks_give_one_line(tmp_path, content, message):
    path = tmp_path / "lab01_x.ipynb"
    path.write_text(content)
    with pytest.raises(fmt.UnreadableNotebook) as info:
        fmt.read_notebook(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(fmt.UnreadableNotebook, match="no such file"):
        fmt.read_notebook(tmp_path / "nope.ipynb")
    (tmp_path / "bin.ipynb").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(fmt.UnreadableNotebook, match="cannot read it"):
        fmt.read_notebook(tmp_path / "bin.ipynb")


def test_duplicate_ids_survive_reading(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ""}] * 2}
    (tmp_path / "lab01_x.ipynb").write_text(json.dumps(nb))
    assert [c["id"] for c in fmt.read_notebook(tmp_path / "lab01_x.ipynb")["cells"]] == ["a", "a"]
