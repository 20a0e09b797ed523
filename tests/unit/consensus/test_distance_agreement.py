"""Alpha with any distance; worker reliability from scored answers; the stability overlap rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.agreement import krippendorff_alpha
from crowd.consensus.distance_agreement import decide_stable_overlap, distance_alpha
from crowd.consensus.worker_scores import crowd_quantiles, worker_reliabilities


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), min_size=2, max_size=40))
def test_with_the_nominal_distance_it_is_krippendorffs_alpha(rows: list[tuple[int, int]]) -> None:
    units, labels = (np.array(column) for column in zip(*rows, strict=True))
    alpha = distance_alpha(units, lambda a, b: (labels[a] != labels[b]).astype(float), np.random.default_rng(0))
    expected = krippendorff_alpha(units, labels)
    assert (math.isnan(alpha) and math.isnan(expected)) or alpha == pytest.approx(expected, abs=1e-12)


def test_interval_distance_golden() -> None:
    # Units {1, 2} and {3, 3}: D_o = (1 + 1 + 0 + 0) / 4 = 0.5; all pairs: |1-2|, |1-3|×2, |2-3|×2, |3-3| = 7/6.
    values = np.array([1.0, 2.0, 3.0, 3.0])
    alpha = distance_alpha([0, 0, 1, 1], lambda a, b: np.abs(values[a] - values[b]), np.random.default_rng(0))
    assert alpha == pytest.approx(1 - 0.5 / (7 / 6))


def test_sampled_expected_disagreement_is_close_to_the_exact_one() -> None:
    rng = np.random.default_rng(4)
    values = rng.random(600)
    units = np.repeat(np.arange(200), 3)

    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.abs(values[a] - values[b]))

    exact = distance_alpha(units, distance, np.random.default_rng(0))
    sampled = distance_alpha(units, distance, np.random.default_rng(0), max_pairs=50_000)
    assert sampled == pytest.approx(exact, abs=0.02)


def test_undefined_cases_are_nan() -> None:
    rng = np.random.default_rng(0)
    assert math.isnan(distance_alpha([0, 1, 2], lambda a, b: np.ones(len(a)), rng))
    assert math.isnan(distance_alpha([0, 0], lambda a, b: np.zeros(len(a)), rng))
    assert math.isnan(distance_alpha([], lambda a, b: np.zeros(len(a)), rng))


def test_worker_reliabilities_count_gold_and_soft_answers() -> None:
    standing = worker_reliabilities(
        ["a", "b"], [0.9, 0.4], [0, 0, 0, 1], [1.0, 0.5, 1.0, 0.0], [True, False, False, True]
    )
    a, b = standing["a"], standing["b"]
    assert (a.answers, a.gold_answers, b.answers, b.gold_answers) == (3, 1, 1, 1)
    assert a.reliability == 0.9
    assert 0 < a.low < a.high < 1
    assert b.high < a.high
    assert a.to_dict()["gold_answers"] == 1


def test_without_a_model_estimate_reliability_is_the_posterior_mean() -> None:
    standing = worker_reliabilities(["a"], None, [0, 0, 0], [1.0, 0.5, 1.0], [True, False, False])
    assert standing["a"].reliability == pytest.approx((1 + 2.5) / (2 + 3))
    assert standing["a"].low < standing["a"].reliability < standing["a"].high


def test_crowd_quantiles_weigh_workers_by_their_work() -> None:
    assert crowd_quantiles([0.2, 0.9], [1, 19]) == (0.9, 0.9, 0.9, 0.9, 0.9)
    assert crowd_quantiles([0.2, 0.9], [1, 1]) == (0.2, 0.2, 0.2, 0.9, 0.9)
    assert crowd_quantiles([0.5], [0]) == ()


def test_the_stability_rule() -> None:
    assert decide_stable_overlap(0.99, 2, 2, 5, 0.95, 2).complete
    undecided = decide_stable_overlap(0.5, 2, 2, 5, 0.95, 2)
    assert not undecided.complete
    assert undecided.target_overlap == 3
    assert decide_stable_overlap(0.1, 5, 2, 5, 0.95, 5).complete
