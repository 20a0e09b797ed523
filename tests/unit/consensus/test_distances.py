"""Set, grade and order distances: hand-worked values, reference implementations, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.distances import (
    average_ranks,
    exact_match,
    interval_distances,
    jaccard,
    jaccard_distance,
    kendall_tau_b,
    masi_distance,
    nominal_distances,
    order_kendall_tau,
    ordinal_distances,
    set_distance_matrix,
    spearman_rho,
    within_tolerance,
)

A, B, C = "a", "b", "c"


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (set(), set(), 1.0),  # two empty sets agree
        ({A}, {A}, 1.0),
        ({A}, {A, B}, 0.5),
        ({A, B}, {B, C}, 1 / 3),
        ({A}, {B}, 0.0),
        (set(), {A}, 0.0),
    ],
)
def test_jaccard(first: set[str], second: set[str], expected: float) -> None:
    assert jaccard(frozenset(first), frozenset(second)) == pytest.approx(expected)
    assert jaccard_distance(frozenset(first), frozenset(second)) == pytest.approx(1 - expected)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (set(), set(), 0.0),
        ({A, B}, {A, B}, 0.0),
        ({A}, {A, B}, 1 - 0.5 * 2 / 3),  # subset: J = 1/2, M = 2/3
        ({A, B}, {B, C}, 1 - (1 / 3) * (1 / 3)),  # overlap: J = 1/3, M = 1/3
        ({A}, {B}, 1.0),
        (set(), {A}, 1.0),
    ],
)
def test_masi_distance(first: set[str], second: set[str], expected: float) -> None:
    assert masi_distance(frozenset(first), frozenset(second)) == pytest.approx(expected)
    assert masi_distance(frozenset(second), frozenset(first)) == pytest.approx(expected)


def test_exact_match_and_set_matrix() -> None:
    sets = [frozenset(), frozenset({A}), frozenset({A, B})]
    assert exact_match(sets[1], frozenset({A})) == 1.0
    assert exact_match(sets[1], sets[2]) == 0.0
    matrix = set_distance_matrix(sets, jaccard_distance)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_array_equal(np.diagonal(matrix), 0.0)
    assert matrix[1, 2] == pytest.approx(0.5)


def test_ordinal_distances_by_hand() -> None:
    # n = (1, 2, 3): δ_01 = (1 + 2 - 1.5)², δ_02 = (6 - 2)², δ_12 = (2 + 3 - 2.5)²
    expected = np.array([[0, 2.25, 16], [2.25, 0, 6.25], [16, 6.25, 0]])
    np.testing.assert_allclose(ordinal_distances([1, 2, 3]), expected)
    stacked = ordinal_distances(np.array([[1, 2, 3], [3, 2, 1]]))
    assert stacked.shape == (2, 3, 3)
    np.testing.assert_allclose(stacked[0], expected)


def test_interval_and_nominal_distances() -> None:
    np.testing.assert_allclose(interval_distances([1, 2, 4]), [[0, 1, 9], [1, 0, 4], [9, 4, 0]])
    np.testing.assert_array_equal(nominal_distances(2), [[0, 1], [1, 0]])
    assert within_tolerance(4, 5, 1)
    assert not within_tolerance(3, 5, 1)


def test_average_ranks_share_ties() -> None:
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])


def test_kendall_and_spearman_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, y = rng.integers(0, 6, 80), rng.integers(0, 6, 80)  # many ties
        assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
        assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_kendall_in_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=300), rng.integers(0, 9, 300)
    whole = kendall_tau_b(x, y)
    monkeypatch.setattr("crowd.consensus.distances._KENDALL_BLOCK", 700)  # a couple of rows per block
    assert kendall_tau_b(x, y) == pytest.approx(whole, abs=1e-12)


def test_constant_rankings_are_nan() -> None:
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [4, 4, 4]))


def test_order_kendall_tau() -> None:
    assert order_kendall_tau(["x", "y", "z"], ["x", "y", "z"]) == pytest.approx(1.0)
    assert order_kendall_tau(["z", "y", "x"], ["x", "y", "z"]) == pytest.approx(-1.0)
    assert order_kendall_tau(["y", "x", "z"], ["x", "y", "z"]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="same distinct items"):
        order_kendall_tau(["x", "y"], ["x", "z"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=30))
def test_rank_correlations_are_symmetric_and_order_free(pairs: list[tuple[int, int]]) -> None:
    x, y = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    order = np.random.default_rng(len(pairs)).permutation(len(pairs))
    for statistic in (kendall_tau_b, spearman_rho):
        value = statistic(x, y)
        if math.isnan(value):
            continue
        assert -1 - 1e-12 <= value <= 1 + 1e-12
        assert statistic(y, x) == pytest.approx(value, abs=1e-12)
        assert statistic(x[order], y[order]) == pytest.approx(value, abs=1e-12)
        assert statistic(np.exp(x), 3 * y + 1) == pytest.approx(value, abs=1e-12)  # monotone maps keep ranks
