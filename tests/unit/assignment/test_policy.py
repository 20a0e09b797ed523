from __future__ import annotations

from crowd.assignment.policy import ANSWERED, EXPIRED, LEASED, SKIPPED, AnswerFit, Slots, fit_answer


def slots(answers: int, leases: int, target: int, *, open_: bool = True) -> Slots:
    return Slots(open=open_, answer_count=answers, lease_count=leases, target_overlap=target)


def test_a_live_or_unswept_lease_keeps_its_slot_whatever_the_task_state() -> None:
    assert fit_answer(LEASED, slots(2, 1, 3)) is AnswerFit.LEASE_SLOT
    assert fit_answer(LEASED, slots(3, 1, 4, open_=False)) is AnswerFit.LEASE_SLOT


def test_an_expired_lease_is_taken_only_while_the_task_needs_answers() -> None:
    assert fit_answer(EXPIRED, slots(1, 0, 3)) is AnswerFit.FREE_SLOT
    assert fit_answer(EXPIRED, slots(1, 2, 3)) is AnswerFit.NO_SLOT
    assert fit_answer(EXPIRED, slots(3, 0, 3)) is AnswerFit.NO_SLOT
    assert fit_answer(EXPIRED, slots(1, 0, 3, open_=False)) is AnswerFit.NO_SLOT


def test_a_skipped_assignment_takes_no_answer() -> None:
    assert fit_answer(SKIPPED, slots(0, 0, 3)) is AnswerFit.CLOSED


def test_an_answered_assignment_never_takes_a_second_slot() -> None:
    # Replays are answered before fitting; were one fitted, it must not count twice.
    assert fit_answer(ANSWERED, slots(1, 0, 3)) is AnswerFit.NO_SLOT
