r"""SQUAREM: squared extrapolation of a monotone EM map, with a monotonicity safeguard.

EM converges linearly, slowly when the classes are hard to tell apart. Let
``F`` map task posteriors ``q`` to the posteriors after one EM step (M-step,
then E-step). From ``q0``, SQUAREM (Varadhan & Roland, Scand. J. Statist.
2008, scheme S3) takes two EM steps and jumps along the parabola they span::

    q1 = F(q0),  q2 = F(q1),  r = q1 - q0,  v = q2 - 2 q1 + q0
    s  = -‖r‖ / ‖v‖,  clamped to [-s_max, -1]
    q' = q0 - 2 s r + s² v          (s = -1 gives q' = q2: no jump)

then projects ``q'`` back onto the simplex (negative shares to 0, rows
renormalised; each row of ``q0``, ``r`` and ``v`` sums to 1, 0 and 0, so
``q'`` only needs it after clipping) and takes one EM step from it, which
also yields parameters whose E-step the posteriors are.

Safeguard: the jump is kept only if that step's objective is at least
``q2``'s, else the cycle ends at ``q2``; so the objectives of the kept
iterates never decrease, as with plain EM. ``s_max`` starts at
:data:`FIRST_MAX_STEP`, grows ×4 when a jump at the bound is kept and
shrinks ×4 when a jump is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from crowd.consensus.encoding import FloatArray

Params = TypeVar("Params")
FIRST_MAX_STEP = 4.0


@dataclass(frozen=True)
class Iterate(Generic[Params]):
    """The result of one EM step: parameters, their posteriors, their objective."""

    params: Params
    posteriors: FloatArray
    objective: float


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
    v = (q2 - q1) - r
    curvature = _squared_norm(v)
    length = min(max(np.sqrt(_squared_norm(r) / curvature), 1.0), max_step) if curvature > 0 else 1.0
    jumped = q0 + 2.0 * length * r + length * length * v
    np.maximum(jumped, 0.0, out=jumped)
    jumped /= jumped.sum(axis=1, keepdims=True)
    return jumped, length


def _squared_norm(rows: FloatArray) -> float:
    """``‖rows‖²`` by einsum: numpy's own loop, where ``vdot`` would wake BLAS threads (ms on a busy machine)."""
    return float(np.einsum("ij,ij->", rows, rows))


def run_em(step: Step[Params], start: FloatArray, max_steps: int, threshold: float, accelerate: bool) -> Trace[Params]:
    """EM steps from ``start`` until the objective gains less than ``threshold`` or ``max_steps`` are taken.

    With ``accelerate``, one plain step leaves the (often far) start, then
    steps go in SQUAREM cycles of three; each EM step, kept or not, counts
    toward ``max_steps``.
    """
    first = step(start)
    trace = Trace(first, [first.objective])
    max_step = FIRST_MAX_STEP
    while not trace.converged and trace.steps < max_steps:
        base = trace.last.posteriors
        one = _advance(trace, step, threshold)
        if not accelerate or trace.converged or trace.steps >= max_steps:
            continue
        two = _advance(trace, step, threshold)
        if trace.converged or trace.steps >= max_steps:
            break
        jumped, length = extrapolate(base, one.posteriors, two.posteriors, max_step)
        max_step = _jump(trace, step, jumped, threshold, max_step, length)
    return trace


def _advance(trace: Trace[Params], step: Step[Params], threshold: float) -> Iterate[Params]:
    """One plain EM step from the last kept iterate; EM never lowers the objective, so it is kept."""
    new = step(trace.last.posteriors)
    trace.converged = new.objective - trace.last.objective < threshold
    trace.last, trace.steps = new, trace.steps + 1
    trace.history.append(new.objective)
    return new


def _jump(
    trace: Trace[Params], step: Step[Params], jumped: FloatArray, threshold: float, max_step: float, length: float
) -> float:
    """The stabilising EM step from the jump, kept unless it lowers the objective; returns the next ``s_max``."""
    new = step(jumped)
    trace.steps += 1
    if not new.objective >= trace.last.objective:  # a NaN objective is rejected too
        return max(1.0, max_step / 4.0)
    trace.converged = new.objective - trace.last.objective < threshold
    trace.last = new
    trace.history.append(new.objective)
    return max_step * 4.0 if length >= max_step else max_step
