r"""Empirical-Bayes Dirichlet priors for Dawid-Skene: each worker shrinks toward the crowd, at their own skill.

The strength ``shrinkage`` is fixed (8 by default) or learned from the
crowd (:func:`learned_strength`: the Dirichlet-multinomial marginal
likelihood of every worker's counts around their centre).

Every row ``k`` of worker ``w``'s confusion matrix gets ``a_w[k, l]``
pseudo-answers (the MAP M-step adds them to the soft counts)::

    a_w[k, l] = alpha + shrinkage · M_w[k, l]

The centre ``M_w`` is the crowd's pooled confusion matrix ``P`` (under the
majority vote) with its diagonal moved by the worker's skill ``δ_w`` on the
log-odds scale, and the errors spread like the crowd's::

    M_w[k, k] = σ(logit P[k, k] + δ_w)
    M_w[k, l] = (1 - M_w[k, k]) · P[k, l] / (1 - P[k, k])        (l ≠ k)

So a worker with few answers looks like a crowd member *of their measured
skill*, not like the average member: row ``k`` keeps the class's own
difficulty (``P[k, k]``) and confusions (``P[k, l]``), shifted by how much
more often than the crowd this worker agrees with the vote. A class nobody
chose keeps a usable row, and a worker with ``δ_w = 0`` (every newcomer)
gets the pooled matrix itself.

The skill is the MAP estimate of a logistic model fitted to the worker's
majority-vote agreement: with ``n_wk`` the worker's (soft) answers on class
``k`` and ``R_w`` those agreeing with the vote, and a prior
``δ_w ~ N(0, 1 / precision)``, ``δ_w`` solves::

    Σ_k n_wk σ(logit P[k, k] + δ_w) + precision · δ_w = R_w

(expected agreements under the model = observed ones, pulled toward 0).

``P``, ``δ`` and so ``a`` depend on the answers only, never on the EM
iterate, so EM climbs one fixed objective and a warm start climbs the same
one as a cold start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import FloatArray
from crowd.consensus.special import digamma_gap

NEWTON_STEPS = 30
"""At most this many Newton steps for the skills."""
NEWTON_TOLERANCE = 1e-6
"""The skills stop once no Newton step moves one by more than this (the error left is then ~1e-12)."""
MAX_SKILL = 12.0
"""Log-odds bound on ``δ`` and on the crowd's diagonal, so ``σ`` never rounds to exactly 0 or 1."""
STRENGTH_MEDIAN = 8.0
"""Median of the strength's log-normal hyperprior: the fixed strength of the versions before it was learned."""
STRENGTH_SPREAD = 1.0
"""Standard deviation of ``log s`` under the hyperprior: weak, the data decide (a factor e either way is 1 sd)."""
STRENGTH_TOLERANCE = 1e-4
"""The learned strength stops once a step moves ``log s`` by less than this (0.01% of ``s``)."""
STRENGTH_BOUNDS = (0.01, 1e6)
"""The learned strength stays inside these: from next to no pooling to a worker that is their centre."""


@dataclass(frozen=True)
class DirichletPrior:
    """The pseudo-counts of one fit: ``confusion`` (workers × K × K), ``population`` (K × K) and ``classes``.

    ``population`` is what a worker of the crowd's average skill (any
    newcomer) gets.
    """

    confusion: FloatArray
    population: FloatArray
    classes: float
    strength: float = 0.0

    def newcomer(self) -> FloatArray:
        """The M-step of a worker without answers: ``population`` normalised by row."""
        normalised: FloatArray = self.population / self.population.sum(axis=1, keepdims=True)
        return normalised

    def log_density(self, log_confusions: FloatArray, log_priors: FloatArray) -> float:
        """``Σ_w Σ_kl a_w[k, l] log C_w[k, l] + b Σ_k log π_k``: the Dirichlet log-densities up to constants."""
        confusion_term = np.einsum("wkl,wkl->", self.confusion, log_confusions)  # einsum: no BLAS threads
        return float(confusion_term + self.classes * log_priors.sum())


