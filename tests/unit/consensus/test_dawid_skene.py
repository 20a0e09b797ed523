"""Dawid-Skene EM: golden single steps, edge cases, gold, warm start."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd.consensus.dawid_skene import (
    AnswerLayout,
    DawidSkene,
    Gold,
    Smoothing,
    em_step,
    majority_posteriors,
    soft_confusion_counts,
)
from crowd.consensus.em import LaidOutAnswers, exact_terms, normalise_log
from crowd.consensus.encoding import answer_arrays

# Toy set, two classes, two workers, three tasks:
#   task 0: worker 0 says 0, worker 1 says 0
#   task 1: worker 0 says 1, worker 1 says 1
#   task 2: worker 0 says 0, worker 1 says 1   (a split vote)
TASKS, WORKERS, LABELS = [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 1]
# Laplace smoothing (a_kl = 1, no shrinkage) and no prior pseudo-count keep the numbers small.
LAPLACE = {"alpha": 1.0, "shrinkage": 0.0, "alpha_prior": 0.0}


def toy_layout() -> tuple[AnswerLayout, np.ndarray]:
    answers = answer_arrays(TASKS, WORKERS, LABELS)
    start = majority_posteriors(answers, Gold.from_mapping(None, answers.n_tasks, answers.n_classes))
    return AnswerLayout.of(answers), start


def test_zero_steps_is_the_majority_vote_share() -> None:
    _, start = toy_layout()
    np.testing.assert_array_equal(start, [[1, 0], [0, 1], [0.5, 0.5]])


def test_one_em_step_golden() -> None:
    layout, start = toy_layout()
    prior = Smoothing(**LAPLACE).prior_for(soft_confusion_counts(layout, start))
    params, posteriors, objective = em_step(layout, start, Gold.from_mapping(None, 3, 2), prior)
    # M-step. Worker 0's soft counts N[k, l]: task 0 adds 1 to N[0,0], task 1 adds 1 to N[1,1],
    # task 2 (answer 0, q = [.5, .5]) adds .5 to N[0,0] and N[1,0]: N = [[1.5, 0], [.5, 1]].
    # Plus 1 everywhere: [[2.5, 1], [1.5, 2]] -> rows [5/7, 2/7], [3/7, 4/7].
    # Worker 1 by symmetry (task 2 answered 1): [[2, 1.5], [1, 2.5]] -> [4/7, 3/7], [2/7, 5/7].
    np.testing.assert_allclose(params.confusions[0], [[5 / 7, 2 / 7], [3 / 7, 4 / 7]])
    np.testing.assert_allclose(params.confusions[1], [[4 / 7, 3 / 7], [2 / 7, 5 / 7]])
    # Priors: column sums of the shares [1.5, 1.5] / 3.
    np.testing.assert_allclose(params.priors, [0.5, 0.5])
    # E-step. Task 0: class 0 gets (5/7)(4/7) = 20/49, class 1 gets (3/7)(2/7) = 6/49 -> [10/13, 3/13].
    # Task 1 mirrors it. Task 2: (5/7)(3/7) = 15/49 against (3/7)(5/7) = 15/49 -> [1/2, 1/2].
    np.testing.assert_allclose(posteriors, [[10 / 13, 3 / 13], [3 / 13, 10 / 13], [0.5, 0.5]])
    # Objective: Σ_i log Z_i with Z = .5 · 26/49 (tasks 0, 1) and .5 · 30/49 (task 2), plus Σ log C
    # over all eight cells, which is log(5·2·3·4 / 7⁴) for each worker.
    expected = 2 * math.log(13 / 49) + math.log(15 / 49) + 2 * math.log(120 / 7**4)
    assert objective == pytest.approx(expected)


def test_fit_with_one_step_reports_that_step() -> None:
    model = DawidSkene(max_iter=1, **LAPLACE).fit(TASKS, WORKERS, LABELS)
    np.testing.assert_allclose(model.predict_proba(), [[10 / 13, 3 / 13], [3 / 13, 10 / 13], [0.5, 0.5]])
    assert model.n_iter_ == 1
    assert len(model.log_likelihood_) == 1
    np.testing.assert_array_equal(model.predict(), [0, 1, 0])  # task 2 ties: the smaller class wins


def test_empirical_bayes_pseudo_counts_at_the_crowd_skill() -> None:
    layout, start = toy_layout()
    counts = soft_confusion_counts(layout, start)
    prior = Smoothing(alpha=1.0, shrinkage=2.0, alpha_prior=1.0, skill_precision=math.inf).prior_for(counts)
    # The pseudo-counts are per worker now (centred at each worker's skill); at infinite skill precision every
    # worker gets the pooled centre and the golden values of the first version hold.
    # Pooled soft counts [[2.5, .5], [.5, 2.5]] + 1 -> P = [[.7, .3], [.3, .7]]; a = 1 + 2 P for every worker.
    np.testing.assert_allclose(prior.confusion, [[[2.4, 1.6], [1.6, 2.4]]] * 2)
    np.testing.assert_allclose(prior.newcomer(), [[0.6, 0.4], [0.4, 0.6]])


def test_empirical_bayes_pseudo_counts_at_each_workers_skill() -> None:
    layout, start = toy_layout()
    prior = Smoothing(alpha=1.0, shrinkage=2.0, alpha_prior=1.0).prior_for(soft_confusion_counts(layout, start))
    # Each worker agrees with the vote on 2.5 of 3 answers (1.5 per true class), the crowd's diagonal is .7:
    # the skill d solves 3 σ(logit .7 + d) + .5 d = 2.5, so the centre's diagonal m = σ(logit .7 + d) lies
    # between .7 and 2.5 / 3, and a = 1 + 2 [[m, 1 - m], [1 - m, m]].
    m = (prior.confusion[0, 0, 0] - 1.0) / 2.0
    d = math.log(m / (1 - m)) - math.log(0.7 / 0.3)
    assert 3 * m + 0.5 * d == pytest.approx(2.5)
    assert 0.7 < m < 2.5 / 3
    np.testing.assert_allclose(prior.confusion, [[[1 + 2 * m, 3 - 2 * m], [3 - 2 * m, 1 + 2 * m]]] * 2)
    np.testing.assert_allclose(prior.newcomer(), [[0.6, 0.4], [0.4, 0.6]])  # a newcomer has the crowd's skill


def test_objective_never_decreases_and_converges() -> None:
    rng = np.random.default_rng(7)
    tasks, workers, labels = synthetic(rng, n_tasks=200, n_workers=15, n_classes=3, per_task=5)
    model = DawidSkene().fit(tasks, workers, labels)
    assert np.all(np.diff(model.log_likelihood_) >= -1e-9 * abs(model.log_likelihood_[-1]))
    assert model.converged_
    assert model.n_iter_ < 100


def test_recovers_truth_on_model_data() -> None:
    rng = np.random.default_rng(11)
    tasks, workers, labels, truth = synthetic(rng, 300, 20, 3, per_task=5, with_truth=True)
    model = DawidSkene().fit(tasks, workers, labels)
    assert np.mean(model.predict() == truth) > 0.95


def test_probabilities_are_normalised() -> None:
    rng = np.random.default_rng(3)
    model = DawidSkene().fit(*synthetic(rng, 50, 6, 4, per_task=3))
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.confusions_.sum(axis=2), 1.0)
    assert model.priors_.sum() == pytest.approx(1.0)


# --- edge cases ------------------------------------------------------------------------------


def test_empty_input() -> None:
    model = DawidSkene().fit([], [], [])
    assert model.posteriors_.shape == (0, 0)
    assert model.predict().shape == (0,)


def test_empty_input_with_sizes_gives_the_prior() -> None:
    model = DawidSkene().fit([], [], [], n_tasks=2, n_workers=1, n_classes=3)
    np.testing.assert_allclose(model.posteriors_, np.full((2, 3), 1 / 3))
    np.testing.assert_allclose(model.confusions_[0], np.full((3, 3), 1 / 3))


def test_single_answer() -> None:
    model = DawidSkene().fit([0], [0], [1], n_classes=2)
    assert model.predict().tolist() == [1]
    assert 0.5 < model.posteriors_[0, 1] < 1


def test_task_without_answers_gets_the_class_prior() -> None:
    model = DawidSkene().fit(TASKS, WORKERS, LABELS, n_tasks=4)
    np.testing.assert_allclose(model.posteriors_[3], model.priors_)


def test_class_nobody_chose_keeps_a_valid_row() -> None:
    model = DawidSkene().fit(TASKS, WORKERS, LABELS, n_classes=3)
    assert np.all(np.isfinite(np.log(model.confusions_)))
    assert np.all(model.posteriors_[:, 2] < 0.5)
    assert model.predict().tolist()[:2] == [0, 1]


def test_repeated_answers_count_as_evidence() -> None:
    once = DawidSkene().fit([0, 0, 1], [0, 1, 0], [0, 1, 1], n_classes=2)
    twice = DawidSkene().fit([0, 0, 0, 1], [0, 1, 1, 0], [0, 1, 1, 1], n_classes=2)
    assert twice.posteriors_[0, 1] > once.posteriors_[0, 1]


def test_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        DawidSkene().fit([0, 1], [0], [0, 1])
    with pytest.raises(ValueError, match="n_classes=2"):
        DawidSkene().fit([0], [0], [2], n_classes=2)
    with pytest.raises(ValueError, match="non-negative"):
        DawidSkene().fit([-1], [0], [0])
    with pytest.raises(ValueError, match="gold"):
        DawidSkene().fit([0], [0], [0], n_classes=2, gold={0: 5})


# --- gold ------------------------------------------------------------------------------------


def test_gold_is_clamped_against_the_crowd() -> None:
    # Both workers say 0 on task 0, but its gold label is 1.
    model = DawidSkene().fit(TASKS, WORKERS, LABELS, gold={0: 1})
    np.testing.assert_array_equal(model.posteriors_[0], [0, 1])


def test_all_gold_gives_the_smoothed_gold_confusions() -> None:
    truth = {0: 0, 1: 1, 2: 0}
    model = DawidSkene(**LAPLACE).fit(TASKS, WORKERS, LABELS, gold=truth)
    np.testing.assert_array_equal(model.predict(), [0, 1, 0])
    # Worker 1 on gold: class 0 answered 0 (task 0) and 1 (task 2); class 1 answered 1. Plus 1 each.
    np.testing.assert_allclose(model.confusions_[1], [[2 / 4, 2 / 4], [1 / 3, 2 / 3]])
    assert model.n_iter_ == 2  # nothing moves after the first step


def test_gold_improves_a_misled_fit() -> None:
    rng = np.random.default_rng(5)
    tasks, workers, labels, truth = synthetic(rng, 200, 10, 2, per_task=3, with_truth=True, accuracy=(0.55, 0.9))
    known = {int(task): int(truth[task]) for task in range(0, 200, 4)}
    plain = DawidSkene().fit(tasks, workers, labels).predict()
    guided = DawidSkene().fit(tasks, workers, labels, gold=known).predict()
    unknown = np.array([task for task in range(200) if task not in known])
    assert np.mean(guided[unknown] == truth[unknown]) >= np.mean(plain[unknown] == truth[unknown])


# --- warm start ------------------------------------------------------------------------------


def test_warm_start_from_own_fit_is_a_fixed_point() -> None:
    rng = np.random.default_rng(2)
    data = synthetic(rng, 100, 8, 3, per_task=4)
    cold = DawidSkene().fit(*data)
    warm = DawidSkene().fit(*data, init=cold.params_)
    assert warm.n_iter_ <= 3
    np.testing.assert_allclose(warm.posteriors_, cold.posteriors_, atol=1e-2)


def test_warm_start_with_new_workers_uses_the_newcomer_matrix() -> None:
    cold = DawidSkene().fit(TASKS, WORKERS, LABELS)
    warm = DawidSkene(max_iter=1).fit([*TASKS, 2], [*WORKERS, 2], [*LABELS, 1], init=cold.params_)
    assert warm.confusions_.shape == (3, 2, 2)
    assert warm.predict().tolist() == [0, 1, 1]  # the newcomer breaks task 2's tie


def synthetic(
    rng: np.random.Generator,
    n_tasks: int,
    n_workers: int,
    n_classes: int,
    per_task: int,
    with_truth: bool = False,
    accuracy: tuple[float, float] = (0.6, 0.95),
) -> tuple[np.ndarray, ...]:
    """Answers drawn from a one-coin model: each worker is right with its own probability."""
    truth = rng.integers(0, n_classes, n_tasks)
    skill = rng.uniform(*accuracy, n_workers)
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in range(n_tasks)])
    right = rng.random(len(tasks)) < skill[workers]
    wrong = (truth[tasks] + rng.integers(1, n_classes, len(tasks))) % n_classes
    labels = np.where(right, truth[tasks], wrong)
    return (tasks, workers, labels, truth) if with_truth else (tasks, workers, labels)


# --- stopping and exact sums -----------------------------------------------------------------


def test_posterior_test_stops_no_later_than_the_objective_alone() -> None:
    rng = np.random.default_rng(9)
    data = synthetic(rng, 300, 12, 3, per_task=4)
    both = DawidSkene().fit(*data)
    objective_only = DawidSkene(posterior_tol=0.0).fit(*data)
    assert both.converged_
    assert both.n_iter_ <= objective_only.n_iter_
    np.testing.assert_allclose(both.posteriors_, objective_only.posteriors_, atol=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_terms_sum_alike_in_any_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = np.log(rng.dirichlet(np.ones(3), 40))  # log-likelihood-like columns
    exact = exact_terms(table, max_terms=25)
    assert np.abs(exact - table).max() < 1e-11
    picks = rng.integers(0, 40, 25)
    forward = exact[picks].sum(axis=0)
    for order in (picks[::-1], rng.permutation(picks)):
        total = np.zeros(3)
        for row in exact[order]:
            total += row
        np.testing.assert_array_equal(total, forward)


# --- the unshifted E-step ----------------------------------------------------------------------


def test_unshifted_normalisation_matches_the_shifted_one() -> None:
    rng = np.random.default_rng(4)
    log_joint = -rng.random((500, 3)) * 300.0  # every row above -UNSHIFTED_RANGE
    log_priors = np.log([0.2, 0.3, 0.5])
    shifted, shifted_evidence = normalise_log(log_joint, log_priors)
    unshifted, unshifted_evidence = normalise_log(log_joint, log_priors, shift=False)
    np.testing.assert_allclose(unshifted, shifted, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(unshifted_evidence, shifted_evidence, rtol=1e-13)


def test_long_tasks_keep_the_shift_and_stay_finite() -> None:
    # 400 answers on one task: its log-joint can fall far below exp's range, so the E-step shifts.
    rng = np.random.default_rng(5)
    tasks = np.concatenate([np.zeros(400, dtype=np.intp), np.repeat(np.arange(1, 31), 3)])
    workers, labels = rng.integers(0, 40, len(tasks)), rng.integers(0, 2, len(tasks))
    answers = LaidOutAnswers.of(AnswerLayout.of(answer_arrays(tasks, workers, labels)), Gold.from_mapping(None, 31, 2))
    assert answers.needs_shift(magnitude=12.0, n_classes=2)
    assert not answers.needs_shift(magnitude=1.0, n_classes=2)
    assert answers.needs_shift(magnitude=None, n_classes=2)
    model = DawidSkene().fit(tasks, workers, labels)
    assert np.all(np.isfinite(model.posteriors_))
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
