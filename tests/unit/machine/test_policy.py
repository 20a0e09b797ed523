from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from crowd.assignment.policy import qualified, route_for
from crowd.inference.policy import settle
from crowd.machine.policy import initial_target, model_worker, saved_answers


@pytest.mark.parametrize(
    ("min_overlap", "min_humans", "models", "target"),
    [(3, 1, 0, 3), (3, 1, 1, 2), (3, 1, 5, 1), (2, 0, 1, 1), (1, 0, 1, 0), (1, 0, 3, 0), (3, 2, 2, 2)],
)
def test_models_lower_the_human_target_down_to_the_floor(
    min_overlap: int, min_humans: int, models: int, target: int
) -> None:
    assert initial_target(min_overlap, min_humans, models) == target


def test_saved_answers_are_shared_between_a_tasks_models() -> None:
    assert saved_answers(3, 1, 2) == 1.0
    assert saved_answers(3, 3, 1) == 0.0
    assert saved_answers(3, 0, 0) == 0.0
    assert model_worker("gpt-x") == "model:gpt-x"


def decide(posterior: list[float], **counts: Any) -> tuple[bool, int]:
    base = {"min_overlap": 2, "max_overlap": 4, "min_humans": 1, "confidence": 0.9}
    outcome = settle(np.array(posterior), **{**base, **counts})
    return outcome.complete, outcome.target_overlap


def test_settling_waits_for_the_target_then_completes_or_asks_for_one_more() -> None:
    assert decide([0.95, 0.05], votes=1, humans=1, answers=1, target_overlap=2) == (False, 2)  # not caught up
    assert decide([0.95, 0.05], votes=2, humans=2, answers=2, target_overlap=2) == (True, 2)
    assert decide([0.6, 0.4], votes=2, humans=2, answers=2, target_overlap=2) == (False, 3)
    assert decide([0.6, 0.4], votes=4, humans=4, answers=4, target_overlap=4) == (True, 4)  # max_overlap humans


def test_model_votes_count_toward_min_overlap_but_not_the_human_floor() -> None:
    assert decide([0.95, 0.05], votes=2, humans=1, answers=1, target_overlap=1) == (True, 1)
    assert decide([0.95, 0.05], votes=2, humans=0, answers=0, target_overlap=0) == (False, 1)
    assert decide([0.95, 0.05], votes=2, humans=0, answers=0, target_overlap=0, min_humans=0) == (True, 0)


def test_recollected_answers_count_for_slots_not_for_consensus() -> None:
    # three answers, one of a blocked worker: the task has caught up with its target of 3,
    # but only two votes count, so it is decided on those.
    assert decide([0.95, 0.05], votes=2, humans=2, answers=3, target_overlap=3) == (True, 3)
    assert decide([0.7, 0.3], votes=2, humans=2, answers=3, target_overlap=3) == (False, 4)
    # ... but never more than max_overlap answers in all: at four, it completes on the three that count.
    assert decide([0.7, 0.3], votes=3, humans=3, answers=4, target_overlap=4) == (True, 4)
    assert decide([0.7, 0.3], votes=0, humans=0, answers=4, target_overlap=4, min_humans=1) == (True, 4)


def test_with_evidence_the_weighted_posterior_must_agree_and_be_sure_too() -> None:
    counts = {"votes": 2, "humans": 2, "answers": 2, "target_overlap": 2}
    sure, unsure, other = np.array([0.93, 0.07]), np.array([0.8, 0.2]), np.array([0.45, 0.55])
    assert decide([0.95, 0.05], **counts, evidence=sure) == (True, 2)
    assert decide([0.95, 0.05], **counts, evidence=unsure) == (False, 3)
    assert decide([0.95, 0.05], **counts, evidence=other) == (False, 3)
    full = {**counts, "votes": 4, "humans": 4, "answers": 4, "target_overlap": 4}
    assert decide([0.95, 0.05], **full, evidence=unsure) == (True, 4)  # max_overlap ends it regardless
    outcome = settle(
        np.array([0.95, 0.05]), **counts, min_overlap=2, max_overlap=4, min_humans=1, confidence=0.9, evidence=sure
    )
    assert (outcome.label, outcome.confidence) == (0, 0.95)  # the task shows the plain posterior


def test_routing_and_qualification() -> None:
    assert route_for("depth_first", 0.99) is None
    assert route_for("uncertainty", 0.9) == "uncertain_first"
    assert route_for("uncertainty", 0.5) == "confident_first"
    assert route_for("uncertainty", None) == "confident_first"
    assert qualified(0.7, None)
    assert qualified(0.7, 0.71)
    assert not qualified(0.7, 0.69)
    assert qualified(0.0, 0.1)
