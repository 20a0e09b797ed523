"""Krippendorff's alpha with any distance between values (boxes, texts), and the dynamic overlap rule for open kinds.

With values ``v`` grouped in units (an object on an image, a task), ``m_u``
values in unit ``u``, only units with ``m_u >= 2`` counted, and ``n`` their
values in all::

    D_o = (1 / n) Σ_u Σ_{i ≠ j in u} d(v_i, v_j) / (m_u - 1)
    D_e = Σ_{i ≠ j, all pairable values} d(v_i, v_j) / (n (n - 1))
    α   = 1 - D_o / D_e

(Krippendorff 2011, the coincidence form; for the nominal distance it is
:func:`crowd.consensus.agreement.krippendorff_alpha`). ``D_o`` is exact.
``D_e`` needs every pair of values in the data set; past ``max_pairs``
pairs it is the mean distance over ``max_pairs`` pairs drawn uniformly with
the given generator (a documented estimate; its standard error is about
``sd(d) / √max_pairs``). ``nan`` when no unit has two values or ``D_e = 0``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.online import OverlapDecision, decide_overlap

PairDistance = Callable[[IntArray, IntArray], FloatArray]
"""``distance(first, second)[k]``: the distance between values ``first[k]`` and ``second[k]``."""
MAX_PAIRS = 200_000


def distance_alpha(
    unit_of_value: npt.ArrayLike, distance: PairDistance, rng: np.random.Generator, max_pairs: int = MAX_PAIRS
) -> float:
    """Alpha of values ``0 … n-1`` in the units ``unit_of_value[i]``, under ``distance``."""
    units = np.asarray(unit_of_value, dtype=np.intp)
    sizes = np.bincount(units) if units.size else np.zeros(0, dtype=np.intp)
    pairable = np.flatnonzero(sizes[units] >= 2) if units.size else np.zeros(0, dtype=np.intp)
    n = len(pairable)
    if n < 2:
        return float("nan")
    observed = _observed(pairable, units, sizes, distance) / n
    expected = _expected(pairable, distance, rng, max_pairs)
    return float(1.0 - observed / expected) if expected > 0 else float("nan")


def _observed(values: IntArray, units: IntArray, sizes: IntArray, distance: PairDistance) -> float:
    """``Σ_u Σ_{i ≠ j in u} d / (m_u - 1)``: ordered pairs within units, each unordered pair twice."""
    order = values[np.argsort(units[values], kind="stable")]
    grouped = units[order]
    positions = np.arange(len(order))
    partners = np.searchsorted(grouped, grouped, side="right") - positions - 1
    left = np.repeat(positions, partners)
    first_partner = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(len(left)) - first_partner)
    d = distance(order[left], order[right])
    return float(2.0 * np.sum(d / (sizes[grouped[left]] - 1)))


def _expected(values: IntArray, distance: PairDistance, rng: np.random.Generator, max_pairs: int) -> float:
    n = len(values)
    if n * (n - 1) // 2 <= max_pairs:
        first, second = np.triu_indices(n, k=1)
    else:
        first = rng.integers(0, n, max_pairs)
        second = (first + rng.integers(1, n, max_pairs)) % n  # uniform over the other n - 1 values
    return float(np.mean(distance(values[first], values[second])))


def decide_stable_overlap(
    stability: float, answers: int, min_overlap: int, max_overlap: int, stability_target: float, target_overlap: int
) -> OverlapDecision:
    """:func:`crowd.consensus.online.decide_overlap` on the stability of a text, spans or boxes consensus.

    Complete at ``max_overlap`` answers, or from ``min_overlap`` on once the
    probability that one more answer changes the consensus is at most
    ``1 - stability_target``; otherwise ask for one more answer.
    """
    return decide_overlap(np.array([stability]), answers, min_overlap, max_overlap, stability_target, target_overlap)
