r"""SQUAREM: squared extrapolation of a monotone EM map, with a monotonicity safeguard.

EM converges linearly, slowly when the classes are hard to tell apart. Let
``F`` map task posteriors ``q`` to the posteriors after one EM step (M-step,
then E-step). From ``q0``, SQUAREM (Varadhan & Roland, Scand. J. Statist.
2008, scheme S3) takes two EM steps and jumps along the parabola they span::

    q1 = F(q0),  q2 = F(q1),  r = q1 - q0,  v = q2 - 2 q1 + q0
    s  = -‖r‖ / ‖v‖,  clamped to [-s_max, -1]
    q' = q0 - 2 s r + s² v          (s = -1 gives q' = q2: no jump)

then projects ``q'`` back onto the simplex (negative shares to 0, those
rows renormalised; each row of ``q0``, ``r`` and ``v`` sums to 1, 0 and 0,
so only a clipped row needs it) and takes one EM step from it, which also
yields parameters whose E-step the posteriors are.

Safeguard: the jump is kept only if that step's objective is at least
``q2``'s, else the cycle ends at ``q2``; so the objectives of the kept
iterates never decrease, as with plain EM. ``s_max`` starts at
:data:`FIRST_MAX_STEP`, grows ×4 when a jump at the bound is kept and
shrinks ×4 when a jump is rejected.

Stop (:class:`Convergence`): after a kept step that raised the objective by
less than a threshold — or, optionally, that moved the task posteriors by
less than a threshold in mean total-variation distance
``(1/n) Σ_i ½ Σ_k |q_i(k) - q'_i(k)|``. That distance bounds how much the
step changed the probability of any event about a task (its label being
``k``, being right...), so summed over tasks it bounds how much the expected
number of correct labels moved: once it is tiny, more steps would not
change the answer the fit gives. The change of the class totals bounds
that distance from below (:func:`moved_at_least`), which settles most steps
without a pass over the posteriors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

import numpy as np

from crowd.consensus.encoding import FloatArray

Params = TypeVar("Params")
FIRST_MAX_STEP = 4.0


@dataclass(frozen=True)
class Iterate(Generic[Params]):
    """The result of one EM step: parameters, their posteriors, their objective.

    ``totals``, when the step has them, are the posteriors' column sums
    ``Σ_i q_i`` (the expected number of tasks of each class).
    """

    params: Params
    posteriors: FloatArray
    objective: float
    totals: FloatArray | None = None


@dataclass(frozen=True)
class Convergence:
    """A kept step converges when it gains less than ``gain`` in objective or, if ``movement > 0``,
    moves the posteriors by less than ``movement`` (mean total-variation distance per task)."""

    gain: float
    movement: float = 0.0

    def reached(self, old: Iterate[Params], new: Iterate[Params]) -> bool:
        if new.objective - old.objective < self.gain:
            return True
        if self.movement <= 0 or moved_at_least(old, new, self.movement):
            return False
        return mean_movement(old.posteriors, new.posteriors) < self.movement


MARGIN = 1e-9
"""Relative margin of :func:`moved_at_least` over the rounding of both sides: the decision is the full test's."""


def moved_at_least(old: Iterate[Params], new: Iterate[Params], movement: float) -> bool:
    """Whether the column sums alone show a mean movement of at least ``movement``, with no pass over the rows.

    The changes of a row sum to 0, so its total-variation distance
    ``½ Σ_k |Δ_i(k)|`` (the sum of its positive changes) is at least any
    single ``|Δ_i(k)|``; averaged over the ``n`` rows, the mean movement is
    at least ``|Σ_i Δ_i(k)| / n``, the change of a column sum over ``n``.
    While EM still moves the class totals, most steps are settled this way.
    """
    if old.totals is None or new.totals is None or not len(new.posteriors):
        return False
    shift = float(np.abs(new.totals - old.totals).max(initial=0.0)) / len(new.posteriors)
    return shift >= movement * (1.0 + MARGIN)


def mean_movement(old: FloatArray, new: FloatArray) -> float:
    """``(1/n) Σ_i ½ Σ_k |old_i(k) - new_i(k)|``: the mean total-variation distance between two sets of posteriors."""
    difference = new - old
    np.abs(difference, out=difference)
    return 0.5 * float(difference.sum()) / max(len(difference), 1)


@dataclass
class Trace(Generic[Params]):
    """A run of EM steps: the last kept iterate, the kept objectives, the steps taken, convergence."""

    last: Iterate[Params]
    history: list[float]
    steps: int = 1
    converged: bool = False


Step = Callable[[FloatArray], Iterate[Params]]