@dataclass(frozen=True)
class Smoothing:
    """Hyper-parameters of the Dirichlet priors, from which each fit builds its pseudo-counts.

    ``alpha`` in every cell; ``shrinkage`` pseudo-answers per row spread
    like the worker's centre; ``alpha_prior`` on each class prior;
    ``skill_precision`` the precision of the skills' normal prior (``inf``
    gives every worker the pooled centre).
    """

    alpha: float
    shrinkage: float | None
    alpha_prior: float
    skill_precision: float = 0.5

    def prior_for(self, counts: FloatArray) -> DirichletPrior:
        """Pseudo-counts for majority-vote soft counts ``N_w[k, l]`` (workers × K × K).

        ``shrinkage`` ``None``: the strength is learned from the counts
        (:func:`learned_strength`).
        """
        pooled = counts.sum(axis=0) + self.alpha
        population = pooled / pooled.sum(axis=1, keepdims=True)
        skills = skill_offsets(counts, population, self.skill_precision)
        centres = skill_centres(population, skills)
        strength = learned_strength(counts, centres, self.alpha) if self.shrinkage is None else self.shrinkage
        return DirichletPrior(
            confusion=self.alpha + strength * centres,
            population=self.alpha + strength * population,
            classes=self.alpha_prior,
            strength=strength,
        )


def learned_strength(
    counts: FloatArray,
    centres: FloatArray,
    alpha: float,
    median: float = STRENGTH_MEDIAN,
    spread: float = STRENGTH_SPREAD,
) -> float:
    """The strength ``s`` of the prior ``C_w[k, :] ~ Dirichlet(alpha + s · M_w[k, :])``, learned from the crowd.

    Empirical Bayes (type-II maximum a posteriori): ``s`` maximises the
    Dirichlet-multinomial marginal likelihood of every worker's counts
    ``N_w[k, :]`` (their confusion matrices integrated out) plus a weak
    log-normal hyperprior (median :data:`STRENGTH_MEDIAN`, ``log s`` with
    standard deviation :data:`STRENGTH_SPREAD`)::

        L(s) = Σ_wk [log Γ(A_wk) - log Γ(A_wk + n_wk) + Σ_l (log Γ(a_wkl + N_wkl) - log Γ(a_wkl))]
               - (log s - log median)² / (2 spread²),        a = alpha + s M,  A = Σ_l a

    Workers who stray from their centres no more than sampling noise explains
    make ``s`` large (they borrow the crowd's strength: one-coin-like, pooled
    behaviour); workers whose own confusions differ make it small (full
    matrices). The root of ``dL/d log s`` (digamma differences) by a
    bracketing secant (:func:`_root`); a cell without answers adds nothing.
    """
    rows = counts.sum(axis=2)
    if counts.shape[-1] < 2 or not rows.any():
        return median
    answered = rows > 0
    cells = counts[answered]
    seen = cells > 0
    slope = _StrengthSlope(centres[answered][seen], cells[seen], rows[answered], alpha, counts.shape[-1])
    target = math.log(median)
    return math.exp(_root(lambda u: slope(u) - (u - target) / spread**2, target))


@dataclass(frozen=True)
class _StrengthSlope:
    """``dL/du`` of the marginal likelihood (hyperprior aside) at ``u = log s``: ``s · dL/ds``, where
    ``dA/ds = 1`` and ``da/ds = M``. Only cells with answers enter the sum over cells."""

    shares: FloatArray
    cell_counts: FloatArray
    row_counts: FloatArray
    alpha: float
    n_classes: int

    def __call__(self, u: float) -> float:
        s = math.exp(u)
        cells = digamma_gap(self.alpha + s * self.shares, self.cell_counts)
        first = float(np.einsum("i,i->", self.shares, cells))  # einsum, not @: a BLAS dot may wake its threads
        first -= float(digamma_gap(self.alpha * self.n_classes + s, self.row_counts).sum())
        return s * first


def _root(slope: Callable[[float], float], start: float) -> float:
    """Where ``slope`` (decreasing through its root) crosses 0, between the bounds of :data:`STRENGTH_BOUNDS`.

    Steps of growing length from ``start`` find a sign change, then the
    Illinois variant of regula falsi closes in (superlinear, never leaves the
    bracket); no second derivative is needed, which would cost as much again.
    """
    low, high = (math.log(bound) for bound in STRENGTH_BOUNDS)
    left, left_slope = start, slope(start)
    if left_slope == 0.0:
        return start
    step = 0.5 if left_slope > 0 else -0.5
    right = min(max(left + step, low), high)
    right_slope = slope(right)
    while (right_slope > 0) == (left_slope > 0):
        if right in (low, high):
            return right
        left, left_slope, step = right, right_slope, step * 2
        right = min(max(right + step, low), high)
        right_slope = slope(right)
    for _ in range(NEWTON_STEPS * 2):
        guess = right - right_slope * (right - left) / (right_slope - left_slope)
        guess_slope = slope(guess)
        if abs(guess - right) <= STRENGTH_TOLERANCE or guess_slope == 0.0:
            return guess
        if (guess_slope > 0) == (right_slope > 0):
            left_slope /= 2.0
        else:
            left, left_slope = right, right_slope
        right, right_slope = guess, guess_slope
    return right


