"""The two sums of every EM step, bound once per fit: the E-step's per task, the M-step's per cell.

Both gather a row per answer into the fit's scratch and reduce the gathered rows by key
(:mod:`crowd.consensus.layout` says how the answers are laid out for that). Every step
runs the same numpy calls on the same arrays, so the views they work on — the keys of
a chunk, the scratch rows those fill, each block's slab or runs, the output rows each
block writes — are made once, when the sums are bound, and a step is then one
``np.take`` per chunk and one reduction per block, written into outputs allocated once.
Slicing and reshaping inside the EM loop would cost a few µs per call, for some twenty
blocks per step on a 90k-answer set (and the calls go to the array methods, not through
numpy's Python-level wrappers).

Runs are summed with ``np.add.reduceat``, which runs one inner loop per column of each
run; an even number of columns is summed as complex pairs (complex addition adds real
and imaginary parts apart, in the same order), which halves those loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from crowd.consensus.encoding import FloatArray, IntArray

if TYPE_CHECKING:
    from crowd.consensus.layout import AnswerLayout, CellBlock, TaskBlock, TaskChunk

Reduction = tuple[FloatArray, IntArray | None, FloatArray]
"""A block's gathered rows, its run starts (``None``: a slab, ``c × m × K``, rank-major), the output rows it writes."""


def paired(rows: FloatArray) -> FloatArray:
    """``rows`` seen as complex pairs when it has an even, positive number of columns and is C-contiguous."""
    if rows.shape[1] % 2 == 0 and rows.shape[1] and rows.flags.c_contiguous:
        pairs: FloatArray = rows.view(np.complex128)
        return pairs
    return rows


@dataclass(frozen=True)
class TaskGather:
    """One chunk of task blocks: the cells whose rows it gathers, the scratch rows they fill, the blocks' sums."""

    cells: IntArray
    rows: FloatArray
    reductions: tuple[Reduction, ...]

    def run(self, table: FloatArray) -> None:
        table.take(self.cells, axis=0, out=self.rows, mode="clip")
        for rows, starts, out in self.reductions:
            if starts is None:
                np.add.reduce(rows, axis=0, out=out)
            else:
                np.add.reduceat(rows, starts, axis=0, out=out)


@dataclass(frozen=True)
class TaskSums:
    """``Σ_{answers (i, w, l)} table[l * n_workers + w]`` for every task (layout order), written into ``out``.

    ``out`` belongs to the bound sums: each call overwrites it. Its first
    ``empty`` rows, the tasks without answers, stay 0.
    """

    gathers: tuple[TaskGather, ...]
    out: FloatArray

    @classmethod
    def of(cls, layout: AnswerLayout, scratch: FloatArray) -> TaskSums:
        """Bound to ``scratch`` (``K`` columns) and to an ``n_tasks × K`` output of their own."""
        out = np.empty((layout.n_tasks, scratch.shape[1]))
        out[: layout.empty] = 0.0
        return cls(tuple(_task_gather(chunk, layout.cells_by_task, scratch, out) for chunk in layout.task_chunks), out)

    def __call__(self, table: FloatArray) -> FloatArray:
        for gather in self.gathers:
            gather.run(table)
        return self.out


def _task_gather(chunk: TaskChunk, cells_by_task: IntArray, scratch: FloatArray, out: FloatArray) -> TaskGather:
    rows = scratch[: chunk.last_row - chunk.first_row]
    reductions = tuple(
        _task_reduction(block, rows[block.first_row - chunk.first_row : block.last_row - chunk.first_row], out)
        for block in chunk.blocks
    )
    return TaskGather(cells_by_task[chunk.first_row : chunk.last_row], rows, reductions)


def _task_reduction(block: TaskBlock, rows: FloatArray, out: FloatArray) -> Reduction:
    """A slab sums its ``c`` rank slabs (contiguous additions); runs sum by ``reduceat``."""
    totals = out[block.first_task : block.last_task]
    if block.per_task:
        return rows.reshape(block.per_task, len(totals), rows.shape[1]), None, totals
    return paired(rows), block.starts, paired(totals)


@dataclass(frozen=True)
class CellGather:
    """One block of rows in (cell, task) order: the tasks whose rows it gathers, the runs it sums.

    ``continued``: the first run began in the block before, whose part of
    it is already in the first row of ``out`` and is added back.
    """

    tasks: IntArray
    rows: FloatArray
    pairs: FloatArray
    starts: IntArray
    out: FloatArray
    continued: bool

    def run(self, per_task: FloatArray) -> None:
        per_task.take(self.tasks, axis=0, out=self.rows, mode="clip")
        earlier = self.out[0].copy() if self.continued else None
        np.add.reduceat(self.pairs, self.starts, axis=0, out=self.out)
        if earlier is not None:
            self.out[0] += earlier


@dataclass(frozen=True)
class CellSums:
    """``Σ_{answers (i, w, l)} per_task[i]`` for every cell ``l * n_workers + w``, ``per_task`` in layout order.

    The runs of answered cells are summed into ``runs``, whose extra last
    row (0) is the total of every unanswered cell; each call returns a
    fresh ``n_cells × K`` array.
    """

    gathers: tuple[CellGather, ...]
    runs: FloatArray
    run_of_cell: IntArray

    @classmethod
    def of(cls, layout: AnswerLayout, scratch: FloatArray) -> CellSums:
        blocks = layout.cell_blocks
        runs = np.zeros(((blocks[-1].last_run if blocks else 0) + 1, scratch.shape[1]))
        gathers = tuple(_cell_gather(block, layout.tasks_by_cell, scratch, runs) for block in blocks)
        return cls(gathers, runs, layout.run_of_cell)

    def __call__(self, per_task: FloatArray) -> FloatArray:
        for gather in self.gathers:
            gather.run(per_task)
        totals: FloatArray = self.runs.take(self.run_of_cell, axis=0)
        return totals


def _cell_gather(block: CellBlock, tasks_by_cell: IntArray, scratch: FloatArray, runs: FloatArray) -> CellGather:
    rows = scratch[: block.last_row - block.first_row]
    out = paired(runs[block.first_run : block.last_run])
    tasks = tasks_by_cell[block.first_row : block.last_row]
    return CellGather(tasks, rows, paired(rows), block.starts, out, block.continued)
