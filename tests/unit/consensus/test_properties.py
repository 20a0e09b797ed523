"""Property tests: the fit depends on the answers, not on how they are ordered or numbered."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.dawid_skene import DawidSkene

Answers = tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]


@st.composite
def answer_sets(draw: st.DrawFn) -> Answers:
    n_tasks = draw(st.integers(1, 8))
    n_workers = draw(st.integers(1, 5))
    n_classes = draw(st.integers(2, 3))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_tasks - 1), st.integers(0, n_workers - 1), st.integers(0, n_classes - 1)),
            min_size=1,
            max_size=30,
        )
    )
    tasks, workers, labels = (np.array(column) for column in zip(*rows, strict=True))
    return tasks, workers, labels, n_tasks, n_workers, n_classes


def fit(answers: Answers) -> DawidSkene:
    tasks, workers, labels, n_tasks, n_workers, n_classes = answers
    return DawidSkene().fit(tasks, workers, labels, n_tasks, n_workers, n_classes)


@settings(max_examples=30, deadline=None)
@given(answer_sets(), st.data())
def test_row_order_does_not_matter_at_all(answers: Answers, data: st.DataObject) -> None:
    order = np.array(data.draw(st.permutations(range(len(answers[0])))))
    shuffled = (answers[0][order], answers[1][order], answers[2][order], *answers[3:])
    np.testing.assert_array_equal(fit(shuffled).posteriors_, fit(answers).posteriors_)


@settings(max_examples=30, deadline=None)
@given(answer_sets(), st.data())
def test_renumbering_tasks_and_workers_permutes_the_result(answers: Answers, data: st.DataObject) -> None:
    tasks, workers, labels, n_tasks, n_workers, n_classes = answers
    task_map = np.array(data.draw(st.permutations(range(n_tasks))))
    worker_map = np.array(data.draw(st.permutations(range(n_workers))))
    renumbered = fit((task_map[tasks], worker_map[workers], labels, n_tasks, n_workers, n_classes))
    original = fit(answers)
    np.testing.assert_allclose(renumbered.posteriors_[task_map], original.posteriors_, atol=1e-9)
    np.testing.assert_allclose(renumbered.confusions_[worker_map], original.confusions_, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(answer_sets())
def test_deterministic_and_well_formed(answers: Answers) -> None:
    first, second = fit(answers), fit(answers)
    np.testing.assert_array_equal(first.posteriors_, second.posteriors_)
    assert first.log_likelihood_ == second.log_likelihood_
    np.testing.assert_allclose(first.posteriors_.sum(axis=1), 1.0)
    history = np.array(first.log_likelihood_)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
