"""The sums bound once per fit: reused buffers, fresh results where callers keep them, runs cut by blocks."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus import layout as layout_module
from crowd.consensus.encoding import answer_arrays
from crowd.consensus.layout import AnswerLayout
from crowd.consensus.sums import CellSums, TaskSums


def laid_out(seed: int, n_tasks: int = 120, n_workers: int = 6, n_classes: int = 4) -> tuple[AnswerLayout, np.ndarray]:
    rng = np.random.default_rng(seed)
    tasks = (rng.random(1500) ** 2 * n_tasks).astype(np.intp)
    workers, labels = rng.integers(0, n_workers, 1500), rng.integers(0, n_classes, 1500)
    layout = AnswerLayout.of(answer_arrays(tasks, workers, labels, n_tasks + 3, n_workers, n_classes))
    return layout, labels * n_workers + workers


def test_task_sums_overwrite_their_buffer_and_keep_empty_tasks_at_zero() -> None:
    layout, _ = laid_out(0)
    sums = TaskSums.of(layout, layout.scratch())
    rng = np.random.default_rng(1)
    first, second = rng.random((layout.n_cells, 4)), rng.random((layout.n_cells, 4))
    assert sums(first) is sums.out
    expected = layout.task_totals(second, layout.scratch())
    np.testing.assert_array_equal(sums(second), expected)
    np.testing.assert_array_equal(sums.out[: layout.empty], 0.0)
    assert layout.empty == 3


@pytest.mark.parametrize(("scratch_bytes", "cut"), [(layout_module.SCRATCH_BYTES, False), (8 * 4 * 40, True)])
def test_cell_sums_are_fresh_and_add_up_runs_cut_by_blocks(
    scratch_bytes: int, cut: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout_module, "SCRATCH_BYTES", scratch_bytes)
    layout, cells = laid_out(2)
    assert any(block.continued for block in layout.cell_blocks) == cut
    sums = CellSums.of(layout, layout.scratch())
    per_task = np.random.default_rng(3).random((layout.n_tasks, 4))
    expected = np.zeros((layout.n_cells, 4))
    np.add.at(expected, np.sort(cells), per_task[layout.tasks_by_cell])
    first = sums(per_task)
    np.testing.assert_allclose(first, expected, rtol=1e-13)
    np.testing.assert_array_equal(sums(per_task), first)  # the same sums again, into a new array
    assert not np.shares_memory(sums(per_task), first)
