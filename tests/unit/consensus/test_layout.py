"""The layout's per-task and per-cell sums equal a plain scatter-add, whatever plan each key gets."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus import layout as layout_module
from crowd.consensus.encoding import answer_arrays
from crowd.consensus.layout import RUNS_PER_SLAB_GROUP, AnswerLayout, TaskBlock


def skewed_answers(seed: int, n_tasks: int, n_workers: int, n_classes: int, n_answers: int) -> tuple[np.ndarray, ...]:
    """Task lengths from long-tailed to flat, so that both slab groups and runs occur."""
    rng = np.random.default_rng(seed)
    tasks = (rng.random(n_answers) ** (1 + seed % 3) * n_tasks).astype(np.intp)
    return tasks, rng.integers(0, n_workers, n_answers), rng.integers(0, n_classes, n_answers)


@pytest.mark.parametrize("scratch_bytes", [layout_module.SCRATCH_BYTES, 8 * 3 * 50])  # the default, and 50 rows
@pytest.mark.parametrize(
    ("seed", "n_tasks", "n_classes", "n_answers"),
    [(0, 300, 3, 3000), (1, 2000, 2, 9000), (2, 40, 3, 2400), (3, 5, 4, 5)],
)
def test_sums_match_a_scatter_add(
    seed: int, n_tasks: int, n_classes: int, n_answers: int, scratch_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout_module, "SCRATCH_BYTES", scratch_bytes)
    n_workers = 12
    tasks, workers, labels = skewed_answers(seed, n_tasks, n_workers, n_classes, n_answers)
    layout = AnswerLayout.of(answer_arrays(tasks, workers, labels, n_tasks + 2, n_workers, n_classes))  # 2 empty
    rng = np.random.default_rng(seed)
    cells = labels * n_workers + workers
    table = rng.random((n_workers * n_classes, n_classes))
    expected = np.zeros((n_tasks + 2, n_classes))
    np.add.at(expected, tasks, table[cells])
    np.testing.assert_allclose(layout.restore(layout.task_totals(table, layout.scratch())), expected)
    per_task = rng.random((n_tasks + 2, n_classes))
    expected = np.zeros((n_workers * n_classes, n_classes))
    np.add.at(expected, cells, per_task[tasks])
    np.testing.assert_allclose(layout.cell_totals(layout.arrange(per_task), layout.scratch()), expected)


def test_layout_order_puts_empty_tasks_first_then_groups() -> None:
    # 40 tasks with 2 answers (a slab group), 3 tasks with 5 answers (runs), task 43 without answers
    tasks = np.concatenate([np.repeat(np.arange(40), 2), np.repeat([40, 41, 42], 5)])
    layout = AnswerLayout.of(answer_arrays(tasks, np.zeros_like(tasks), np.zeros_like(tasks), 44, 1, 2))
    assert layout.task_order[0] == 43
    assert layout.empty == 1
    slab, runs = layout.task_blocks
    assert (slab.first_row, slab.last_row, slab.first_task, slab.last_task, slab.per_task) == (0, 80, 1, 41, 2)
    assert runs == TaskBlock(80, 95, 41, 44, 0, runs.starts)
    np.testing.assert_array_equal(runs.starts, [0, 5, 10])
    np.testing.assert_array_equal(layout.answers_per_task, [0] + [2] * 40 + [5] * 3)
    assert 40 >= RUNS_PER_SLAB_GROUP > 3
    np.testing.assert_array_equal(layout.restore(layout.arrange(np.arange(44.0)[:, None])), np.arange(44.0)[:, None])


def test_row_order_does_not_change_the_sums() -> None:
    tasks, workers, labels = skewed_answers(5, 100, 7, 3, 700)
    order = np.random.default_rng(0).permutation(len(tasks))
    first = AnswerLayout.of(answer_arrays(tasks, workers, labels, 100, 7, 3))
    second = AnswerLayout.of(answer_arrays(tasks[order], workers[order], labels[order], 100, 7, 3))
    np.testing.assert_array_equal(first.task_order, second.task_order)
    np.testing.assert_array_equal(first.tasks_by_cell, second.tasks_by_cell)  # (cell, position): canonical
    # Within a task the answers keep their input order; sums of exactly representable terms agree bit for bit.
    table = np.random.default_rng(1).integers(-50, 0, (21, 3)) / 1024.0
    np.testing.assert_array_equal(
        first.task_totals(table, first.scratch()), second.task_totals(table, second.scratch())
    )


def test_cells_run_in_position_order() -> None:
    tasks, workers, labels = skewed_answers(6, 80, 9, 3, 900)
    layout = AnswerLayout.of(answer_arrays(tasks, workers, labels, 80, 9, 3))
    # Sorted by (cell, task position): within a cell the M-step reads its rows from ascending addresses.
    key = np.sort(labels * 9 + workers) * 80 + layout.tasks_by_cell
    assert np.all(np.diff(key) >= 0)
    pairs = np.sort(key)
    np.testing.assert_array_equal(pairs, np.sort((labels * 9 + workers) * 80 + layout.task_position[tasks]))


@pytest.mark.parametrize(
    ("n_workers", "n_classes", "dtype"), [(100, 2, np.uint8), (825, 4, np.uint16), (1 << 16, 1, np.uint16)]
)
def test_cells_are_narrow_where_the_radix_sort_takes_them(n_workers: int, n_classes: int, dtype: type) -> None:
    rng = np.random.default_rng(n_workers)
    workers = np.concatenate([[n_workers - 1], rng.integers(0, n_workers, 499)])
    labels = np.concatenate([[n_classes - 1], rng.integers(0, n_classes, 499)])
    answers = answer_arrays(rng.integers(0, 50, 500), workers, labels, 50, n_workers, n_classes)
    cells = layout_module._cells(answers)
    assert cells.dtype == dtype
    np.testing.assert_array_equal(cells, labels * n_workers + workers)
    wide = layout_module._cells(answer_arrays([0, 1], [0, 1 << 15], [0, 2], 2, 1 << 15 | 1, 3))
    assert wide.dtype == np.intp
    np.testing.assert_array_equal(wide, [0, 2 * (1 << 15 | 1) + (1 << 15)])


def test_label_counts_are_the_votes_in_layout_order() -> None:
    tasks, workers, labels = skewed_answers(7, 60, 5, 3, 400)
    layout = AnswerLayout.of(answer_arrays(tasks, workers, labels, 62, 5, 3))
    votes = np.zeros((62, 3), dtype=np.intp)
    np.add.at(votes, (tasks, labels), 1)
    np.testing.assert_array_equal(layout.restore(layout.label_counts), votes)
    assert layout.label_counts.dtype == np.min_scalar_type(layout.max_answers)
