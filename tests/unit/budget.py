"""How many examples a hypothesis test draws: its CI budget, or EXPLORE_FACTOR times that when exploring."""

import os

EXPLORE_FACTOR = 25


def examples(n: int) -> int:
    """`n` under the fixed `ci` profile; `n × EXPLORE_FACTOR` under HYPOTHESIS_PROFILE=explore."""
    return n * EXPLORE_FACTOR if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else n
