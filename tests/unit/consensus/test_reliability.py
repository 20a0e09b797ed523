"""Worker reliability: accuracy, credible interval, spammer score, vote weights."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from crowd.consensus.dawid_skene import DawidSkene
from crowd.consensus.reliability import (
    beta_quantile,
    expected_accuracy,
    reliability_interval,
    soft_agreement,
    spammer_score,
    vote_weights,
)

PERFECT = np.eye(3)
SPAMMER = np.tile([0.5, 0.3, 0.2], (3, 1))
PRIORS = np.array([0.5, 0.25, 0.25])


def test_expected_accuracy() -> None:
    assert expected_accuracy(PERFECT, PRIORS) == pytest.approx(1.0)
    # 0.5 · 0.5 + 0.25 · 0.3 + 0.25 · 0.2
    assert expected_accuracy(SPAMMER, PRIORS) == pytest.approx(0.375)
    np.testing.assert_allclose(expected_accuracy(np.stack([PERFECT, SPAMMER]), PRIORS), [1.0, 0.375])


def test_spammer_score_bounds() -> None:
    np.testing.assert_allclose(spammer_score(np.stack([PERFECT, SPAMMER, PERFECT[::-1]])), [1.0, 0.0, 1.0])


def test_spammer_score_binary_formula() -> None:
    sensitivity, specificity = 0.9, 0.7
    matrix = np.array([[specificity, 1 - specificity], [1 - sensitivity, sensitivity]])
    assert spammer_score(matrix) == pytest.approx((sensitivity + specificity - 1) ** 2)


CLOSED_FORMS: list[tuple[float, float, Callable[[float], float]]] = [
    (1, 1, lambda p: p),  # uniform
    (2, 1, math.sqrt),  # CDF x²
    (1, 2, lambda p: 1 - math.sqrt(1 - p)),  # CDF 1 - (1 - x)²
    (5, 1, lambda p: p**0.2),  # CDF x⁵
]


@pytest.mark.parametrize(("a", "b", "quantile"), CLOSED_FORMS)
def test_beta_quantile_closed_forms(a: float, b: float, quantile: Callable[[float], float]) -> None:
    for p in (0.01, 0.05, 0.5, 0.95, 0.99):
        assert beta_quantile(p, a, b) == pytest.approx(quantile(p), abs=1e-9)


def test_beta_quantile_is_symmetric_for_large_counts() -> None:
    low, high = beta_quantile(0.05, [4000.0], [4000.0]), beta_quantile(0.95, [4000.0], [4000.0])
    assert low[0] + high[0] == pytest.approx(1.0, abs=1e-9)
    assert high[0] - 0.5 == pytest.approx(1.6448536 * math.sqrt(0.25 / 8001), rel=1e-3)


def test_interval_without_evidence_is_the_prior() -> None:
    low, high = reliability_interval(0, 0, level=0.9)
    assert (low, high) == (pytest.approx(0.05), pytest.approx(0.95))


def test_interval_narrows_with_evidence_and_combines_sources() -> None:
    gold_only = reliability_interval([8], [10])
    gold_and_soft = reliability_interval([8], [10], soft_correct=[80.0], soft_seen=[100.0])
    assert gold_only[0][0] < 0.8 < gold_only[1][0]
    assert gold_and_soft[1][0] - gold_and_soft[0][0] < gold_only[1][0] - gold_only[0][0]
    discounted = reliability_interval([8], [10], soft_correct=[80.0], soft_seen=[100.0], soft_weight=0.5)
    assert gold_and_soft[1][0] - gold_and_soft[0][0] < discounted[1][0] - discounted[0][0]


def test_soft_agreement() -> None:
    posteriors = np.array([[0.9, 0.1], [0.2, 0.8]])
    correct, seen = soft_agreement([0, 1, 1], [0, 0, 1], [0, 0, 1], posteriors, n_workers=3)
    np.testing.assert_allclose(correct, [0.9 + 0.2, 0.8, 0.0])
    np.testing.assert_allclose(seen, [2, 1, 0])


def test_vote_weights() -> None:
    np.testing.assert_allclose(vote_weights([0.9, 0.5, 0.2], n_classes=2), [math.log(9), 0.0, 0.0])
    assert vote_weights([0.5], n_classes=3)[0] == pytest.approx(math.log(2))


def test_scalar_and_array_quantiles_agree() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.uniform(0.5, 500, 60), rng.uniform(0.5, 500, 60)
    for p in (0.025, 0.5, 0.975):
        one_by_one = [float(beta_quantile(p, float(x), float(y))) for x, y in zip(a, b, strict=True)]
        np.testing.assert_allclose(one_by_one, beta_quantile(p, a, b), rtol=0, atol=1e-12)


# --- honest under the default (adaptive) Dawid-Skene --------------------------------------------


def simulated_crowd(seed: int, per_task: int, n_tasks: int) -> tuple[np.ndarray, ...]:
    """45 one-coin workers (accuracy 0.6-0.95) and 15 spammers (answers independent of the truth), 3 classes."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.6, 0.95, 60)
    confusions = (1 - accuracy)[:, None, None] / 2 * (1 - np.eye(3)) + accuracy[:, None, None] * np.eye(3)
    spammer = np.arange(60) >= 45
    confusions[spammer] = rng.dirichlet(np.ones(3), spammer.sum())[:, None, :]
    truth = rng.integers(0, 3, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.concatenate([rng.choice(60, per_task, replace=False) for _ in range(n_tasks)])
    cumulative = np.cumsum(confusions[workers, truth[tasks]], axis=1)
    labels = np.minimum((rng.random((len(tasks), 1)) > cumulative).sum(axis=1), 2)
    shares = np.bincount(truth, minlength=3) / n_tasks
    true_accuracy = np.einsum("wkk,k->w", confusions, shares)
    return tasks, workers, labels, true_accuracy, spammer


@pytest.mark.parametrize(("per_task", "n_tasks"), [(3, 400), (5, 2000), (7, 300)])
def test_credible_intervals_cover_the_true_accuracy(per_task: int, n_tasks: int) -> None:
    # The server's interval (crowd.inference.policy.reliability): gold aside, each answer on a real task
    # counts as the posterior probability of its label. 95% intervals over 4 crowds of 60 workers cover
    # 86-92% of the true accuracies (the Beta leaves the labels' own uncertainty out, which matters most
    # with 3 answers a task), more than the interval the server drew before: the fitted matrix's expected
    # accuracy counted as the share right of every answer, 76-82%.
    covered, before = [], []
    for seed in range(4):
        tasks, workers, labels, true_accuracy, _ = simulated_crowd(seed, per_task, n_tasks)
        model = DawidSkene().fit(tasks, workers, labels, n_workers=60)
        correct, seen = soft_agreement(tasks, workers, labels, model.posteriors_, 60)
        low, high = reliability_interval(0, 0, correct, seen, level=0.95)
        covered.append(np.mean((low <= true_accuracy) & (true_accuracy <= high)))
        accuracy = expected_accuracy(model.confusions_, model.priors_)
        low, high = reliability_interval(0, 0, accuracy * seen, seen, level=0.95)
        before.append(np.mean((low <= true_accuracy) & (true_accuracy <= high)))
    assert np.mean(covered) >= 0.85
    assert np.mean(covered) > np.mean(before)


def test_spammer_scores_separate_spammers() -> None:
    # ~170 answers per worker: every spammer scores below every honest worker.
    tasks, workers, labels, _, spammer = simulated_crowd(0, per_task=5, n_tasks=2000)
    scores = spammer_score(DawidSkene().fit(tasks, workers, labels, n_workers=60).confusions_)
    assert scores[spammer].max() < scores[~spammer].min()
    # 20 answers per worker: a few overlap, but a random spammer still scores below a random honest worker
    # nearly always (the area under the ROC curve).
    tasks, workers, labels, _, spammer = simulated_crowd(1, per_task=3, n_tasks=400)
    scores = spammer_score(DawidSkene().fit(tasks, workers, labels, n_workers=60).confusions_)
    below = scores[spammer][:, None] < scores[~spammer][None, :]
    assert below.mean() >= 0.9
