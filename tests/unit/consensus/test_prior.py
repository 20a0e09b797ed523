"""The empirical-Bayes prior: skills solve their MAP equation, centres are the crowd's matrix at that skill."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd.consensus.prior import Smoothing, crowd_log_odds, skill_centres, skill_offsets

POPULATION = np.array([[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])


def random_counts(seed: int, n_workers: int = 6, n_classes: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.gamma(1.0, 3.0, (n_workers, n_classes, n_classes)) * rng.integers(0, 2, (n_workers, 1, 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skills_solve_the_map_equation(seed: int) -> None:
    counts, precision = random_counts(seed), 0.5
    skills = skill_offsets(counts, POPULATION, precision)
    agreement = 1 / (1 + np.exp(-(crowd_log_odds(POPULATION) + skills[:, None])))
    expected_agreed = (counts.sum(axis=2) * agreement).sum(axis=1) + precision * skills
    np.testing.assert_allclose(expected_agreed, np.einsum("wkk->w", counts), atol=1e-8)


def test_a_worker_without_answers_has_the_crowds_skill() -> None:
    counts = np.zeros((1, 3, 3))
    assert skill_offsets(counts, POPULATION, 0.5).tolist() == [0.0]
    np.testing.assert_allclose(skill_centres(POPULATION, np.zeros(1))[0], POPULATION)


def test_infinite_precision_gives_every_worker_the_pooled_centre() -> None:
    assert not skill_offsets(random_counts(3), POPULATION, math.inf).any()


def test_centres_are_confusion_matrices_ordered_by_skill() -> None:
    centres = skill_centres(POPULATION, np.array([-2.0, 0.0, 2.0]))
    np.testing.assert_allclose(centres.sum(axis=2), 1.0)
    diagonals = np.diagonal(centres, axis1=1, axis2=2)
    assert np.all(np.diff(diagonals, axis=0) > 0)  # more skill, more mass on every diagonal cell
    # the errors keep the crowd's spread: row 0 errs toward class 1 three times as often as toward class 2
    np.testing.assert_allclose(centres[:, 0, 1] / centres[:, 0, 2], 3.0)


def test_prior_pseudo_counts_and_newcomer() -> None:
    counts = random_counts(4)
    prior = Smoothing(alpha=0.1, shrinkage=8.0, alpha_prior=1.0).prior_for(counts)
    assert prior.confusion.shape == counts.shape
    np.testing.assert_allclose(prior.confusion.sum(axis=2), 0.1 * 3 + 8.0)  # alpha per cell + 8 per row
    pooled = counts.sum(axis=0) + 0.1
    np.testing.assert_allclose(prior.population, 0.1 + 8.0 * pooled / pooled.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(prior.newcomer().sum(axis=1), 1.0)


def test_single_class_is_left_alone() -> None:
    prior = Smoothing(alpha=0.1, shrinkage=8.0, alpha_prior=1.0).prior_for(np.ones((2, 1, 1)))
    np.testing.assert_allclose(prior.confusion, 8.1)
