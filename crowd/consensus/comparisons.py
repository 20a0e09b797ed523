"""Pairwise comparisons and rankings as index arrays: what the Bradley-Terry fit reads.

One answer compares two items: the worker saw ``left`` and ``right`` and
chose one of them or a tie. Answers are grouped into *units*: the answers of
one pairwise task, or those of one implied pair of a ranking task. Every
answer of a unit compares the unit's two items, ``first`` and ``second``
(the task's own order), possibly shown the other way round (``flipped``).

A ranking answer (an order of k items, best first) counts as its
``k (k - 1) / 2`` implied pairs: each earlier item beats each later one. The
list position is not a left/right screen position, so implied pairs carry no
position effect (``positional`` False).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import IntArray

LEFT, RIGHT, TIE = 0, 1, 2
"""Outcome codes of one answer, in screen terms."""
OUTCOMES = ("left", "right", "tie")

BoolArray = npt.NDArray[np.bool_]
Item = TypeVar("Item", bound=Hashable)


@dataclass(frozen=True)
class Comparisons:
    """Answers as parallel arrays, with each unit's two items.

    ``units[a]``, ``workers[a]``, ``left[a]``, ``right[a]``, ``outcomes[a]``
    (:data:`LEFT`, :data:`RIGHT`, :data:`TIE`) and ``positional[a]`` (whether
    left and right were screen positions) describe answer ``a``; unit ``u``
    compares ``first[u]`` with ``second[u]``.
    """

    units: IntArray
    workers: IntArray
    left: IntArray
    right: IntArray
    outcomes: IntArray
    positional: BoolArray
    first: IntArray
    second: IntArray
    n_items: int
    n_workers: int

    @classmethod
    def of(
        cls,
        units: npt.ArrayLike,
        workers: npt.ArrayLike,
        left: npt.ArrayLike,
        right: npt.ArrayLike,
        outcomes: npt.ArrayLike,
        positional: npt.ArrayLike | None = None,
        n_items: int | None = None,
        n_workers: int | None = None,
    ) -> Comparisons:
        """Check the arrays; each unit's ``first``/``second`` are the left/right of its first answer."""
        columns = [_indices(name, values) for name, values in _named(units, workers, left, right, outcomes)]
        unit, worker, left_item, right_item, outcome = columns
        if len({len(column) for column in columns}) > 1:
            raise ValueError("units, workers, left, right and outcomes must have the same length")
        if np.any(left_item == right_item):
            raise ValueError("an answer compares an item with itself")
        if np.any(outcome > TIE):
            raise ValueError("outcomes are 0 (left), 1 (right) or 2 (tie)")
        shown = np.ones(len(unit), dtype=bool) if positional is None else np.asarray(positional, dtype=bool)
        first, second = _unit_items(unit, left_item, right_item)
        return cls(
            units=unit,
            workers=worker,
            left=left_item,
            right=right_item,
            outcomes=outcome,
            positional=shown,
            first=first,
            second=second,
            n_items=_size(n_items, left_item, right_item),
            n_workers=_size(n_workers, worker),
        )

    def __len__(self) -> int:
        return len(self.units)

    @property
    def n_units(self) -> int:
        return len(self.first)

    @property
    def flipped(self) -> BoolArray:
        """Whether each answer showed its unit's ``second`` item on the left."""
        flipped: BoolArray = self.left != self.first[self.units]
        return flipped

    @property
    def has_ties(self) -> bool:
        return bool(np.any(self.outcomes == TIE))


def _named(*columns: npt.ArrayLike) -> Iterable[tuple[str, npt.ArrayLike]]:
    return zip(("units", "workers", "left", "right", "outcomes"), columns, strict=True)


def _indices(name: str, values: npt.ArrayLike) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integer indices")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be non-negative")
    return array.astype(np.intp, copy=False)


def _size(given: int | None, *columns: IntArray) -> int:
    needed = max((int(column.max()) + 1 for column in columns if column.size), default=0)
    if given is None:
        return needed
    if given < needed:
        raise ValueError(f"a size of {given} is smaller than an index {needed - 1} that occurs")
    return given


def _unit_items(units: IntArray, left: IntArray, right: IntArray) -> tuple[IntArray, IntArray]:
    """Each unit's items from its first answer; every answer of a unit must compare the same two items."""
    n_units = int(units.max()) + 1 if units.size else 0
    order = np.argsort(units, kind="stable")
    starts = np.searchsorted(units[order], np.arange(n_units))
    if n_units and np.any(np.bincount(units, minlength=n_units) == 0):
        raise ValueError("unit indices must be 0..n_units-1 with at least one answer each")
    first, second = left[order][starts], right[order][starts]
    same = ((left == first[units]) & (right == second[units])) | ((left == second[units]) & (right == first[units]))
    if not np.all(same):
        raise ValueError("every answer of a unit must compare the unit's two items")
    return first, second


@dataclass(frozen=True)
class RankingPairs:
    """The implied pairs of ranking answers, as rows of :meth:`Comparisons.of` arguments."""

    units: list[int]
    workers: list[int]
    left: list[int]
    right: list[int]
    outcomes: list[int]


def implied_pairs(order: Sequence[Item]) -> list[tuple[Item, Item]]:
    """``(winner, loser)`` for every pair of an order (best first): each item beats every later one."""
    if len(set(order)) != len(order):
        raise ValueError("a ranking lists each item once")
    return [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]


def ranking_comparisons(rankings: Iterable[tuple[int, int, Sequence[int]]]) -> RankingPairs:
    """Rows for ``(task, worker, order)`` ranking answers; one unit per (task, item pair).

    Each unit's items are in ascending index order (``first < second``) and
    so is every answer's ``left``/``right``; the outcome says which won.
    Units are numbered in order of first appearance.
    """
    unit_index: dict[tuple[int, int, int], int] = {}
    rows = RankingPairs([], [], [], [], [])
    for task, worker, order in rankings:
        for winner, loser in implied_pairs(order):
            first, second = min(winner, loser), max(winner, loser)
            rows.units.append(unit_index.setdefault((task, first, second), len(unit_index)))
            rows.workers.append(worker)
            rows.left.append(first)
            rows.right.append(second)
            rows.outcomes.append(LEFT if winner == first else RIGHT)
    return rows


def two_way_units(comparisons: Comparisons) -> BoolArray:
    """Per answer: whether its unit was shown both ways round (positional answers only).

    A position effect is identified only by the same two items shown in both
    orders: if a unit's left item is always the same one, a preference for
    the left side cannot be told apart from that item's strength.
    """
    n = comparisons.n_units
    flipped = comparisons.flipped & comparisons.positional
    straight = ~comparisons.flipped & comparisons.positional
    both = (np.bincount(comparisons.units[flipped], minlength=n) > 0) & (
        np.bincount(comparisons.units[straight], minlength=n) > 0
    )
    mask: BoolArray = both[comparisons.units] & comparisons.positional
    return mask
