"""The layout's per-task and per-cell sums equal a plain scatter-add, whatever plan each key gets."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus import layout as layout_module
from crowd.consensus.encoding import answer_arrays
from crowd.consensus.layout import RUNS_PER_SLAB_GROUP, AnswerLayout, TaskBlock, _group, _stable_argsort


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
    np.testing.assert_array_equal(first.tasks_by_cell, second.tasks_by_cell)  # (cell, task): canonical
    # Within a task the answers keep their input order; sums of exactly representable terms agree bit for bit.
    table = np.random.default_rng(1).integers(-50, 0, (21, 3)) / 1024.0
    np.testing.assert_array_equal(
        first.task_totals(table, first.scratch()), second.task_totals(table, second.scratch())
    )


@pytest.mark.parametrize("n_keys", [1, 200, 1 << 16, (1 << 16) + 1, 1 << 33])
def test_stable_argsort_by_digits(n_keys: int) -> None:
    keys = np.random.default_rng(n_keys).integers(0, n_keys, 5000)
    np.testing.assert_array_equal(_stable_argsort(keys, n_keys), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("disorder", [0, 3, 5000])
def test_grouping_is_a_stable_argsort_whatever_the_order(disorder: int) -> None:
    rng = np.random.default_rng(disorder)
    keys = np.sort(rng.integers(0, 300, 5000))
    swaps = rng.integers(0, len(keys), (disorder, 2))
    for i, j in swaps:
        keys[i], keys[j] = keys[j], keys[i]
    np.testing.assert_array_equal(_group(keys, 300), np.argsort(keys, kind="stable"))
