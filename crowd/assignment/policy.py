"""Pure rules of the assignment engine: where an answer fits in its task's overlap."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

LEASED = "leased"
ANSWERED = "answered"
SKIPPED = "skipped"
EXPIRED = "expired"


class AnswerFit(Enum):
    """Where an incoming answer fits in its task's overlap."""

    LEASE_SLOT = "lease-slot"
    """The lease still holds its slot (even if past due but not yet released)."""
    NO_SLOT = "no-slot"
    """The lease expired and was released: its slot went back."""
    CLOSED = "closed"
    """The worker skipped this assignment."""


@dataclass(frozen=True, slots=True)
class Slots:
    open: bool
    answer_count: int
    lease_count: int
    target_overlap: int

    @property
    def free(self) -> int:
        return self.target_overlap - self.answer_count - self.lease_count


def fit_answer(assignment_status: str) -> AnswerFit:
    """Invariant 4: a late answer is taken while its lease is still held
    (past due, not yet released) and never once the lease is released,
    whether the task is gold or real and whatever room its task has left.
    Taking it "if the task still needs it" would tell gold from real: gold
    has no overlap, so its late answers were always taken and a real task's
    only sometimes, and a worker who saw one refused knew that task was real."""
    if assignment_status == LEASED:
        return AnswerFit.LEASE_SLOT
    if assignment_status == SKIPPED:
        return AnswerFit.CLOSED
    return AnswerFit.NO_SLOT


RELIABLE = 0.75
"""A worker whose fitted reliability is at least this, at the low end of its
interval, counts as reliable for routing."""


def route_for(routing: str, reliability_low: float | None) -> str | None:
    """Which way to pick among candidate tasks: ``depth_first`` routing takes
    the first; ``uncertainty`` routing gives reliable workers the most
    uncertain tasks and everyone else (new, uncertain) the most confident."""
    if routing != "uncertainty":
        return None
    if reliability_low is not None and reliability_low >= RELIABLE:
        return "uncertain_first"
    return "confident_first"


def qualified(min_reliability: float, reliability: float | None) -> bool:
    """``min_reliability`` keeps workers the fits found below it off the
    project; workers not fitted yet may start (or nobody could)."""
    return min_reliability <= 0 or reliability is None or reliability >= min_reliability
