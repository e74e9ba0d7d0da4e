"""Shared test setup: smoke mode and no hub, whatever the machine, so tests never download; hypothesis profiles.

Hypothesis runs the fixed `ci` profile by default (derandomized: the same examples on every run, so CI never
flakes on a new random draw, and no example database). `HYPOTHESIS_PROFILE=explore` (`make test-explore`)
draws fresh examples, `EXPLORE_FACTOR` times as many (see tests/unit/budget.py).
"""

import os

os.environ.setdefault("FTCOURSE_MODE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
if "FTCOURSE_RESULTS_DIR" not in os.environ:  # the course table lessons write (experiments.course_table): not ~/.cache
    import atexit
    import shutil
    import tempfile

    os.environ["FTCOURSE_RESULTS_DIR"] = tempfile.mkdtemp(prefix="ftcourse-test-results-")
    atexit.register(shutil.rmtree, os.environ["FTCOURSE_RESULTS_DIR"], ignore_errors=True)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def standin_hub(tmp_path_factory):
    """The stand-in hub (`ftcourse.standin`): small random models and datasets under the real hub ids, built once.

    `.hub_cache` is a hub cache for `cache_dir=`; `.environ()` points a new process (a notebook kernel) at it, offline.
    """
    from ftcourse import standin

    return standin.build(tmp_path_factory.mktemp("standin-hub"))
