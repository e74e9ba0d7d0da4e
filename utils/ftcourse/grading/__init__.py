"""Graded labs: the lab format, the student-version generator and a grader that stays fair under faults.

- ``format``: cell roles in metadata, ``# BEGIN SOLUTION`` / ``# END SOLUTION`` regions, validation.
- ``answers``: the framework checks are written in (``Answers``, ``question``, parts, hidden parts,
  ``expect_close`` / ``expect_equal`` / ``expect_tensor`` with one known-mistakes shape, ``run``).
- ``checks``: finds and loads the labs' check modules, ``checks/labNN.py`` (content only).
- ``results``: the result dataclasses every other module shares (a check's, a question's, a notebook's).
- ``lab``: ``Lab("lab01")`` in a notebook: ``lab.check("q1")`` and ``lab.summary()``.
- ``assign``: writes ``labs/`` (student versions) from ``solutions/``.
- ``restore``: the graded copy of a learner's notebook, check and locked cells restored by id.
- ``kernel``: one kernel session that runs a cell under a time limit and says how it ended.
- ``grade``: ``ftcourse grade``, scoring each question out of band; ``report``: tables, JSON, JUnit, CSV.
- ``_io``: the one atomic file writer (receipts, results.json, reports, labs/).

This machinery imports nothing else from ``ftcourse`` (tests/grading/test_answers.py checks it); only
the check modules do (to compute answers).
"""

from ftcourse.grading.lab import Lab, LabIncomplete

__all__ = ["Lab", "LabIncomplete"]
