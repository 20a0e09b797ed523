r"""The winner posterior of one compared pair, its online step, and the value of asking about a pair.

A unit (one pairwise task, or one implied pair of a ranking task) compares
``first`` and ``second``; write ``D = s_first - s_second``. Its posterior
combines two sources:

* the **cavity** ``N(m, 1/c)``: what the *rest* of the data says about ``D``.
  From the fit's Laplace approximation ``N(μ_D, v_D)`` the unit's own
  answers are divided out: ``c = 1/v_D - h_u`` and ``m = μ_D - g_u / c``
  (``g_u``, ``h_u``: the slope and curvature of the unit's log-likelihood at
  the fit), with ``c`` at least ``λ/2``, the prior's precision on a
  difference. A unit the fit did not see takes its items' marginals.
* the unit's **answers**, each weighed by its worker's fitted model
  (:mod:`crowd.consensus.davidson`): ``Π_a M(o_a | ±D + β_a)``.

The product is evaluated on a grid of :data:`GRID_NODES` points spanning
±:data:`GRID_HALF_WIDTH` posterior standard deviations around its mode (found
by Newton's method), so skewed posteriors are integrated, not approximated.
The unit's winner is what a perfect judge would most likely answer:
``first`` if ``D > δ``, ``second`` if ``D < -δ``, a tie in between, with
``δ = 2 log ν`` when ties are the most likely judgment near ``D = 0``
(``ν > 1``), else 0. The posterior is ``(P(D > δ), P(|D| ≤ δ), P(D < -δ))``.

The fit computes every unit's posterior with the same function, so the
online step (:class:`PairwiseOnline`) with a fit's parameters reproduces the
fit's posterior of any unit from that unit's answers alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.bradley_terry import PairwiseParams
from crowd.consensus.comparisons import Comparisons, two_way_units
from crowd.consensus.davidson import Outcomes, answer_log_likelihood, answer_terms
from crowd.consensus.encoding import FloatArray, IntArray

GRID_NODES = 129
GRID_HALF_WIDTH = 8.0
NEWTON_STEPS = 30
MODE_TOLERANCE = 1e-11
MAX_STEP = 2.0
_GRID = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_NODES)
_CELLS = 1 << 20
"""Answer × node cells evaluated at once by the fit."""


@dataclass(frozen=True)
class UnitAnswers:
    """The answers of some units, as the posterior reads them: unit, sign of ``D`` in ``d``, ``β``, outcome, ``η``."""

    units: IntArray
    sign: FloatArray
    bias: FloatArray
    outcomes: IntArray
    engaged: FloatArray


def winner_posteriors(answers: UnitAnswers, cavity: FloatArray, tie: float, spam_tie: float) -> FloatArray:
    """``(P(first), P(tie), P(second))`` per unit (units × 3), for the units of ``cavity``."""
    n_units = len(cavity)
    mode, spread = _modes(answers, cavity, tie, spam_tie)
    posteriors = np.empty((n_units, 3))
    for units in _unit_blocks(answers.units, n_units):
        posteriors[units] = _on_grid(answers, cavity, mode, spread, units, tie, spam_tie)
    return posteriors


def tie_margin(tie: float) -> float:
    """``δ``: where a perfect judge's tie stops being likelier than a win (0 unless ``ν > 1``)."""
    return 2.0 * math.log(tie) if tie > 1.0 else 0.0


def _modes(answers: UnitAnswers, cavity: FloatArray, tie: float, spam_tie: float) -> tuple[FloatArray, FloatArray]:
    """Each unit's posterior mode of ``D`` (Newton, clipped steps) and ``1/√curvature`` there."""
    mean, precision = cavity[:, 0], cavity[:, 1]
    n = len(cavity)
    d = mean.copy()
    curvature = precision
    for _ in range(NEWTON_STEPS):
        terms = answer_terms(
            answers.sign * d[answers.units] + answers.bias, answers.outcomes, answers.engaged, tie, spam_tie
        )
        gradient = np.bincount(answers.units, answers.sign * terms.slope, n) - precision * (d - mean)
        curvature = np.bincount(answers.units, terms.curvature, n) + precision
        step = np.clip(gradient / curvature, -MAX_STEP, MAX_STEP)
        d = d + step
        if np.abs(step).max(initial=0.0) < MODE_TOLERANCE:
            break  # converged: a further step moves no mode by more than rounding (so one unit or all agree)
    return d, 1.0 / np.sqrt(curvature)


