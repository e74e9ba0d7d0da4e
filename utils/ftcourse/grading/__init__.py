"""Graded labs: the lab format, the student-version generator and a grader that stays fair under faults.

- ``format``: cell roles in metadata, ``# BEGIN SOLUTION`` / ``# END SOLUTION`` regions, validation.
- ``checks``: one check function per question (``checks/labNN.py``), with points, parts and feedback.
- ``lab``: ``Lab("lab01")`` in a notebook: ``lab.check("q1")`` and ``lab.summary()``.
- ``assign``: writes ``labs/`` (student versions) from ``solutions/``.
- ``restore``: the graded copy of a learner's notebook, check and locked cells restored by id.
- ``kernel``: one kernel session that runs a cell under a time limit and says how it ended.
- ``grade``: ``ftcourse grade``, scoring each question out of band; ``report``: tables, JSON, JUnit, CSV.

This package imports nothing else from ``ftcourse``; only the check modules do (to compute answers).
"""

from ftcourse.grading.lab import Lab, LabIncomplete

__all__ = ["Lab", "LabIncomplete"]
