"""The Hungarian method against scipy, and why matching is an assignment rather than greedy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crowd.consensus.box_geometry import BoxSet, iou_matrix, match_box_sets
from crowd.consensus.matching import min_cost_matching


def test_golden_three_by_three() -> None:
    rows, columns = min_cost_matching([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    assert rows.tolist() == [0, 1, 2]
    assert columns.tolist() == [1, 0, 2]  # 1 + 2 + 2 = 5, the minimum


def test_rectangular_and_empty() -> None:
    rows, columns = min_cost_matching([[5.0, 1.0, 9.0]])
    assert (rows.tolist(), columns.tolist()) == ([0], [1])
    rows, columns = min_cost_matching([[5.0], [1.0], [9.0]])
    assert (rows.tolist(), columns.tolist()) == ([1], [0])
    assert min_cost_matching(np.zeros((0, 4)))[0].size == 0
    with pytest.raises(ValueError, match="finite"):
        min_cost_matching([[np.inf]])


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=st.floats(0, 10)))
def test_total_cost_equals_scipy(cost: np.ndarray) -> None:
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rows, columns = min_cost_matching(cost)
    assert len(rows) == min(cost.shape)
    assert len(set(rows.tolist())) == len(rows)
    assert len(set(columns.tolist())) == len(columns)
    their_rows, their_columns = scipy_optimize.linear_sum_assignment(cost)
    assert cost[rows, columns].sum() == pytest.approx(cost[their_rows, their_columns].sum(), abs=1e-9)


def boxes(*spans: tuple[float, float]) -> BoxSet:
    return BoxSet.of([{"x": a, "y": 0, "w": b - a, "h": 10, "label": "car"} for a, b in spans])


def test_iou_golden() -> None:
    first = np.array([[0.0, 0.0, 10.0, 10.0]])
    assert iou_matrix(first, np.array([[5.0, 0.0, 10.0, 10.0]]))[0, 0] == pytest.approx(50 / 150)
    assert iou_matrix(first, np.array([[20.0, 0.0, 5.0, 5.0]]))[0, 0] == 0.0
    assert iou_matrix(np.zeros((1, 4)), np.zeros((1, 4)))[0, 0] == 0.0  # no area, no union


def test_assignment_matches_two_pairs_where_greedy_matches_one() -> None:
    # IoU(a1, b1) = .905 is the best pair, but taking it leaves a2 with b2 at .333 (< .5);
    # a1-b2 (.538) and a2-b1 (.6) match both.
    answer, other = boxes((0, 10), (-2, 8)), boxes((0.5, 10.5), (3, 13))
    rows, columns, iou = match_box_sets(answer, other)
    assert list(zip(rows.tolist(), columns.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert iou == pytest.approx([7 / 13, 7.5 / 12.5])


def test_labels_must_agree_unless_a_penalty_allows_it() -> None:
    car = boxes((0, 10))
    bus = BoxSet(car.coords, ("bus",))
    assert match_box_sets(car, bus)[0].size == 0
    assert match_box_sets(car, bus, label_penalty=1.0)[0].tolist() == [0]
