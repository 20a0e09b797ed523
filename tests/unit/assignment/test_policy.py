from __future__ import annotations

from crowd.assignment.policy import ANSWERED, EXPIRED, LEASED, SKIPPED, AnswerFit, fit_answer


def test_a_live_or_unreleased_lease_keeps_its_slot() -> None:
    assert fit_answer(LEASED) is AnswerFit.LEASE_SLOT


def test_a_released_lease_takes_no_answer_whatever_room_its_task_has() -> None:
    # gold or real, room left or not: the same, so a refusal tells nothing
    assert fit_answer(EXPIRED) is AnswerFit.NO_SLOT


def test_a_skipped_assignment_takes_no_answer() -> None:
    assert fit_answer(SKIPPED) is AnswerFit.CLOSED


def test_an_answered_assignment_never_takes_a_second_slot() -> None:
    # Replays are answered before fitting; were one fitted, it must not count twice.
    assert fit_answer(ANSWERED) is AnswerFit.NO_SLOT
