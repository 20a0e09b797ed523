"""Krippendorff's alpha with any distance, its bootstrap, and graded agreement with consensus.

The krippendorff package (installed with the dev extra) is the oracle for
nominal, interval and ordinal alpha, and, through its callable metric, for
MASI and Jaccard on label sets.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd.consensus.agreement import (
    bootstrap_alpha_distance,
    consensus_agreement,
    consensus_similarity,
    krippendorff_alpha,
    krippendorff_alpha_distance,
)
from crowd.consensus.distances import (
    interval_distances,
    jaccard_distance,
    masi_distance,
    nominal_distances,
    ordinal_distances,
    set_distance_matrix,
)

krippendorff = pytest.importorskip("krippendorff")


def graded_answers(seed: int, n_tasks: int = 40, n_grades: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_grades, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), rng.integers(1, 6, n_tasks))
    labels = np.clip(truth[tasks] + rng.integers(-1, 2, len(tasks)), 0, n_grades - 1)
    return tasks, labels


def value_counts(tasks: np.ndarray, labels: np.ndarray, n_categories: int) -> np.ndarray:
    counts = np.zeros((tasks.max() + 1, n_categories))
    np.add.at(counts, (tasks, labels), 1)
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("level", ["nominal", "interval", "ordinal"])
def test_alpha_matches_krippendorff(seed: int, level: str) -> None:
    tasks, labels = graded_answers(seed)
    distance = {"nominal": nominal_distances(5), "interval": interval_distances(np.arange(5)), "ordinal": None}[level]
    ours = krippendorff_alpha_distance(tasks, labels, ordinal_distances if distance is None else distance)
    theirs = krippendorff.alpha(value_counts=value_counts(tasks, labels, 5), level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("metric", [masi_distance, jaccard_distance])
def test_set_alpha_matches_krippendorff_with_a_callable_metric(metric: object) -> None:
    rng = np.random.default_rng(7)
    sets = [frozenset(s) for s in ([], ["a"], ["b"], ["a", "b"], ["a", "c"], ["c"])]
    matrix = set_distance_matrix(sets, metric)  # type: ignore[arg-type]
    truth = rng.integers(0, len(sets), 30)
    tasks = np.repeat(np.arange(30), 4)
    noisy = rng.random(len(tasks)) < 0.3
    labels = np.where(noisy, rng.integers(0, len(sets), len(tasks)), truth[tasks])

    def lookup(v1: np.ndarray, v2: np.ndarray, i1: np.ndarray, i2: np.ndarray, n_v: np.ndarray, dtype: object = None):  # type: ignore[no-untyped-def]
        return matrix[i1, i2]

    theirs = krippendorff.alpha(value_counts=value_counts(tasks, labels, len(sets)), level_of_measurement=lookup)
    assert krippendorff_alpha_distance(tasks, labels, matrix) == pytest.approx(theirs, abs=1e-12)


def test_nominal_distance_alpha_is_the_nominal_alpha() -> None:
    tasks, labels = graded_answers(4)
    assert krippendorff_alpha_distance(tasks, labels, nominal_distances(5)) == pytest.approx(
        krippendorff_alpha(tasks, labels), abs=1e-12
    )


def test_perfect_agreement_and_undefined_alpha() -> None:
    tasks, labels = np.array([0, 0, 1, 1]), np.array([0, 0, 2, 2])
    assert krippendorff_alpha_distance(tasks, labels, interval_distances([1, 2, 3])) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_distance([0, 0], [1, 1], nominal_distances(3)))  # one category only
    assert math.isnan(krippendorff_alpha_distance([0, 1], [0, 1], nominal_distances(2)))  # nothing pairable


def test_bad_distance_inputs_raise() -> None:
    with pytest.raises(ValueError, match="square"):
        krippendorff_alpha_distance([0, 0], [0, 1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="index the rows"):
        krippendorff_alpha_distance([0, 0], [0, 3], nominal_distances(2))
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_alpha_distance([0, 0], [0, 1], nominal_distances(2), rng=np.random.default_rng(0), n_resamples=0)


@pytest.mark.parametrize("distance", [interval_distances(np.arange(5)), ordinal_distances])
def test_bootstrap_interval_brackets_the_estimate_and_is_seeded(distance: object) -> None:
    tasks, labels = graded_answers(9, n_tasks=60)
    first = bootstrap_alpha_distance(tasks, labels, distance, rng=np.random.default_rng(1), n_resamples=300)  # type: ignore[arg-type]
    again = bootstrap_alpha_distance(tasks, labels, distance, rng=np.random.default_rng(1), n_resamples=300)  # type: ignore[arg-type]
    assert first == again
    assert first.low <= first.estimate <= first.high
    assert first.estimate == pytest.approx(krippendorff_alpha_distance(tasks, labels, distance))  # type: ignore[arg-type]


def test_consensus_similarity_generalises_consensus_agreement() -> None:
    tasks, workers, labels = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 1]), np.array([0, 1, 2, 2, 1])
    consensus = np.array([0, 2, -1])
    exact = consensus_agreement(tasks, workers, labels, consensus)
    graded = consensus_similarity(tasks, workers, labels, consensus, np.eye(3))
    np.testing.assert_allclose(graded.share, exact.share)
    np.testing.assert_array_equal(graded.n_answers, exact.n_answers)
    closeness = 1.0 - np.abs(np.arange(3)[:, None] - np.arange(3)[None, :]) / 2.0
    # worker 1: task 0 answered 1 against 0 (0.5), task 1 answered 2 against 2 (1); task 2 has no consensus
    assert consensus_similarity(tasks, workers, labels, consensus, closeness).share[1] == pytest.approx(0.75)
