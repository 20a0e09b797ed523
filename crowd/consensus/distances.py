r"""Distances and gold-grading metrics for the answer kinds beyond single choice.

Pure functions over plain values: label sets (``frozenset``), grades
(numbers on an ordinal scale), orders (sequences of item ids) and score
vectors. :mod:`crowd.consensus.agreement` builds Krippendorff's alpha on the
distance matrices made here; the gold policy grades answers with the metrics.

Sets
    ``jaccard(a, b) = |a ∩ b| / |a ∪ b|`` (two empty sets: 1), its distance
    ``1 - jaccard``, exact match, and MASI (Passonneau 2006): ``1 - J · M``
    with ``M`` = 1 for equal sets, 2/3 when one holds the other, 1/3 when they
    only overlap, 0 when disjoint.
Grades
    interval distance ``(a - b)²``; Krippendorff's ordinal distance, which
    measures the gap between two grades by how many values lie between them
    (so it depends on the values' frequencies, see :func:`ordinal_distances`);
    absolute error and "within a tolerance".
Orders and scores
    Kendall's tau-b (ties in either ranking corrected for) and Spearman's rho
    (Pearson's correlation of average ranks); the tau of two orders of the
    same items, for grading a ranking answer against a gold one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray

LabelSet = frozenset[Hashable]
SetDistance = Callable[[LabelSet, LabelSet], float]

_KENDALL_BLOCK = 1 << 20
"""Pairs compared at once by :func:`kendall_tau_b` (rows × n ≤ this): ~8 MiB per temporary."""


# --- sets ----------------------------------------------------------------------------------


def jaccard(a: LabelSet, b: LabelSet) -> float:
    """``|a ∩ b| / |a ∪ b|``; two empty sets agree fully (1)."""
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def jaccard_distance(a: LabelSet, b: LabelSet) -> float:
    """``1 - jaccard(a, b)``: a metric on finite sets."""
    return 1.0 - jaccard(a, b)


def exact_match(a: LabelSet, b: LabelSet) -> float:
    """1 for equal sets, else 0."""
    return 1.0 if a == b else 0.0


def masi_distance(a: LabelSet, b: LabelSet) -> float:
    """MASI distance ``1 - J · M`` (Passonneau 2006); 0 for two empty sets.

    ``M`` rewards the kind of overlap: 1 for equal sets, 2/3 for a subset,
    1/3 for a proper overlap, 0 when disjoint.
    """
    if a == b:
        return 0.0
    common = len(a & b)
    if common == 0:
        return 1.0
    monotonicity = 2.0 / 3.0 if a <= b or b <= a else 1.0 / 3.0
    return 1.0 - common / len(a | b) * monotonicity


def set_distance_matrix(sets: Sequence[LabelSet], distance: SetDistance = masi_distance) -> FloatArray:
    """``D[c, k] = distance(sets[c], sets[k])`` for a list of distinct sets (the categories of alpha)."""
    n = len(sets)
    matrix = np.zeros((n, n))
    for c in range(n):
        for k in range(c + 1, n):
            matrix[c, k] = matrix[k, c] = distance(sets[c], sets[k])
    return matrix


# --- grades --------------------------------------------------------------------------------


def nominal_distances(n_categories: int) -> FloatArray:
    """0 on the diagonal, 1 elsewhere."""
    return 1.0 - np.eye(n_categories)


def interval_distances(values: npt.ArrayLike) -> FloatArray:
    """``(v_c - v_k)²`` between the numeric values of the categories."""
    points = np.asarray(values, dtype=np.float64)
    return np.square(points[:, np.newaxis] - points[np.newaxis, :])


def ordinal_distances(totals: npt.ArrayLike) -> FloatArray:
    """Krippendorff's ordinal distance from the categories' value counts (categories in scale order).

    ``δ_ck = (Σ_{g=c..k} n_g - (n_c + n_k) / 2)²``: the two grades are as far
    apart as the share of all values that lies between them. Works on the
    last axis, so a stack of totals (e.g. bootstrap resamples) gives a stack
    of matrices.
    """
    n = np.asarray(totals, dtype=np.float64)
    cumulative = np.cumsum(n, axis=-1)
    upto = cumulative[..., np.newaxis, :]  # Σ_{g ≤ k} n_g, along k
    before = (cumulative - n)[..., :, np.newaxis]  # Σ_{g < c} n_g, along c
    between = np.abs(upto - before)  # for c ≤ k: Σ_{g=c..k} n_g
    lower = np.tril(np.ones(n.shape[-1], dtype=bool), -1)
    between = np.where(lower, np.swapaxes(between, -1, -2), between)  # symmetric
    half = (n[..., :, np.newaxis] + n[..., np.newaxis, :]) / 2.0
    return np.square(between - half)


def absolute_error(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> FloatArray:
    """``|predicted - truth|``, elementwise."""
    error: FloatArray = np.abs(np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64))
    return error


def within_tolerance(answer: float, truth: float, tolerance: float = 0.0) -> bool:
    """Whether a grade is at most ``tolerance`` away from the gold grade."""
    return abs(answer - truth) <= tolerance + 1e-12


# --- orders and scores ---------------------------------------------------------------------


def average_ranks(values: npt.ArrayLike) -> FloatArray:
    """Ranks 1..n of ``values`` ascending, ties sharing the mean of their ranks."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, group, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(group, weights=ranks)
    mean_ranks: FloatArray = (sums / counts)[group]
    return mean_ranks


def spearman_rho(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks; ``nan`` if either side is constant."""
    first, second = average_ranks(x), average_ranks(y)
    if len(first) != len(second):
        raise ValueError("x and y must have the same length")
    first, second = first - first.mean(), second - second.mean()
    scale = math.sqrt(float(first @ first) * float(second @ second))
    return math.nan if scale == 0 else float(first @ second) / scale


def kendall_tau_b(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Kendall's tau-b: ``(C - D) / √((n₀ - n₁)(n₀ - n₂))``, with ties in ``x`` (``n₁`` pairs) and ``y`` (``n₂``).

    ``n₀ = n(n-1)/2``; a pair tied in either ranking is neither concordant nor
    discordant. ``nan`` when either ranking is all ties. Exact, in
    ``O(n²)`` comparisons done in bounded blocks (``n`` up to tens of thousands).
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("x and y must be 1-D and of the same length")
    n = len(a)
    balance = 0.0
    rows = max(1, _KENDALL_BLOCK // max(n, 1))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        sign_a = np.sign(a[start:stop, np.newaxis] - a[np.newaxis, :])
        sign_b = np.sign(b[start:stop, np.newaxis] - b[np.newaxis, :])
        balance += float(np.einsum("ij,ij->", sign_a, sign_b))  # each unordered pair counted twice
    pairs = n * (n - 1) / 2.0
    denominator = math.sqrt((pairs - _tied_pairs(a)) * (pairs - _tied_pairs(b)))
    return math.nan if denominator == 0 else balance / 2.0 / denominator


def _tied_pairs(values: FloatArray) -> float:
    """``Σ t(t - 1) / 2`` over groups of ``t`` equal values."""
    counts = np.unique(values, return_counts=True)[1].astype(np.float64)
    return float((counts * (counts - 1)).sum() / 2.0)


def order_kendall_tau(answer: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Kendall's tau between two orders (best first) of the same items; 1 for equal orders, -1 reversed."""
    if len(answer) != len(gold) or set(answer) != set(gold) or len(set(gold)) != len(gold):
        raise ValueError("both orders must list the same distinct items")
    position = {item: rank for rank, item in enumerate(gold)}
    return kendall_tau_b(np.arange(len(answer)), [position[item] for item in answer])
