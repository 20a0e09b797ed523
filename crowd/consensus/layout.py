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
    distinct_lengths = np.unique(lengths)
    if len(starts) < RUNS_PER_SLAB_GROUP * max(len(distinct_lengths), 1):
        return Runs(np.arange(len(sorted_keys)), starts, sorted_keys[starts], n_keys)
    return _slabs(sorted_keys[starts], lengths, distinct_lengths, n_keys)


def _slabs(keys: IntArray, lengths: IntArray, distinct_lengths: IntArray, n_keys: int) -> Slabs:
    """Place row ``r`` of the ``j``-th key of length ``c`` at ``group_start(c) + r · n_c + j``."""
    by_length = np.argsort(lengths, kind="stable")
    group_keys = np.bincount(lengths)[distinct_lengths]
    group_rows = group_keys * distinct_lengths
    group_start = np.concatenate([[0], np.cumsum(group_rows)[:-1]])
    slot = np.searchsorted(distinct_lengths, lengths)  # each key's group
    index_in_group = np.empty_like(by_length)
    index_in_group[by_length] = np.arange(len(keys)) - np.repeat(np.cumsum(group_keys) - group_keys, group_keys)
    rank = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.repeat(group_start[slot] + index_in_group, lengths) + rank * np.repeat(group_keys[slot], lengths)
    order = np.empty_like(position)
    order[position] = np.arange(len(position))
    bounds = np.concatenate([group_start, [group_start[-1] + group_rows[-1]]]).tolist()
    groups = tuple(zip(bounds[:-1], bounds[1:], distinct_lengths.tolist(), strict=True))
    return Slabs(order, groups, keys[by_length], n_keys)


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
        by_task = np.argsort(answers.tasks * n_cells + cells, kind="stable")  # fast on task-ordered input
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


def _stable_argsort(keys: IntArray, n_keys: int) -> IntArray:
    """Stable argsort; keys narrowed to 8 or 16 bits when they fit, where numpy uses a radix sort."""
    narrow = keys.astype(np.min_scalar_type(max(n_keys - 1, 0)), copy=False)
    order: IntArray = np.argsort(narrow, kind="stable")
    return order
