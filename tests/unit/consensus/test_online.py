"""The online step equals the full E-step; the dynamic overlap rule."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.dawid_skene import DawidSkene
from crowd.consensus.online import (
    UNKNOWN_WORKER,
    OnlineModel,
    OverlapDecision,
    decide_overlap,
    evidence_weights,
)


def fitted() -> tuple[DawidSkene, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    tasks = np.repeat(np.arange(30), 3)
    workers = rng.integers(0, 6, len(tasks))
    labels = rng.integers(0, 3, len(tasks))
    return DawidSkene().fit(tasks, workers, labels, n_tasks=31), tasks, workers, labels


def test_online_posterior_equals_the_fit_for_every_task() -> None:
    model, tasks, workers, labels = fitted()
    online = OnlineModel.of(model.params_)
    for task in range(30):
        mine = tasks == task
        np.testing.assert_allclose(online.posterior(workers[mine], labels[mine]), model.posteriors_[task], rtol=1e-12)


def test_task_without_answers_gets_the_prior() -> None:
    model, *_ = fitted()
    np.testing.assert_allclose(OnlineModel.of(model.params_).posterior([], []), model.priors_)


def test_evidence_weights_grow_from_nothing_to_full_with_a_workers_answers() -> None:
    np.testing.assert_allclose(evidence_weights([0, 1, 30, 90], 30), [0.0, 1 / 31, 0.5, 0.75])
    np.testing.assert_array_equal(evidence_weights([0, 5], 0), [1.0, 1.0])  # off: every answer in full
    assert evidence_weights([], 30).shape == (0,)
    with pytest.raises(ValueError, match="half"):
        evidence_weights([1], -1)


def test_weights_scale_each_answers_log_likelihood() -> None:
    model, tasks, workers, labels = fitted()
    online = OnlineModel.of(model.params_)
    mine = tasks == 7
    who, said = workers[mine], labels[mine]
    plain = online.posterior(who, said)
    np.testing.assert_array_equal(online.posterior(who, said, np.ones(len(who))), plain)
    np.testing.assert_allclose(online.posterior(who, said, np.zeros(len(who))), model.priors_)
    # by hand: prior times each answer's likelihood column raised to its weight
    weights = np.array([0.25, 0.5, 1.0])
    expected = model.priors_ * np.prod(model.confusions_[who, :, said] ** weights[:, np.newaxis], axis=0)
    np.testing.assert_allclose(online.posterior(who, said, weights), expected / expected.sum(), rtol=1e-12)


def test_unknown_worker_is_scored_with_the_newcomer_matrix() -> None:
    model, *_ = fitted()
    online = OnlineModel.of(model.params_)
    expected = model.priors_ * model.newcomer_[:, 2]
    expected /= expected.sum()
    np.testing.assert_allclose(online.posterior([UNKNOWN_WORKER], [2]), expected)
    np.testing.assert_allclose(online.posterior([99], [2]), expected)


def test_extreme_evidence_does_not_underflow() -> None:
    model, *_ = fitted()
    posterior = OnlineModel.of(model.params_).posterior([0] * 2000, [1] * 2000)
    assert np.isfinite(posterior).all()
    assert posterior.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("posterior", "answers", "target", "expected"),
    [
        # confident but below min_overlap: keep collecting, target stays at min_overlap
        ([0.99, 0.01], 1, 3, OverlapDecision(False, 0, 0.99, 3)),
        # min_overlap reached and confident: complete
        ([0.05, 0.95], 3, 3, OverlapDecision(True, 1, 0.95, 3)),
        # min_overlap reached, not confident: one more answer
        ([0.6, 0.4], 3, 3, OverlapDecision(False, 0, 0.6, 4)),
        # answers still outstanding on a grown target: keep it
        ([0.6, 0.4], 3, 5, OverlapDecision(False, 0, 0.6, 5)),
        # max_overlap reached: complete whatever the confidence
        ([0.5, 0.5], 5, 5, OverlapDecision(True, 0, 0.5, 5)),
        # confidence exactly at the target counts
        ([0.1, 0.9], 4, 4, OverlapDecision(True, 1, 0.9, 4)),
    ],
)
def test_dynamic_overlap(posterior: list[float], answers: int, target: int, expected: OverlapDecision) -> None:
    decision = decide_overlap(
        posterior, answers, min_overlap=3, max_overlap=5, confidence_target=0.9, target_overlap=target
    )
    assert decision == expected


def test_target_never_passes_max_overlap() -> None:
    decision = decide_overlap([0.5, 0.5], 4, min_overlap=1, max_overlap=4, confidence_target=0.9, target_overlap=4)
    assert decision.complete
    decision = decide_overlap([0.5, 0.5], 3, min_overlap=1, max_overlap=4, confidence_target=0.9, target_overlap=4)
    assert decision == OverlapDecision(False, 0, 0.5, 4)


def test_dynamic_overlap_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match="min_overlap"):
        decide_overlap([1.0], 1, min_overlap=3, max_overlap=2, confidence_target=0.9, target_overlap=3)
