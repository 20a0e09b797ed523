"""How the answers are laid out in memory so that each EM step is a few array operations.

Both EM steps sum per-answer rows per key: the E-step sums log-likelihood
rows per task, the M-step sums posterior rows per (worker, label) cell. The
answers are sorted once per fit, by key, and the summation order is fixed by
that sort, so the results do not depend on the order of the input rows.

Two ways to sum rows per key, picked per key space by cost:

* :class:`Runs` — one ``np.add.reduceat`` over the runs of equal keys. Cheap
  per row but ~80 ns per run: good for few, long runs (cells).
* :class:`Slabs` — keys with the same run length ``c`` form a group whose
  rows are stored rank-major (the first row of every key, then the second
  row of every key...), so the group's sums are ``c`` additions of contiguous
  ``n_keys × K`` slabs. One Python step per distinct length: good for many
  short runs of few distinct lengths (tasks), where it halves the E-step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray

RUNS_PER_SLAB_GROUP = 30
"""Slabs pay a few µs per group, reduceat ~0.1 µs per run; measured, slabs win above ~30 runs per group."""


@dataclass(frozen=True)
class Runs:
    """Sums over runs of equal keys with one ``np.add.reduceat``; rows stay in key order."""

    order: IntArray
    starts: IntArray
    keys: IntArray
    n_keys: int

    def sums(self, rows: FloatArray) -> FloatArray:
        """Sum ``rows`` (in ``order``) per key; keys without rows get zeros."""
        totals = np.zeros((self.n_keys, rows.shape[1]))
        if len(self.starts):
            totals[self.keys] = np.add.reduceat(rows, self.starts, axis=0)
        return totals


@dataclass(frozen=True)
class Slabs:
    """Sums as whole-slab additions; ``order`` maps slab position -> position in key order."""

    order: IntArray
    groups: tuple[tuple[int, int, int], ...]
    keys: IntArray
    n_keys: int

    def sums(self, rows: FloatArray) -> FloatArray:
        """Sum ``rows`` (in ``order``) per key; keys without rows get zeros."""
        totals = np.zeros((self.n_keys, rows.shape[1]))
        parts = [rows[a:b].reshape(c, -1, rows.shape[1]).sum(axis=0) for a, b, c in self.groups]
        if parts:
            totals[self.keys] = np.concatenate(parts)
        return totals


def key_sums(sorted_keys: IntArray, n_keys: int) -> Runs | Slabs:
    """The cheaper summation plan for rows whose keys are ``sorted_keys`` (ascending)."""
    starts = np.flatnonzero(np.diff(sorted_keys, prepend=-1))
    lengths = np.diff(starts, append=len(sorted_keys))
    distinct_lengths = np.flatnonzero(np.bincount(lengths)) if len(lengths) else lengths
    if len(starts) < RUNS_PER_SLAB_GROUP * max(len(distinct_lengths), 1):
        return Runs(np.arange(len(sorted_keys)), starts, sorted_keys[starts], n_keys)
    return _slabs(sorted_keys[starts], starts, lengths, distinct_lengths, n_keys)


def _slabs(keys: IntArray, starts: IntArray, lengths: IntArray, distinct_lengths: IntArray, n_keys: int) -> Slabs:
    """Place row ``r`` of the ``j``-th key of length ``c`` at ``group_start(c) + r · n_c + j``.

    Per group, the positions in key order are ``starts[j] + r``: an outer sum
    of the group's run starts and ``0..c-1``, raveled rank-major.
    """
    by_length = _stable_argsort(lengths, int(distinct_lengths[-1]) + 1)
    bounds = [*np.searchsorted(lengths[by_length], distinct_lengths).tolist(), len(lengths)]
    parts, groups, position = [], [], 0
    for c, (first, last) in zip(distinct_lengths.tolist(), itertools.pairwise(bounds), strict=True):
        parts.append((starts[by_length[first:last]] + np.arange(c)[:, np.newaxis]).ravel())
        groups.append((position, position + c * (last - first), c))
        position += c * (last - first)
    return Slabs(np.concatenate(parts), tuple(groups), keys[by_length], n_keys)


@dataclass(frozen=True)
class AnswerLayout:
    """The answers laid out twice, once per fit.

    A *cell* is a (worker, label) pair, coded ``worker * K + label``. The
    E-step sums per task over answers sorted by (task, cell); the M-step sums
    per cell over answers sorted by (cell, task).
    """

    n_tasks: int
    n_workers: int
    n_classes: int
    cells_by_task: IntArray
    task_sums: Runs | Slabs
    tasks_by_cell: IntArray
    cell_sums: Runs | Slabs

    @classmethod
    def of(cls, answers: AnswerArrays) -> AnswerLayout:
        n_cells = answers.n_workers * answers.n_classes
        cells = answers.workers * answers.n_classes + answers.labels
        by_task = _order_by_task_then_cell(answers.tasks, answers.n_tasks, cells, n_cells)
        by_cell = by_task[_stable_argsort(cells[by_task], n_cells)]  # ties keep (task) order
        task_sums = key_sums(answers.tasks[by_task], answers.n_tasks)
        cell_sums = key_sums(cells[by_cell], n_cells)
        return cls(
            n_tasks=answers.n_tasks,
            n_workers=answers.n_workers,
            n_classes=answers.n_classes,
            cells_by_task=cells[by_task[task_sums.order]],
            task_sums=task_sums,
            tasks_by_cell=answers.tasks[by_cell[cell_sums.order]],
            cell_sums=cell_sums,
        )

    @property
    def n_answers(self) -> int:
        return len(self.cells_by_task)


def _order_by_task_then_cell(tasks: IntArray, n_tasks: int, cells: IntArray, n_cells: int) -> IntArray:
    """The answers sorted by (task, cell).

    Two stable passes (cells, then tasks) when both fit in 16 bits, where
    numpy sorts by radix; else one sort of the combined key, which is fast on
    task-ordered input.
    """
    if max(n_tasks, n_cells) <= 1 << 16:
        by_cell = _stable_argsort(cells, n_cells)
        return by_cell[_stable_argsort(tasks[by_cell], n_tasks)]
    order: IntArray = np.argsort(tasks * n_cells + cells, kind="stable")
    return order


def _stable_argsort(keys: IntArray, n_keys: int) -> IntArray:
    """Stable argsort; keys narrowed to 8 or 16 bits when they fit, where numpy uses a radix sort."""
    narrow = keys.astype(np.min_scalar_type(max(n_keys - 1, 0)), copy=False)
    order: IntArray = np.argsort(narrow, kind="stable")
    return order
