"""Pure pay rules: bonuses and the cost to finish a project."""

from __future__ import annotations

import math

#: Until a fit has estimated a worker's reliability, a bonus assumes this.
DEFAULT_RELIABILITY = 0.7


def bonus_amount(bonus: int, reliability: float | None) -> int:
    """The bonus of a worker who agreed with a completed task's consensus:
    the project's ``bonus`` scaled by the worker's reliability, rounded down
    to whole minor units (never more than ``bonus``, never negative)."""
    if bonus <= 0:
        return 0
    share = DEFAULT_RELIABILITY if reliability is None else min(1.0, max(0.0, reliability))
    return math.floor(bonus * share)


def cost_to_finish(remaining_answers: int, reward: int) -> int:
    """What the answers the open tasks still want will cost at today's reward."""
    return max(0, remaining_answers) * reward
