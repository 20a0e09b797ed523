"""The fixed-prior Dawid-Skene engine: a golden step by hand, monotone objective, gold, order-free sums."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.categorical_em import SortedAnswers, fit_categorical, vote_shares
from crowd.consensus.encoding import answer_arrays


def toy() -> SortedAnswers:
    # task 0: workers 0, 1 say 0; task 1: worker 0 says 1, worker 1 says 0
    return SortedAnswers.of(answer_arrays([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 0], 2, 2, 2))


def test_vote_shares_and_soft_counts() -> None:
    answers = toy()
    shares = vote_shares(answers)
    np.testing.assert_allclose(shares, [[1.0, 0.0], [0.5, 0.5]])
    counts = answers.soft_counts(shares)
    # worker 0: task 0 (label 0) with q = (1, 0); task 1 (label 1) with q = (.5, .5)
    np.testing.assert_allclose(counts[0], [[1.0, 0.5], [0.0, 0.5]])
    np.testing.assert_allclose(counts[1], [[1.5, 0.0], [0.5, 0.0]])


def test_one_step_by_hand() -> None:
    answers = toy()
    start = vote_shares(answers)
    pseudo = np.full((2, 2, 2), 0.5)
    fit = fit_categorical(answers, pseudo, start, max_iter=1)
    counts = answers.soft_counts(start) + pseudo
    confusions = counts / counts.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(fit.confusions, confusions)
    priors = (start.sum(axis=0) + 1.0) / (2 + 2.0)
    np.testing.assert_allclose(fit.priors[0], priors)
    joint = np.log(priors) + np.array(
        [
            np.log(confusions[0, :, 0]) + np.log(confusions[1, :, 0]),
            np.log(confusions[0, :, 1]) + np.log(confusions[1, :, 0]),
        ]
    )
    expected = np.exp(joint - joint.max(axis=1, keepdims=True))
    np.testing.assert_allclose(fit.posteriors, expected / expected.sum(axis=1, keepdims=True))


def random_answers(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 50)
    tasks = np.repeat(np.arange(50), 4)
    workers = rng.integers(0, 8, len(tasks))
    labels = np.where(rng.random(len(tasks)) < 0.7, truth[tasks], rng.integers(0, 3, len(tasks)))
    return tasks, workers, labels


def test_objective_never_decreases_and_gold_is_clamped() -> None:
    tasks, workers, labels = random_answers(1)
    answers = SortedAnswers.of(answer_arrays(tasks, workers, labels, 51, 8, 3))
    fit = fit_categorical(answers, np.full((8, 3, 3), 0.3), vote_shares(answers), gold={3: 2, 50: 1})
    assert np.all(np.diff(fit.log_posterior) >= -1e-9)
    assert fit.converged
    np.testing.assert_array_equal(fit.posteriors[3], [0, 0, 1])
    np.testing.assert_array_equal(fit.posteriors[50], [0, 1, 0])  # a gold task without answers too
    with pytest.raises(ValueError, match="gold maps"):
        fit_categorical(answers, np.full((8, 3, 3), 0.3), vote_shares(answers), gold={0: 3})


def test_the_order_of_answer_rows_does_not_matter() -> None:
    tasks, workers, labels = random_answers(2)
    order = np.random.default_rng(0).permutation(len(tasks))
    fits = []
    for index in (np.arange(len(tasks)), order):
        answers = SortedAnswers.of(answer_arrays(tasks[index], workers[index], labels[index], 50, 8, 3))
        fits.append(fit_categorical(answers, np.full((8, 3, 3), 0.3), vote_shares(answers)))
    np.testing.assert_array_equal(fits[0].posteriors, fits[1].posteriors)
    np.testing.assert_array_equal(fits[0].confusions, fits[1].confusions)
