"""Minimum-cost assignment (the Hungarian method), for matching boxes and spans.

:func:`min_cost_matching` pairs rows with columns of a cost matrix, each at
most once, so that as many pairs as possible are made (``min(n, m)``) at the
smallest total cost. It is the shortest-augmenting-path form of the
Hungarian method with row and column potentials (Kuhn 1955, Munkres 1957,
in the ``O(n² m)`` arrangement of Jonker & Volgenant): each row in turn is
added by a Dijkstra-like search over reduced costs ``c[i, j] - u[i] - v[j]``
that stay non-negative, then the potentials move so they stay so. The inner
scan over columns is one numpy operation.

Written here rather than taken from scipy, whose only use in the server
would be this one function; the unit tests check it against
``scipy.optimize.linear_sum_assignment`` where scipy is installed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray, IntArray


def min_cost_matching(cost: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """Rows and columns of an optimal assignment, as two index arrays sorted by row.

    ``cost`` is ``n × m`` with finite entries; the result has ``min(n, m)``
    pairs. Ties go to the lower column index in each search, so the result
    is deterministic.
    """
    matrix = np.asarray(cost, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("the cost matrix must be two-dimensional")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("costs must be finite")
    if matrix.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    if matrix.shape[0] > matrix.shape[1]:
        columns, rows = min_cost_matching(matrix.T)
        order = np.argsort(rows)
        return rows[order], columns[order]
    owner = _assign_rows(matrix)
    assigned = np.flatnonzero(owner >= 0)
    rows = owner[assigned]
    order = np.argsort(rows)
    return rows[order], assigned[order]


def _assign_rows(cost: FloatArray) -> IntArray:
    """``owner[j]``: the row assigned to column ``j`` (-1: none), for ``n <= m`` rows.

    Indices inside are 1-based with column 0 a sentinel holding the row
    being added, as in the textbook statement of the algorithm.
    """
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.intp)
    for row in range(1, n + 1):
        owner[0] = row
        way = _shortest_augmenting_path(cost, u, v, owner)
        _augment(owner, way)
    result: IntArray = owner[1:] - 1
    return result


def _shortest_augmenting_path(cost: FloatArray, u: FloatArray, v: FloatArray, owner: IntArray) -> tuple[IntArray, int]:
    """Grow the search tree from the new row until it reaches a free column; updates ``u``, ``v`` in place."""
    m = cost.shape[1]
    slack = np.full(m + 1, np.inf)
    way = np.zeros(m + 1, dtype=np.intp)
    used = np.zeros(m + 1, dtype=bool)
    column = 0
    while True:
        used[column] = True
        row = owner[column]
        reduced = cost[row - 1] - u[row] - v[1:]
        free = ~used[1:]
        better = free & (reduced < slack[1:])
        slack[1:][better] = reduced[better]
        way[1:][better] = column
        candidates = np.where(free, slack[1:], np.inf)
        nearest = int(np.argmin(candidates)) + 1
        delta = candidates[nearest - 1]
        u[owner[used]] += delta
        v[used] -= delta
        slack[1:][free] -= delta
        column = nearest
        if owner[column] == 0:
            return way, column


def _augment(owner: IntArray, found: tuple[IntArray, int]) -> None:
    """Flip the matching along the path that ends at the free column ``found[1]``."""
    way, column = found
    while column:
        previous = way[column]
        owner[column] = owner[previous]
        column = previous
