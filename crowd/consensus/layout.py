"""How the answers are laid out in memory so that each EM step is a few array operations.

Both EM steps gather a row per answer and sum the rows per key: the E-step
gathers the log-likelihood column of the answer's (worker, label) *cell* and
sums per task, the M-step gathers the answer's task posterior and sums per
cell. The answers are grouped once per fit by task, and sorted by (cell,
task), a canonical order, so the per-cell sums run in an order that does not
depend on the order of the input rows. Within a task the answers keep their
input order: the EM loop makes the per-task sums exact instead
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
boundary is added up from its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray

RUNS_PER_SLAB_GROUP = 30
"""A slab costs a few µs, a run ~0.1 µs: lengths shared by fewer tasks than this are summed as runs."""
SCRATCH_BYTES = 1 << 20
"""Size of the per-answer rows gathered at once (a longer single task gets a scratch of its own size)."""
RADIX_BITS = 16
"""numpy's stable argsort is a radix sort for keys of at most 16 bits; wider keys are sorted digit by digit."""
NEARLY_SORTED = 64
"""Keys with fewer than one descent per this many are sorted by timsort (runs found in linear time), else by radix."""
_NO_RUNS = np.zeros(0, dtype=np.intp)


def run_sums(rows: FloatArray, starts: IntArray) -> FloatArray:
    """``np.add.reduceat(rows, starts, axis=0)`` for C-contiguous rows.

    reduceat runs one inner loop per column of each run; an even number of
    columns is summed as complex pairs (complex addition adds real and
    imaginary parts apart, in the same order), which halves those loops.
    """
    if rows.shape[1] % 2 == 0 and rows.shape[1] and rows.flags.c_contiguous:
        paired: FloatArray = np.add.reduceat(rows.view(np.complex128), starts, axis=0).view(np.float64)
        return paired
    totals: FloatArray = np.add.reduceat(rows, starts, axis=0)
    return totals


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

    def sum_into(self, rows: FloatArray, out: FloatArray) -> None:
        """Write the sums of ``rows`` (this block's, gathered) into ``out[first_task:last_task]``."""
        if self.per_task:
            slab = rows.reshape(self.per_task, self.last_task - self.first_task, rows.shape[1])
            np.add.reduce(slab, axis=0, out=out[self.first_task : self.last_task])
        else:
            out[self.first_task : self.last_task] = run_sums(rows, self.starts)


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
    answers. ``cells_by_task`` is each answer's cell, in task-block order
    (within a task, in input order); ``tasks_by_cell`` each answer's task
    position, sorted by (cell, task).
    ``run_of_cell[c]`` numbers the answered cells in order; unanswered cells
    get the number of runs.
    """

    n_tasks: int
    n_workers: int
    n_classes: int
    task_order: IntArray
    task_position: IntArray
    answers_per_task: IntArray
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
        cells = np.multiply(answers.labels, answers.n_workers)
        cells += answers.workers
        by_task = _group(answers.tasks, n_tasks)
        counts = np.bincount(answers.tasks, minlength=n_tasks)
        task_order, task_blocks = _task_plan(counts, block_rows)
        task_position = _inverse(task_order)
        first_answers = np.take(np.cumsum(counts) - counts, task_order)  # of each task, in by_task order
        slab_order = np.take(by_task, _block_gather(task_blocks, first_answers, len(cells)))
        by_cell = _stable_argsort(np.take(_narrow(cells, n_cells), by_task), n_cells)  # ties keep (task) order
        cell_counts = np.bincount(cells, minlength=n_cells)
        answered = cell_counts > 0
        n_runs = int(np.count_nonzero(answered))
        return cls(
            n_tasks=n_tasks,
            n_workers=answers.n_workers,
            n_classes=answers.n_classes,
            task_order=task_order,
            task_position=task_position,
            answers_per_task=np.take(counts, task_order),
            empty=int(np.count_nonzero(counts == 0)),
            cells_by_task=np.take(cells, slab_order),
            task_chunks=_chunks(task_blocks, block_rows),
            tasks_by_cell=np.take(np.repeat(task_position, counts), by_cell),
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
        """``Σ_{answers (i, w, l)} table[l * n_workers + w]`` for every task ``i``, in layout order."""
        out = np.empty((self.n_tasks, table.shape[1]))
        out[: self.empty] = 0.0
        for chunk in self.task_chunks:
            cells = self.cells_by_task[chunk.first_row : chunk.last_row]
            rows = np.take(table, cells, axis=0, out=scratch[: len(cells)], mode="clip")
            for block in chunk.blocks:
                block.sum_into(rows[block.first_row - chunk.first_row : block.last_row - chunk.first_row], out)
        return out

    def cell_totals(self, per_task: FloatArray, scratch: FloatArray) -> FloatArray:
        """``Σ_{answers (i, w, l)} per_task[i]`` for every cell ``l * n_workers + w``; ``per_task`` in layout order."""
        blocks = self.cell_blocks
        n_runs = blocks[-1].last_run if blocks else 0
        if len(blocks) == 1 and n_runs == self.n_cells:  # one block, every cell answered
            rows = np.take(per_task, self.tasks_by_cell, axis=0, out=scratch[: self.n_answers], mode="clip")
            return run_sums(rows, blocks[0].starts)
        runs = np.empty((n_runs + 1, per_task.shape[1]))
        runs[n_runs] = 0.0  # the unanswered cells' row
        for block in blocks:
            tasks = self.tasks_by_cell[block.first_row : block.last_row]
            sums = run_sums(np.take(per_task, tasks, axis=0, out=scratch[: len(tasks)], mode="clip"), block.starts)
            if block.continued:
                sums[0] += runs[block.first_run]
            runs[block.first_run : block.last_run] = sums
        if n_runs == self.n_cells:
            return runs[:n_runs]
        totals: FloatArray = np.take(runs, self.run_of_cell, axis=0)
        return totals

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
    group = np.zeros(len(tasks_per_length), dtype=np.intp)  # per length: 0 empty, 1.. slab lengths, last runs
    group[slab_lengths] = np.arange(1, len(slab_lengths) + 1)
    group[run_lengths] = len(slab_lengths) + 1
    task_order = _stable_argsort(np.take(group, counts), len(slab_lengths) + 2)
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


def _block_gather(blocks: tuple[TaskBlock, ...], first_answers: IntArray, n_answers: int) -> IntArray:
    """For each row in block order, the index of its answer among the answers grouped by task.

    ``first_answers[p]``: that index for the first answer of the task at
    layout position ``p``. Row ``first_row + r · size + j`` of a slab block is
    answer ``r`` of its ``j``-th task; the rows of a run task are its answers
    in order.
    """
    gather = np.empty(n_answers, dtype=np.intp)
    ranks = np.arange(max((block.per_task for block in blocks), default=0), dtype=np.intp)[:, np.newaxis]
    for block in blocks:
        rows = gather[block.first_row : block.last_row]
        firsts = first_answers[block.first_task : block.last_task]
        if block.per_task:
            np.add(firsts, ranks[: block.per_task], out=rows.reshape(block.per_task, len(firsts)))
        else:
            lengths = np.diff(block.starts, append=len(rows))
            np.add(np.repeat(firsts - block.starts, lengths), np.arange(len(rows)), out=rows)
    return gather


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


def _scatter(values: IntArray, positions: IntArray) -> IntArray:
    """``out[positions[i]] = values[i]``."""
    out = np.empty_like(values)
    np.put(out, positions, values)
    return out


def _inverse(permutation: IntArray) -> IntArray:
    return _scatter(np.arange(len(permutation), dtype=np.intp), permutation)


def _group(keys: IntArray, n_keys: int) -> IntArray:
    """A stable argsort for grouping: timsort, linear on input that is already nearly grouped, else radix.

    Task indices are numbered in order of first appearance, so answers that
    arrive grouped by task — the usual export — come sorted, or nearly.
    """
    descents = np.count_nonzero(keys[1:] < keys[:-1])
    if descents * NEARLY_SORTED < len(keys):
        order: IntArray = np.argsort(keys, kind="stable")
        return order
    return _stable_argsort(keys, n_keys)


def _narrow(keys: IntArray, n_keys: int) -> IntArray:
    """``keys`` in the smallest unsigned type that holds ``n_keys`` values, if that is 16 bits or less."""
    if n_keys > 1 << RADIX_BITS:
        return keys
    narrow: IntArray = keys.astype(np.min_scalar_type(max(n_keys - 1, 0)), copy=False)
    return narrow


def _stable_argsort(keys: IntArray, n_keys: int, then: IntArray | None = None) -> IntArray:
    """Stable argsort by radix: one pass per 16-bit digit of the keys (least significant first).

    numpy sorts keys of 8 or 16 bits by radix; wider keys are split into
    16-bit digits, which keeps the cost linear whatever the order of the
    input. With ``then``, returns ``then`` reordered by the sort instead.
    """
    if n_keys <= 1 << RADIX_BITS:
        order: IntArray = np.argsort(_narrow(keys, n_keys), kind="stable")
    else:
        order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        order = _stable_argsort(np.take(keys, order) >> RADIX_BITS, (n_keys - 1 >> RADIX_BITS) + 1, then=order)
    return order if then is None else np.take(then, order)
