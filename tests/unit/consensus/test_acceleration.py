"""SQUAREM: the jump, the safeguard, and the same fixed point as plain EM in fewer steps."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.acceleration import Convergence, Iterate, extrapolate, mean_movement, moved_at_least, run_em
from crowd.consensus.dawid_skene import DawidSkene

TARGET = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])


def contraction(rate: float) -> tuple[list[int], object]:
    """A linear map toward TARGET with objective -‖q - TARGET‖², like EM near its fixed point."""
    calls: list[int] = []

    def step(q: np.ndarray) -> Iterate[None]:
        calls.append(1)
        new = TARGET + rate * (q - TARGET)
        return Iterate(None, new, -float(np.square(new - TARGET).sum()))

    return calls, step


def test_a_short_step_is_the_second_em_step() -> None:
    q0 = np.array([[0.5, 0.5]])
    q1, q2 = np.array([[0.6, 0.4]]), np.array([[0.62, 0.38]])  # ‖r‖ / ‖v‖ = 0.1 / 0.08 > 1: a real jump
    jumped, length = extrapolate(q0, q1, q2, max_step=1.0)  # clamped to s = -1
    np.testing.assert_allclose(jumped, q2)
    assert length == 1.0


def test_the_jump_lands_on_the_simplex() -> None:
    q0, q1, q2 = np.array([[0.5, 0.5]]), np.array([[0.8, 0.2]]), np.array([[0.95, 0.05]])
    jumped, length = extrapolate(q0, q1, q2, max_step=64.0)
    assert length > 1.0
    assert np.all(jumped >= 0)
    np.testing.assert_allclose(jumped.sum(axis=1), 1.0)


def test_squarem_reaches_a_linear_fixed_point_in_far_fewer_steps() -> None:
    start = np.full((3, 2), 0.5)
    plain_calls, plain = contraction(0.9)
    fast_calls, fast = contraction(0.9)
    slow = run_em(plain, start, 1000, 1e-12, accelerate=False)
    quick = run_em(fast, start, 1000, 1e-12, accelerate=True)
    np.testing.assert_allclose(quick.last.posteriors, TARGET, atol=1e-6)
    assert quick.converged
    assert slow.converged
    assert len(fast_calls) * 4 < len(plain_calls)
    assert np.all(np.diff(quick.history) >= 0)


def test_a_jump_that_lowers_the_objective_is_rejected() -> None:
    start = np.full((3, 2), 0.5)
    produced = [start]

    def step(q: np.ndarray) -> Iterate[None]:
        # a monotone contraction toward TARGET, except that any step from an extrapolated point scores badly
        new = 0.95 * q + 0.05 * TARGET
        jumped = not any(q is seen for seen in produced)
        produced.append(new)
        return Iterate(None, new, -10.0 if jumped else -float(np.abs(new - TARGET).sum()))

    trace = run_em(step, start, 13, -np.inf, accelerate=True)
    assert trace.steps == 13
    assert len(trace.history) == 13 - 4  # 1 + 4 cycles of 3: each cycle's jump was evaluated and dropped
    assert np.all(np.diff(trace.history) > 0)
    assert trace.last.posteriors is produced[-2]  # the last step evaluated was a dropped jump


def test_dawid_skene_reaches_the_same_fit_with_or_without_squarem() -> None:
    rng = np.random.default_rng(8)
    n_tasks, n_workers = 400, 12
    truth = rng.integers(0, 3, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), 3)
    workers = rng.integers(0, n_workers, len(tasks))
    right = rng.random(len(tasks)) < rng.uniform(0.4, 0.8, n_workers)[workers]
    labels = np.where(right, truth[tasks], rng.integers(0, 3, len(tasks)))
    plain = DawidSkene(tol=1e-12, posterior_tol=0.0, max_iter=2000, accelerate=False).fit(tasks, workers, labels)
    fast = DawidSkene(tol=1e-12, posterior_tol=0.0, max_iter=2000).fit(tasks, workers, labels)
    np.testing.assert_allclose(fast.posteriors_, plain.posteriors_, atol=1e-5)
    assert fast.log_likelihood_[-1] >= plain.log_likelihood_[-1] - 1e-6
    assert fast.n_iter_ < plain.n_iter_


def test_settled_posteriors_stop_the_run() -> None:
    start = np.full((3, 2), 0.5)
    _, step = contraction(0.5)
    # An objective threshold no step can meet: only the posterior test can stop the run.
    trace = run_em(step, start, 1000, Convergence(gain=-np.inf, movement=1e-3), accelerate=False)
    assert trace.converged
    assert mean_movement(trace.last.posteriors, TARGET) < 2e-3
    endless = run_em(step, start, 50, Convergence(gain=-np.inf), accelerate=False)
    assert not endless.converged
    assert endless.steps == 50


def test_mean_movement_is_the_mean_total_variation_distance() -> None:
    old = np.array([[1.0, 0.0], [0.5, 0.5]])
    new = np.array([[0.8, 0.2], [0.5, 0.5]])
    assert mean_movement(old, new) == pytest.approx((0.2 + 0.0) / 2)


def test_column_sums_bound_the_movement_from_below() -> None:
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e-2, 1e-4):
        old = rng.dirichlet(np.ones(3), 50)
        new = old + scale * (rng.dirichlet(np.ones(3), 50) - old)
        shift = np.abs(new.sum(axis=0) - old.sum(axis=0)).max() / 50
        assert shift <= mean_movement(old, new) * (1 + 1e-12)


def test_the_column_sums_settle_steps_as_the_full_test_would() -> None:
    rng = np.random.default_rng(1)
    for scale in np.geomspace(1e-5, 1.0, 40):
        old = rng.dirichlet(np.ones(4), 200)
        new = old + scale * (rng.dirichlet(np.ones(4), 200) - old)
        with_totals = Iterate(None, old, 0.0, old.sum(axis=0)), Iterate(None, new, 1.0, new.sum(axis=0))
        without = Iterate(None, old, 0.0), Iterate(None, new, 1.0)
        for tolerance in (1e-4, 1e-3, 1e-2):
            stop = Convergence(gain=0.5, movement=tolerance)
            assert stop.reached(*with_totals) == stop.reached(*without)
            if moved_at_least(*with_totals, tolerance):
                assert mean_movement(old, new) >= tolerance
