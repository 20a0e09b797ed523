"""How the answers are laid out in memory so that each EM step is a few array operations.

Both EM steps gather a row per answer and sum the rows per key: the E-step
gathers the log-likelihood column of the answer's (worker, label) *cell* and
sums per task, the M-step gathers the answer's task posterior and sums per
cell. The answers are grouped once per fit by task (in layout order, below),
and sorted by (cell, task position), a canonical order, so the per-cell sums
run in an order that does not depend on the order of the input rows, and
each cell's rows are gathered from ascending addresses (a third faster than
in task-index order). Within a task the answers keep their input order: the
EM loop makes the per-task sums exact instead
(:func:`crowd.consensus.em.exact_terms`), which costs less than a third sort.
The fit thus does not depend on the order of the input rows, bit for bit.

Tasks are renumbered once per fit into *layout order*: tasks without answers
first, then tasks grouped by their number of answers. The EM loop keeps task
rows in that order, so the E-step writes the sums of each block of tasks
straight into a contiguous slice of its output, with no scatter;
:meth:`AnswerLayout.arrange` and :meth:`AnswerLayout.restore` convert at the
edges.

The rows are gathered through one scratch array of at most about
:data:`SCRATCH_BYTES`, a chunk of consecutive blocks at a time. Kept that
small, the scratch is served from memory the allocator already holds: a
larger one is mapped afresh for every fit, and on a virtual machine each new
4 KiB page costs a page fault of several microseconds — measured, a quarter
of a 90k-answer fit. A block of tasks is summed one of two ways:

* slab — ``c`` answers per task, rows stored rank-major (the first answer
  of every task of the block, then the second...), so the block's sums are
  ``c`` additions of contiguous ``n_tasks × K`` slabs;
* runs — one ``np.add.reduceat`` over the rows of tasks of rare lengths
  (fewer than :data:`RUNS_PER_SLAB_GROUP` tasks share them): ~0.1 µs per run
  where a slab costs a few µs.

Cells are summed as runs, a scratch-full at a time; a run cut by a chunk
boundary is added up from its parts. :mod:`crowd.consensus.sums` binds both
sums to the scratch once per fit.

The layout's own temporaries are kept few and narrow (cells in 16 bits where
the radix sort takes them, label counts in the smallest type): what a fit
allocates beyond its inputs is what the allocator must find, or fault in,
at every fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray
from crowd.consensus.ordering import group, inverse, narrow_type, stable_argsort
from crowd.consensus.sums import CellSums, TaskSums

RUNS_PER_SLAB_GROUP = 30
"""A slab costs a few µs, a run ~0.1 µs: lengths shared by fewer tasks than this are summed as runs."""
SCRATCH_BYTES = 1 << 20
"""Size of the per-answer rows gathered at once (a longer single task gets a scratch of its own size)."""
_NO_RUNS = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True)
class TaskBlock:
    """Rows ``[first_row, last_row)`` hold the answers of tasks ``[first_task, last_task)`` (layout order).

    ``per_task > 0``: a slab, each task has that many answers, rank-major.
    ``per_task == 0``: runs, task ``first_task + j`` starting at row
    ``first_row + starts[j]``.
    """

    first_row: int
    last_row: int
    first_task: int
    last_task: int
    per_task: int
    starts: IntArray


@dataclass(frozen=True)
class TaskChunk:
    """Consecutive task blocks, rows ``[first_row, last_row)``, gathered at once."""

    first_row: int
    last_row: int
    blocks: tuple[TaskBlock, ...]


@dataclass(frozen=True)
class CellBlock:
    """Rows ``[first_row, last_row)`` in (cell, task) order: runs ``[first_run, last_run)`` (runs of answered
    cells, numbered in cell order) starting at ``starts`` (relative); ``continued`` if the first run began in
    the block before."""

    first_row: int
    last_row: int
    first_run: int
    last_run: int
    starts: IntArray
    continued: bool


@dataclass(frozen=True)
class AnswerLayout:
    """The answers laid out twice, once per fit, with tasks in layout order.

    A *cell* is a (worker, label) pair, coded ``label * n_workers + worker``
    (label-major, so that per-cell tables split into one contiguous
    ``workers × K`` slab per label).
    ``task_order[p]`` is the task at layout position ``p`` and
    ``task_position`` its inverse; the first ``empty`` positions have no
    answers. ``label_counts[p, l]`` is the number of answers ``l`` the task at
    position ``p`` got (its majority votes). ``cells_by_task`` is each
    answer's cell, in task-block order (within a task, in input order);
    ``tasks_by_cell`` each answer's task position, sorted by (cell, position).
    ``run_of_cell[c]`` numbers the answered cells in order; unanswered cells
    get the number of runs.
    """

    n_tasks: int
    n_workers: int
    n_classes: int
    task_order: IntArray
    task_position: IntArray
    answers_per_task: IntArray
    label_counts: IntArray
    empty: int
    cells_by_task: IntArray
    task_chunks: tuple[TaskChunk, ...]
    tasks_by_cell: IntArray
    cell_blocks: tuple[CellBlock, ...]
    run_of_cell: IntArray

    @classmethod
    def of(cls, answers: AnswerArrays) -> AnswerLayout:
        n_tasks, n_cells = answers.n_tasks, answers.n_workers * answers.n_classes
        block_rows = _block_rows(answers.n_classes)
        label_counts = _label_counts(answers)
        counts = _row_totals(label_counts)
        task_order, task_blocks = _task_plan(counts, block_rows)
        answers_per_task = np.take(counts, task_order)
        position_cells = np.take(_cells(answers), _by_position(answers.tasks, counts, task_order, answers_per_task))
        cell_counts = np.bincount(position_cells, minlength=n_cells)
        answered = cell_counts > 0
        n_runs = int(np.count_nonzero(answered))
        return cls(
            n_tasks=n_tasks,
            n_workers=answers.n_workers,
            n_classes=answers.n_classes,
            task_order=task_order,
            task_position=inverse(task_order),
            answers_per_task=answers_per_task,
            label_counts=_compact(np.take(label_counts, task_order, axis=0), answers_per_task),
            empty=int(np.count_nonzero(counts == 0)),
            cells_by_task=_rank_major(position_cells, task_blocks),
            task_chunks=_chunks(task_blocks, block_rows),
            tasks_by_cell=_tasks_by_cell(position_cells, n_cells, answers_per_task),
            cell_blocks=_cell_blocks(cell_counts, block_rows),
            run_of_cell=np.where(answered, np.cumsum(answered) - 1, n_runs),
        )

    @property
    def n_answers(self) -> int:
        return len(self.cells_by_task)

    @property
    def n_cells(self) -> int:
        return self.n_workers * self.n_classes

    @property
    def max_answers(self) -> int:
        """The most answers any task has: the most terms a per-task sum adds."""
        return int(self.answers_per_task.max(initial=0))

    @property
    def task_blocks(self) -> tuple[TaskBlock, ...]:
        return tuple(block for chunk in self.task_chunks for block in chunk.blocks)

    def scratch(self) -> FloatArray:
        """Room for the gathered rows of the largest chunk."""
        rows = [c.last_row - c.first_row for c in self.task_chunks] + [
            b.last_row - b.first_row for b in self.cell_blocks
        ]
        return np.empty((max(rows, default=0), self.n_classes))

    def task_totals(self, table: FloatArray, scratch: FloatArray) -> FloatArray:
        """``Σ_{answers (i, w, l)} table[l * n_workers + w]`` for every task ``i``, in layout order (a fresh array)."""
        return TaskSums.of(self, scratch)(table)

    def cell_totals(self, per_task: FloatArray, scratch: FloatArray) -> FloatArray:
        """``Σ_{answers (i, w, l)} per_task[i]`` for every cell ``l * n_workers + w``; ``per_task`` in layout order."""
        return CellSums.of(self, scratch)(per_task)

    def arrange(self, per_task: FloatArray) -> FloatArray:
        """Rows indexed by task -> rows in layout order."""
        arranged: FloatArray = np.take(per_task, self.task_order, axis=0)
        return arranged

    def restore(self, per_position: FloatArray) -> FloatArray:
        """Rows in layout order -> rows indexed by task."""
        restored: FloatArray = np.take(per_position, self.task_position, axis=0)
        return restored


def _block_rows(n_classes: int) -> int:
    return max(SCRATCH_BYTES // (8 * max(n_classes, 1)), 1)


def _label_counts(answers: AnswerArrays) -> IntArray:
    """``n_tasks × K``: how many answers of each label every task got (one count for both the plan and the votes)."""
    keys = np.multiply(answers.tasks, answers.n_classes)
    keys += answers.labels
    counts = np.bincount(keys, minlength=answers.n_tasks * answers.n_classes)
    by_task: IntArray = counts.reshape(answers.n_tasks, answers.n_classes)
    return by_task


def _compact(label_counts: IntArray, answers_per_task: IntArray) -> IntArray:
    """The label counts in the smallest type that holds them: the layout keeps them for the whole fit, where only
    the majority vote reads them."""
    compact: IntArray = label_counts.astype(np.min_scalar_type(int(answers_per_task.max(initial=0))))
    return compact


def _row_totals(table: IntArray) -> IntArray:
    """``table.sum(axis=1)`` as column additions: numpy reduces a short last axis several times slower."""
    if not table.shape[1]:
        return np.zeros(len(table), dtype=np.intp)
    totals: IntArray = reduce(np.add, table.T)
    return totals


def _chunks(blocks: tuple[TaskBlock, ...], block_rows: int) -> tuple[TaskChunk, ...]:
    """Consecutive blocks grouped while their rows fit in ``block_rows``."""
    chunks: list[TaskChunk] = []
    group: list[TaskBlock] = []
    for block in blocks:
        if group and block.last_row - group[0].first_row > block_rows:
            chunks.append(TaskChunk(group[0].first_row, group[-1].last_row, tuple(group)))
            group = []
        group.append(block)
    if group:
        chunks.append(TaskChunk(group[0].first_row, group[-1].last_row, tuple(group)))
    return tuple(chunks)


def _task_plan(counts: IntArray, block_rows: int) -> tuple[IntArray, tuple[TaskBlock, ...]]:
    """Layout order and its task blocks.

    Layout order: tasks without answers, then the slab lengths, then the
    tasks of rare lengths (runs); by task index within each. Slab tasks of
    one length are cut into blocks of at most ``block_rows`` rows, runs too
    (a task longer than that has a block to itself).
    """
    tasks_per_length = np.bincount(counts, minlength=1)
    lengths = np.flatnonzero(tasks_per_length)
    as_slab = (lengths > 0) & (tasks_per_length[lengths] >= RUNS_PER_SLAB_GROUP)
    slab_lengths, run_lengths = lengths[as_slab], lengths[~as_slab & (lengths > 0)]
    length_group = np.zeros(len(tasks_per_length), dtype=np.intp)  # 0 empty, 1.. slab lengths, last runs
    length_group[slab_lengths] = np.arange(1, len(slab_lengths) + 1)
    length_group[run_lengths] = len(slab_lengths) + 1
    task_order = stable_argsort(np.take(length_group, counts), len(slab_lengths) + 2)
    per_task, sizes = _slab_blocks(slab_lengths, tasks_per_length[slab_lengths], block_rows)
    rows = per_task * sizes
    first_rows, first_tasks = np.cumsum(rows) - rows, tasks_per_length[0] + np.cumsum(sizes) - sizes
    blocks = [
        TaskBlock(row, row + n_rows, task, task + size, c, _NO_RUNS)
        for row, n_rows, task, size, c in zip(
            first_rows.tolist(), rows.tolist(), first_tasks.tolist(), sizes.tolist(), per_task.tolist(), strict=True
        )
    ]
    first_run_task = int(tasks_per_length[0] + sizes.sum())
    run_counts = np.take(counts, task_order[first_run_task:])
    blocks += _run_blocks(run_counts, int(rows.sum()), first_run_task, block_rows)
    return task_order, tuple(blocks)


def _cells(answers: AnswerArrays) -> IntArray:
    """Each answer's cell ``label * n_workers + worker``, in the narrowest type the radix sort takes (if any).

    Every cell is below ``n_cells``, so the arithmetic never overflows the
    narrow type, and runs on arrays a quarter the size.
    """
    cell_type = narrow_type(answers.n_workers * answers.n_classes)
    cells = answers.labels.astype(cell_type)
    if answers.n_classes > 1:  # with one class every label is 0, and n_workers alone may not fit the type
        cells *= cell_type.type(answers.n_workers)
    cells += answers.workers.astype(cell_type)
    return cells


def _by_position(tasks: IntArray, counts: IntArray, task_order: IntArray, answers_per_task: IntArray) -> IntArray:
    """The answers grouped by the layout position of their task; within a task, in input order."""
    by_task = group(tasks, len(counts))
    starts = np.cumsum(counts) - counts  # where each task's answers start in by_task
    offsets = np.take(starts, task_order)
    offsets -= np.cumsum(answers_per_task) - answers_per_task  # ... less where they start grouped by position
    gather = np.repeat(offsets, answers_per_task)
    gather += np.arange(len(gather))
    by_position: IntArray = np.take(by_task, gather)
    return by_position


def _rank_major(by_position: IntArray, blocks: tuple[TaskBlock, ...]) -> IntArray:
    """Values grouped by position laid out in block order: a slab block's ``m × c`` rows transposed to rank-major."""
    laid_out = np.empty(len(by_position), dtype=np.intp)
    for block in blocks:
        part = by_position[block.first_row : block.last_row]
        if block.per_task:
            n_tasks = block.last_task - block.first_task
            rows = laid_out[block.first_row : block.last_row].reshape(block.per_task, n_tasks)
            np.copyto(rows, part.reshape(n_tasks, block.per_task).T)
        else:
            laid_out[block.first_row : block.last_row] = part
    return laid_out