def extrapolate(q0: FloatArray, q1: FloatArray, q2: FloatArray, max_step: float) -> tuple[FloatArray, float]:
    """The S3 jump ``q0 - 2 s r + s² v`` projected onto the simplex, and the step length ``|s|``."""
    r = q1 - q0
    v = q2 - q1
    v -= r
    curvature = _squared_norm(v)
    length = min(max(np.sqrt(_squared_norm(r) / curvature), 1.0), max_step) if curvature > 0 else 1.0
    jumped = np.multiply(r, 2.0 * length, out=r)  # in place: q0 + 2 s r + s² v, with no temporaries
    jumped += q0
    v *= length * length
    jumped += v
    return _onto_simplex(jumped), length


def _onto_simplex(rows: FloatArray) -> FloatArray:
    """Negative shares to 0, those rows renormalised; the other rows already sum to 1 (to rounding).

    Most jumps clip nothing: one contiguous pass (the smallest share) tells,
    before the per-row minima are looked for.
    """
    if not rows.shape[1] or rows.min(initial=0.0) >= 0.0:
        return rows
    clipped = np.flatnonzero(reduce(np.minimum, rows.T) < 0.0)
    if len(clipped):
        part = np.maximum(np.take(rows, clipped, axis=0), 0.0)
        part /= row_sums(part)[:, np.newaxis]
        rows[clipped] = part
    return rows


def row_sums(rows: FloatArray) -> FloatArray:
    """``rows.sum(axis=1)`` as column additions, in the same order: numpy reduces a short last axis slowly."""
    if rows.shape[1] == 0:
        return np.zeros(len(rows))
    total: FloatArray = reduce(np.add, rows.T)
    return total


def _squared_norm(rows: FloatArray) -> float:
    """``‖rows‖²`` by einsum: numpy's own loop, where ``vdot`` would wake BLAS threads (ms on a busy machine)."""
    return float(np.einsum("ij,ij->", rows, rows))


def run_em(
    step: Step[Params],
    start: FloatArray,
    max_steps: int,
    threshold: float | Convergence,
    accelerate: bool,
    first: Iterate[Params] | None = None,
) -> Trace[Params]:
    """EM steps from ``start`` until a kept step converges or ``max_steps`` are taken.

    ``threshold`` is a :class:`Convergence` or its objective ``gain``. With
    ``accelerate``, one plain step leaves the (often far) start, then steps
    go in SQUAREM cycles of three; each EM step, kept or not, counts toward
    ``max_steps``. ``first`` is ``step(start)`` when the caller has already
    taken it.
    """
    stop = threshold if isinstance(threshold, Convergence) else Convergence(threshold)
    first = step(start) if first is None else first
    trace = Trace(first, [first.objective])
    max_step = FIRST_MAX_STEP
    while not trace.converged and trace.steps < max_steps:
        if accelerate:
            max_step = _cycle(trace, step, stop, max_steps, max_step)
        else:
            _advance(trace, step, stop)
    return trace


def _cycle(trace: Trace[Params], step: Step[Params], stop: Convergence, max_steps: int, max_step: float) -> float:
    """One SQUAREM cycle, as far as the stopping rule lets it go; returns the next ``s_max``.

    The two iterates the jump is made from are let go before its EM step:
    a fit holds no more posteriors at once than the cycle needs.
    """
    base = trace.last.posteriors
    one = _advance(trace, step, stop).posteriors
    if trace.converged or trace.steps >= max_steps:
        return max_step
    two = _advance(trace, step, stop).posteriors
    if trace.converged or trace.steps >= max_steps:
        return max_step
    jumped, length = extrapolate(base, one, two, max_step)
    del base, one, two
    return _jump(trace, step, jumped, stop, max_step, length)


def _advance(trace: Trace[Params], step: Step[Params], stop: Convergence) -> Iterate[Params]:
    """One plain EM step from the last kept iterate; EM never lowers the objective, so it is kept."""
    new = step(trace.last.posteriors)
    trace.converged = stop.reached(trace.last, new)
    trace.last, trace.steps = new, trace.steps + 1
    trace.history.append(new.objective)
    return new


def _jump(
    trace: Trace[Params], step: Step[Params], jumped: FloatArray, stop: Convergence, max_step: float, length: float
) -> float:
    """The stabilising EM step from the jump, kept unless it lowers the objective; returns the next ``s_max``."""
    new = step(jumped)
    trace.steps += 1
    if not new.objective >= trace.last.objective:  # a NaN objective is rejected too
        return max(1.0, max_step / 4.0)
    trace.converged = stop.reached(trace.last, new)
    trace.last = new
    trace.history.append(new.objective)
    return max_step * 4.0 if length >= max_step else max_step