def _unit_blocks(units: IntArray, n_units: int) -> list[npt.NDArray[np.intp]]:
    """Groups of unit indices whose answers × nodes fit in :data:`_CELLS`."""
    counts = np.bincount(units, minlength=n_units) + 1
    blocks, start, load = [], 0, 0
    for unit, count in enumerate(counts.tolist()):
        if load and load + count * GRID_NODES > _CELLS:
            blocks.append(np.arange(start, unit))
            start, load = unit, 0
        load += count * GRID_NODES
    blocks.append(np.arange(start, n_units))
    return blocks


def _on_grid(
    answers: UnitAnswers,
    cavity: FloatArray,
    mode: FloatArray,
    spread: FloatArray,
    block: IntArray,
    tie: float,
    spam_tie: float,
) -> FloatArray:
    """The winner posterior of the units in ``block`` by summing the exact density over each unit's grid."""
    position = np.full(len(cavity), -1)
    position[block] = np.arange(len(block))
    mine = position[answers.units] >= 0
    local = position[answers.units[mine]]
    nodes = mode[block, np.newaxis] + spread[block, np.newaxis] * _GRID  # block × G
    mean, precision = cavity[block, 0:1], cavity[block, 1:2]
    log_density = -0.5 * precision * np.square(nodes - mean)
    d = answers.sign[mine, np.newaxis] * nodes[local] + answers.bias[mine, np.newaxis]
    engaged = answers.engaged[mine, np.newaxis]
    outcomes = np.broadcast_to(answers.outcomes[mine, np.newaxis], d.shape)
    log_likelihood = answer_log_likelihood(d, outcomes, engaged, tie, spam_tie)
    summed = np.zeros_like(log_density)
    np.add.at(summed, local, log_likelihood)
    log_density += summed
    weights = np.exp(log_density - log_density.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return _winner_masses(nodes, weights, spread[block], tie_margin(tie))


def _winner_masses(nodes: FloatArray, weights: FloatArray, spread: FloatArray, margin: float) -> FloatArray:
    """Each node's mass spread evenly over its cell; the shares above ``δ``, between and below ``-δ``."""
    half = (spread * (_GRID[1] - _GRID[0]) / 2.0)[:, np.newaxis]
    above = np.clip((nodes + half - margin) / (2.0 * half), 0.0, 1.0)
    below = np.clip((-margin - (nodes - half)) / (2.0 * half), 0.0, 1.0)
    first, second = (weights * above).sum(axis=1), (weights * below).sum(axis=1)
    return np.column_stack([first, np.clip(1.0 - first - second, 0.0, 1.0), second])


# --- the fit's unit posteriors and the online step -----------------------------------------


def fitted_unit_answers(comparisons: Comparisons, params: PairwiseParams) -> UnitAnswers:
    """The answers of a fit's units, read with the fitted worker models."""
    c = comparisons
    bias = np.where(two_way_units(c), params.position_bias[c.workers], 0.0)
    return UnitAnswers(c.units, np.where(c.flipped, -1.0, 1.0), bias, c.outcomes, params.engaged[c.workers])


@dataclass(frozen=True)
class PairwiseOnline:
    """One unit's winner posterior between fits, from its answers and a fit's parameters.

    Workers the fit did not see (index ``-1`` or past its arrays) get the
    newcomer's ``η`` (the prior mean) and the crowd's position bias.
    """

    params: PairwiseParams

    def cavity_of(self, first: int, second: int) -> FloatArray:
        """The cavity of a unit the fit did not see: its items' marginals (unknown items: the prior)."""
        p = self.params
        mean = self._score(first) - self._score(second)
        spread = self._variance(first) + self._variance(second)
        return np.array([mean, max(1.0 / spread, p.score_precision / 2.0)])

    def posterior(
        self,
        cavity: npt.ArrayLike,
        workers: npt.ArrayLike,
        flipped: npt.ArrayLike,
        outcomes: npt.ArrayLike,
        positional: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """``(P(first), P(tie), P(second))`` given the unit's answers: worker indices, whether each showed the
        second item on the left, the screen outcomes (0 left, 1 right, 2 tie), whether sides were screen sides."""
        who = np.asarray(workers, dtype=np.intp)
        swapped = np.asarray(flipped, dtype=bool)
        shown = np.ones(len(who), dtype=bool) if positional is None else np.asarray(positional, dtype=bool)
        two_way = bool((swapped & shown).any() and (~swapped & shown).any())
        engaged, bias = self._workers(who)
        answers = UnitAnswers(
            units=np.zeros(len(who), dtype=np.intp),
            sign=np.where(swapped, -1.0, 1.0),
            bias=np.where(shown & two_way, bias, 0.0),
            outcomes=np.asarray(outcomes, dtype=np.intp),
            engaged=engaged,
        )
        prior = np.asarray(cavity, dtype=np.float64).reshape(1, 2)
        posterior: FloatArray = winner_posteriors(answers, prior, self.params.tie, self.params.spam_tie)[0]
        return posterior

    def _workers(self, workers: IntArray) -> tuple[FloatArray, FloatArray]:
        p = self.params
        known = (workers >= 0) & (workers < len(p.engaged))
        index = np.where(known, workers, 0)
        engaged = np.where(known, p.engaged[index] if len(p.engaged) else 0.0, p.newcomer_engaged)
        bias = np.where(known, p.position_bias[index] if len(p.position_bias) else 0.0, p.crowd_position_bias)
        return engaged, bias

    def _score(self, item: int) -> float:
        return float(self.params.scores[item]) if 0 <= item < len(self.params.scores) else 0.0

    def _variance(self, item: int) -> float:
        p = self.params
        return float(p.variances[item]) if 0 <= item < len(p.variances) else 1.0 / p.score_precision


@dataclass(frozen=True)
class ItemBelief:
    """A Gaussian belief about one item's score."""

    mean: float
    variance: float


def update_items(
    first: ItemBelief, second: ItemBelief, outcome: int, flipped: bool, engaged: float, params: PairwiseParams
) -> tuple[ItemBelief, ItemBelief]:
    """The two items' beliefs after one more answer: one Newton step from their current means (cheap, approximate).

    The answer adds curvature ``h`` along ``D = s_first - s_second``; with
    independent beliefs the new covariance follows from Sherman-Morrison and
    the means move by it times the answer's slope. A full fit replaces this.
    """
    sign = -1.0 if flipped else 1.0
    d = np.array([sign * (first.mean - second.mean)])
    terms = answer_terms(d, np.array([outcome]), np.array([engaged]), params.tie, params.spam_tie)
    slope, curvature = sign * float(terms.slope[0]), float(terms.curvature[0])
    spread = first.variance + second.variance
    shrink = curvature / (1.0 + curvature * spread)
    new_first = first.variance - shrink * first.variance**2
    new_second = second.variance - shrink * second.variance**2
    moved = slope / (1.0 + curvature * spread)
    return (
        ItemBelief(first.mean + first.variance * moved, new_first),
        ItemBelief(second.mean - second.variance * moved, new_second),
    )


# --- routing=informative -------------------------------------------------------------------

_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / _HERMITE_WEIGHTS.sum()


def information_gain(
    mean: npt.ArrayLike, variance: npt.ArrayLike, engaged: float, tie: float = 0.0, spam_tie: float = 0.0
) -> FloatArray:
    """Expected information (nats) one more answer gives about ``D`` for pairs with ``D ~ N(mean, variance)``.

    BALD (Houlsby et al. 2011): ``H[E_D p(o | D)] - E_D H[p(o | D)]``, the
    mutual information between the answer and the score difference, for a
    worker with ``η = engaged``; expectations by 24-point Gauss-Hermite
    quadrature. It is largest for close scores (an uncertain outcome) that
    are themselves uncertain (few comparisons): exactly the pairs whose
    answer would move the ranking most. Vectorised over pairs.
    """
    mu = np.asarray(mean, dtype=np.float64)[..., np.newaxis]
    sd = np.sqrt(np.asarray(variance, dtype=np.float64))[..., np.newaxis]
    d = mu + sd * _HERMITE_NODES
    judge = Outcomes.at(d, tie)
    guess = (1.0 - spam_tie) / 2.0
    judged = zip((judge.left, judge.right, judge.tie), (guess, guess, spam_tie), strict=True)
    answer = [engaged * p + (1.0 - engaged) * r for p, r in judged]
    marginal = _entropy([a @ _HERMITE_WEIGHTS for a in answer])
    conditional = _entropy(answer) @ _HERMITE_WEIGHTS
    gain: FloatArray = np.maximum(marginal - conditional, 0.0)
    return gain


def _entropy(probabilities: list[FloatArray]) -> FloatArray:
    """``-Σ_o p_o log p_o`` over the outcomes listed."""
    entropy: FloatArray = -np.sum([_plogp(p) for p in probabilities], axis=0)
    return entropy


def _plogp(p: FloatArray) -> FloatArray:
    values: FloatArray = np.where(p > 0, p * np.log(np.maximum(p, 1e-300)), 0.0)
    return values
