"""How often claims release a project's overdue leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crowd.assignment.service import ExpiryThrottle
from crowd.ids import ProjectId

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, B = ProjectId("prj_a"), ProjectId("prj_b")


def test_the_first_claim_of_a_project_releases_and_the_next_within_the_interval_does_not() -> None:
    throttle = ExpiryThrottle(timedelta(seconds=1))
    assert throttle.due(A, T0)
    assert not throttle.due(A, T0)
    assert not throttle.due(A, T0 + timedelta(milliseconds=999))
    assert throttle.due(A, T0 + timedelta(seconds=1))


def test_projects_are_counted_apart() -> None:
    throttle = ExpiryThrottle(timedelta(seconds=1))
    assert throttle.due(A, T0)
    assert throttle.due(B, T0)
    assert not throttle.due(B, T0 + timedelta(milliseconds=10))


def test_a_clock_that_went_back_releases_at_once() -> None:
    throttle = ExpiryThrottle(timedelta(seconds=1))
    assert throttle.due(A, T0)
    assert throttle.due(A, T0 - timedelta(milliseconds=1))