def _tasks_by_cell(position_cells: IntArray, n_cells: int, answers_per_task: IntArray) -> IntArray:
    """Each answer's task position, sorted by (cell, position).

    ``position_cells`` lists the cells in position order and the sort is
    stable, so ties keep it: a canonical order, and within a cell the
    M-step gathers its rows from ascending addresses.
    """
    by_cell = stable_argsort(position_cells, n_cells)
    n_tasks = len(answers_per_task)
    positions = np.repeat(np.arange(n_tasks, dtype=narrow_type(n_tasks)), answers_per_task)
    tasks_by_cell: IntArray = np.take(positions, by_cell).astype(np.intp, copy=False)
    return tasks_by_cell


def _slab_blocks(lengths: IntArray, tasks: IntArray, block_rows: int) -> tuple[IntArray, IntArray]:
    """Answers per task and tasks of each slab block: each length's tasks cut into blocks of at most ``block_rows``."""
    per_block = np.maximum(block_rows // np.maximum(lengths, 1), 1)
    n_blocks = -(-tasks // per_block)
    sizes = np.repeat(per_block, n_blocks)
    last = np.cumsum(n_blocks) - 1
    sizes[last] = tasks - per_block * (n_blocks - 1)
    return np.repeat(lengths, n_blocks), sizes


def _run_blocks(counts: IntArray, first_row: int, first_task: int, block_rows: int) -> list[TaskBlock]:
    """Run tasks (``counts`` answers each, from layout position ``first_task``) in blocks of at most
    ``block_rows`` rows, at least one task each."""
    bounds = np.cumsum(counts) - counts
    bounds = np.append(bounds, bounds[-1] + counts[-1] if len(counts) else 0)  # task j: rows [bounds[j], bounds[j+1])
    blocks, task = [], 0
    while task < len(counts):
        end = max(int(np.searchsorted(bounds, bounds[task] + block_rows, side="right")) - 1, task + 1)
        rows = (first_row + int(bounds[task]), first_row + int(bounds[end]))
        blocks.append(TaskBlock(*rows, first_task + task, first_task + end, 0, bounds[task:end] - bounds[task]))
        task = end
    return blocks


def _cell_blocks(cell_counts: IntArray, block_rows: int) -> tuple[CellBlock, ...]:
    """Rows in (cell, task) order cut every ``block_rows`` rows, with the runs of each block."""
    lengths = cell_counts[cell_counts > 0]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    n_rows = int(ends[-1]) if len(ends) else 0
    blocks = []
    for first in range(0, n_rows, block_rows):
        last = min(first + block_rows, n_rows)
        first_run, last_run = int(np.searchsorted(ends, first, side="right")), int(np.searchsorted(starts, last))
        relative = np.maximum(starts[first_run:last_run] - first, 0)
        blocks.append(CellBlock(first, last, first_run, last_run, relative, bool(starts[first_run] < first)))
    return tuple(blocks)
