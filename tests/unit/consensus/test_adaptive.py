"""Dawid-Skene with a learned prior strength (``shrinkage=None``, empirical Bayes) adapts to the crowd.

Hand-checkable toys for the learned strength, the two kinds of crowd it must
tell apart, agreement with the fixed-strength model (the previous default)
where every worker answers a lot, and the online step against the refit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd.consensus.dawid_skene import AnswerLayout, DawidSkene, Gold, majority_posteriors, soft_confusion_counts
from crowd.consensus.encoding import answer_arrays
from crowd.consensus.majority import MajorityVote
from crowd.consensus.online import UNKNOWN_WORKER, OnlineModel
from crowd.consensus.prior import STRENGTH_MEDIAN, STRENGTH_SPREAD, Smoothing, learned_strength

PREVIOUS_DEFAULT = 8.0
"""The fixed strength (``shrinkage``) of the default model."""


def learned() -> DawidSkene:
    return DawidSkene(shrinkage=None)


def log_marginal(counts: np.ndarray, centres: np.ndarray, alpha: float, s: float) -> float:
    """The objective of :func:`learned_strength` written out with ``math.lgamma``, cell by cell."""
    total = -((math.log(s) - math.log(STRENGTH_MEDIAN)) ** 2) / (2 * STRENGTH_SPREAD**2)
    for worker_counts, worker_centre in zip(counts, centres, strict=True):
        for row, centre in zip(worker_counts, worker_centre, strict=True):
            a = alpha + s * centre
            total += math.lgamma(a.sum()) - math.lgamma(a.sum() + row.sum())
            total += sum(math.lgamma(x + n) - math.lgamma(x) for x, n in zip(a, row, strict=True))
    return total


def one_coin_answers(
    rng: np.random.Generator, n_tasks: int, n_workers: int, per_task: int, n_classes: int = 3
) -> tuple[np.ndarray, ...]:
    truth = rng.integers(0, n_classes, n_tasks)
    skill = rng.uniform(0.55, 0.9, n_workers)
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in range(n_tasks)])
    right = rng.random(len(tasks)) < skill[workers]
    wrong = (truth[tasks] + rng.integers(1, n_classes, len(tasks))) % n_classes
    return tasks, workers, np.where(right, truth[tasks], wrong), truth


def confusion_answers(
    rng: np.random.Generator, confusions: np.ndarray, n_tasks: int, per_task: int
) -> tuple[np.ndarray, ...]:
    """Answers drawn from full per-worker confusion matrices (``workers × K × K``)."""
    n_workers, n_classes = confusions.shape[:2]
    truth = rng.integers(0, n_classes, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in range(n_tasks)])
    cumulative = np.cumsum(confusions[workers, truth[tasks]], axis=1)
    labels = np.minimum((rng.random((len(tasks), 1)) > cumulative).sum(axis=1), n_classes - 1)
    return tasks, workers, labels, truth


# --- the learned strength ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_strength_maximises_the_marginal_likelihood(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.gamma(1.0, 4.0, (5, 3, 3))
    centres = rng.dirichlet(np.ones(3), (5, 3))
    s = learned_strength(counts, centres, alpha=0.1)
    best = log_marginal(counts, centres, 0.1, s)
    for other in np.exp(np.linspace(math.log(0.05), math.log(5e4), 200)):
        assert log_marginal(counts, centres, 0.1, float(other)) <= best + 1e-9
    for nearby in (s * 0.999, s * 1.001):  # a stationary point, not only the best of a grid
        assert log_marginal(counts, centres, 0.1, nearby) <= best + 1e-9


def test_workers_who_stray_like_sampling_noise_get_a_strong_prior() -> None:
    # Every row of every worker is exactly its centre times its answers: no spread beyond the multinomial's.
    centres = np.array([[[0.8, 0.2], [0.3, 0.7]]] * 40)
    assert learned_strength(centres * 50.0, centres, alpha=0.1) > 20 * STRENGTH_MEDIAN


def test_workers_unlike_each_other_get_a_weak_prior() -> None:
    # Half the workers always say 0, the others always say 1: nobody looks like the pooled centre.
    counts = np.zeros((40, 2, 2))
    counts[:20, :, 0] = 30.0
    counts[20:, :, 1] = 30.0
    centres = np.full((40, 2, 2), 0.5)
    assert learned_strength(counts, centres, alpha=0.1) < 1.0


def test_without_answers_the_strength_is_the_hyperpriors_median() -> None:
    assert learned_strength(np.zeros((3, 2, 2)), np.full((3, 2, 2), 0.5), alpha=0.1) == STRENGTH_MEDIAN


def test_the_toy_prior_uses_the_learned_strength() -> None:
    # Two workers, three tasks (test_dawid_skene's toy): the prior's pseudo-counts are alpha + s · centre.
    answers = answer_arrays([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 1])
    layout = AnswerLayout.of(answers)
    counts = soft_confusion_counts(layout, majority_posteriors(answers, Gold.from_mapping(None, 3, 2)))
    learned = Smoothing(alpha=0.1, shrinkage=None, alpha_prior=1.0).prior_for(counts)
    fixed = Smoothing(alpha=0.1, shrinkage=1.0, alpha_prior=1.0).prior_for(counts)
    centres = fixed.confusion - 0.1  # shrinkage 1: the centres themselves
    assert learned.strength == pytest.approx(learned_strength(counts, centres, 0.1), rel=1e-12)
    np.testing.assert_allclose(learned.confusion, 0.1 + learned.strength * centres, rtol=1e-12)
    pooled = fixed.population - 0.1  # the crowd's matrix: a newcomer's centre, at the learned strength
    newcomer = 0.1 + learned.strength * pooled
    np.testing.assert_allclose(learned.newcomer(), newcomer / newcomer.sum(axis=1, keepdims=True), rtol=1e-12)


# --- the fit on two kinds of crowd --------------------------------------------------------------


def test_a_sparse_one_coin_crowd_borrows_strength() -> None:
    # 600 workers answering 5 tasks each: each worker's own matrix is mostly noise.
    rng = np.random.default_rng(3)
    tasks, workers, labels, truth = one_coin_answers(rng, n_tasks=600, n_workers=600, per_task=5)
    adaptive = learned().fit(tasks, workers, labels)
    nearly_unpooled = DawidSkene(shrinkage=0.5).fit(tasks, workers, labels)
    majority = MajorityVote().fit(tasks, workers, labels)
    assert adaptive.strength_ > PREVIOUS_DEFAULT
    accuracy = np.mean(adaptive.predict() == truth)
    assert accuracy >= np.mean(nearly_unpooled.predict() == truth)
    assert accuracy >= np.mean(majority.predict() == truth)


def test_a_crowd_of_distinct_biases_keeps_full_matrices() -> None:
    # Three kinds of worker, each mistaking a different class for the next one more often than not,
    # 400 answers each: the crowd's matrix at a worker's skill describes none of them.
    rng = np.random.default_rng(5)
    kinds = np.array([np.eye(3) * 0.9 + 0.1 / 3] * 3)
    for k in range(3):
        kinds[k, k] = [0.05, 0.05, 0.05]
        kinds[k, k, k], kinds[k, k, (k + 1) % 3] = 0.35, 0.6
    confusions = kinds[np.arange(30) % 3]
    tasks, workers, labels, truth = confusion_answers(rng, confusions, n_tasks=2000, per_task=6)
    adaptive = learned().fit(tasks, workers, labels)
    pooled = DawidSkene(shrinkage=200.0).fit(tasks, workers, labels)
    assert adaptive.strength_ < PREVIOUS_DEFAULT
    assert np.mean(adaptive.predict() == truth) > np.mean(pooled.predict() == truth)


def test_agrees_with_the_fixed_strength_model_where_every_worker_answers_a_lot() -> None:
    # 20 workers with their own confusion matrices, 1,800 answers each, 9 per task.
    rng = np.random.default_rng(8)
    confusions = np.array([rng.dirichlet(np.full(3, 2.0) + 12.0 * np.eye(3)[k]) for _ in range(20) for k in range(3)])
    tasks, workers, labels, _ = confusion_answers(rng, confusions.reshape(20, 3, 3), n_tasks=4000, per_task=9)
    adaptive = learned().fit(tasks, workers, labels)
    previous = DawidSkene(shrinkage=PREVIOUS_DEFAULT).fit(tasks, workers, labels)
    assert np.mean(adaptive.predict() == previous.predict()) >= 0.995
    # The priors differ (learned strength ~64 against 8 pseudo-answers a row) by O(s / n) on ~600 answers a row.
    np.testing.assert_allclose(adaptive.confusions_, previous.confusions_, atol=0.03)
    np.testing.assert_allclose(adaptive.priors_, previous.priors_, atol=0.01)
    for model in (adaptive, previous):
        np.testing.assert_allclose(model.confusions_, confusions.reshape(20, 3, 3), atol=0.06)


def test_is_deterministic_and_keeps_gold_clamped() -> None:
    rng = np.random.default_rng(2)
    tasks, workers, labels, truth = one_coin_answers(rng, n_tasks=300, n_workers=40, per_task=4)
    gold = {task: int((truth[task] + 1) % 3) for task in range(0, 300, 10)}  # gold that contradicts the crowd
    first = learned().fit(tasks, workers, labels, gold=gold)
    again = learned().fit(tasks[::-1], workers[::-1], labels[::-1], gold=gold)
    np.testing.assert_array_equal(first.posteriors_, again.posteriors_)
    assert first.strength_ == again.strength_
    for task, label in gold.items():
        np.testing.assert_array_equal(first.posteriors_[task], np.eye(3)[label])


# --- the online step against the refit ---------------------------------------------------------


def test_online_step_with_the_fitted_model_reproduces_the_refit() -> None:
    rng = np.random.default_rng(6)
    tasks, workers, labels, _ = one_coin_answers(rng, n_tasks=200, n_workers=60, per_task=4)
    model = learned().fit(tasks, workers, labels)
    online = OnlineModel.of(model.params_)
    for task in range(200):
        mine = tasks == task
        np.testing.assert_allclose(online.posterior(workers[mine], labels[mine]), model.posteriors_[task], rtol=1e-10)


def test_a_newcomer_is_scored_with_the_learned_population_prior() -> None:
    rng = np.random.default_rng(9)
    tasks, workers, labels, _ = one_coin_answers(rng, n_tasks=300, n_workers=50, per_task=4)
    model = learned().fit(tasks, workers, labels)
    layout = AnswerLayout.of(answer_arrays(tasks, workers, labels))
    start = majority_posteriors(answer_arrays(tasks, workers, labels), Gold.from_mapping(None, 300, 3))
    prior = Smoothing(0.1, model.strength_, 1.0).prior_for(soft_confusion_counts(layout, start))
    np.testing.assert_allclose(model.newcomer_, prior.newcomer(), rtol=1e-12)
    online = OnlineModel.of(model.params_)
    stranger = online.posterior([UNKNOWN_WORKER], [1])
    expected = model.priors_ * model.newcomer_[:, 1]
    np.testing.assert_allclose(stranger, expected / expected.sum(), rtol=1e-12)
    # The refit with the newcomer's answers starts them from that matrix, and stays a proper fit.
    refit = learned().fit(
        np.append(tasks, [0, 1]), np.append(workers, [50, 50]), np.append(labels, [1, 1]), init=model.params_
    )
    assert refit.confusions_.shape == (51, 3, 3)
    np.testing.assert_allclose(refit.confusions_.sum(axis=2), 1.0)