def crowd_log_odds(population: FloatArray) -> FloatArray:
    """``logit P[k, k]`` per class, bounded by :data:`MAX_SKILL`."""
    diagonal = np.diagonal(population)
    log_odds: FloatArray = np.clip(np.log(diagonal) - np.log1p(-np.minimum(diagonal, 1.0)), -MAX_SKILL, MAX_SKILL)
    return log_odds


def skill_offsets(counts: FloatArray, population: FloatArray, precision: float) -> FloatArray:
    """Each worker's skill ``δ_w``, by Newton's method on the MAP equation of the module docstring.

    The left side minus ``R_w`` is increasing in ``δ`` with slope
    ``Σ_k n_wk σ (1 - σ) + precision``, so Newton is well-behaved; steps are
    clipped to ``±2`` to stay so from far away. It starts near the root: the
    log-odds of the worker's agreement rate ``(R_w + ½) / (n_w + 1)`` against
    the crowd's rate on the worker's mix of classes, shrunk by
    ``n_w / (n_w + 4 precision)`` (the prior's pull, linearised at σ = ½),
    and converges quadratically: once no skill moves by more than
    :data:`NEWTON_TOLERANCE`, the error left is of the order of its square.
    Typically 3-4 steps, against 4-6 from ``δ = 0``.
    """
    n_workers, n_classes = counts.shape[:2]
    if n_classes < 2 or not np.isfinite(precision):
        return np.zeros(n_workers)
    # Class-major (K × workers): numpy broadcasts and reduces along the long, contiguous axis.
    per_class = np.ascontiguousarray(counts.sum(axis=2).T)  # n_wk: soft answers on true class k
    agreed = np.einsum("wkk->w", counts)  # R_w
    base = crowd_log_odds(population)[:, np.newaxis]
    skills = _starting_skills(per_class, agreed, base, precision)
    p = np.empty_like(per_class)
    for _ in range(NEWTON_STEPS):
        np.add(base, skills, out=p)
        _sigmoid(p)
        excess = np.einsum("kw,kw->w", per_class, p) - agreed
        excess += precision * skills
        p -= p * p  # σ (1 - σ)
        slope = np.einsum("kw,kw->w", per_class, p)
        slope += precision
        move = np.minimum(np.maximum(excess / slope, -2.0), 2.0)
        skills = np.minimum(np.maximum(skills - move, -MAX_SKILL), MAX_SKILL)
        if np.abs(move).max(initial=0.0) <= NEWTON_TOLERANCE:
            break
    return skills


def _starting_skills(per_class: FloatArray, agreed: FloatArray, base: FloatArray, precision: float) -> FloatArray:
    """An approximation of the MAP skill that Newton starts from (``per_class`` class-major)."""
    answers = per_class.sum(axis=0)
    crowd_rate = np.einsum("kw,k->w", per_class, _sigmoid(base[:, 0].copy())) / np.maximum(answers, 1e-300)
    crowd_rate = np.minimum(np.maximum(crowd_rate, 1e-9), 1.0 - 1e-9)
    rate = (agreed + 0.5) / (answers + 1.0)
    log_odds = np.log(rate / (1.0 - rate)) - np.log(crowd_rate / (1.0 - crowd_rate))
    skills: FloatArray = np.clip(log_odds * answers / (answers + 4.0 * precision), -MAX_SKILL, MAX_SKILL)
    return skills


def _sigmoid(x: FloatArray) -> FloatArray:
    """``1 / (1 + exp(-x))`` in place."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)


def skill_centres(population: FloatArray, skills: FloatArray) -> FloatArray:
    """``M_w`` for every worker (workers × K × K): ``P`` with its diagonal moved by ``δ_w`` in log-odds."""
    n_classes = len(population)
    if n_classes < 2:
        return np.broadcast_to(population, (len(skills), n_classes, n_classes)).copy()
    diagonal = 1.0 / (1.0 + np.exp(-(crowd_log_odds(population) + skills[:, np.newaxis])))  # workers × K
    errors = population * (1.0 - np.eye(n_classes))
    spread = errors / errors.sum(axis=1, keepdims=True)
    centres: FloatArray = (1.0 - diagonal)[:, :, np.newaxis] * spread
    index = np.arange(n_classes)
    centres[:, index, index] = diagonal
    return centres
