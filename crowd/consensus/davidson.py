r"""The Bradley-Terry-Davidson comparison and the crowd's answer model, per answer, vectorised.

Items have scores; an engaged judge comparing ``left`` and ``right`` at
score difference ``d = s_left - s_right`` (plus a position effect ``β``)
answers (Davidson 1970)::

    P(left) = e^{d/2} / Z,    P(right) = e^{-d/2} / Z,    P(tie) = ν / Z,    Z = e^{d/2} + e^{-d/2} + ν

``ν = 0`` (no ties) is plain Bradley-Terry, ``P(left) = σ(d)``. Every
outcome's log-probability is linear in ``d`` minus ``log Z``, so all three
share the curvature ``-d² log P / dd² = ((P_L + P_R) - (P_L - P_R)²) / 4``.

A crowd worker ``w`` answers as an engaged judge with probability ``η_w``,
and otherwise at random: left or right with probability ``(1 - t) / 2`` each,
tie with probability ``t`` (the crowd's share of ties among random answers)::

    M(o | d) = η_w D(o | d) + (1 - η_w) ρ(o),    ρ = ((1 - t)/2, (1 - t)/2, t)

With ``t = 0`` a random answer is a coin flip, so a worker of ``η_w = 0`` is a
spammer and ``η_w = 1`` a perfect judge (the model is CrowdBT's answer flip,
Chen et al. WSDM 2013, written as a mixture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crowd.consensus.comparisons import LEFT, RIGHT, TIE
from crowd.consensus.encoding import FloatArray, IntArray


@dataclass(frozen=True)
class Outcomes:
    """Davidson probabilities of left, right and tie at each ``d``, and ``log Z``."""

    left: FloatArray
    right: FloatArray
    tie: FloatArray
    log_z: FloatArray

    @classmethod
    def at(cls, d: FloatArray, tie: float) -> Outcomes:
        d = np.asarray(d, dtype=np.float64)
        if tie <= 0:  # plain Bradley-Terry: P(left) = σ(d), log Z = log(e^{d/2} + e^{-d/2})
            left = 1.0 / (1.0 + np.exp(-d))
            return cls(left, 1.0 - left, np.zeros_like(left), np.logaddexp(0.5 * d, -0.5 * d))
        half = 0.5 * d
        log_z = np.logaddexp(np.logaddexp(half, -half), math.log(tie))
        return cls(np.exp(half - log_z), np.exp(-half - log_z), np.exp(math.log(tie) - log_z), log_z)

    def of(self, outcomes: IntArray) -> FloatArray:
        """The probability of each answer's outcome."""
        chosen: FloatArray = np.where(outcomes == LEFT, self.left, np.where(outcomes == RIGHT, self.right, self.tie))
        return chosen

    def slope(self, outcomes: IntArray) -> FloatArray:
        """``d log P(o) / dd``: ``½ [o = left] - ½ [o = right] - (P_L - P_R) / 2``."""
        sign = np.where(outcomes == LEFT, 0.5, np.where(outcomes == RIGHT, -0.5, 0.0))
        slope: FloatArray = sign - 0.5 * (self.left - self.right)
        return slope

    def curvature(self) -> FloatArray:
        """``-d² log P(o) / dd²``, the same for every outcome, in ``[0, ¼]``."""
        gap = self.left - self.right
        curvature: FloatArray = np.maximum(0.25 * ((self.left + self.right) - gap * gap), 0.0)
        return curvature


@dataclass(frozen=True)
class AnswerTerms:
    """Per answer at the current parameters: likelihood terms and their derivatives in ``d``.

    ``engaged`` is the posterior probability that the answer was an engaged
    judgment (the E-step's responsibility); ``slope`` and ``curvature`` are
    ``d log M / dd`` and ``-d² log M / dd²`` (the latter floored at 0, so a
    Hessian built from them stays positive semi-definite).
    """

    log_likelihood: FloatArray
    engaged: FloatArray
    slope: FloatArray
    curvature: FloatArray
    judged_slope: FloatArray
    judged_curvature: FloatArray


def random_answer(outcomes: IntArray, spam_tie: float) -> FloatArray:
    """``ρ(o)``: a random answer's probability of each answer's outcome."""
    random: FloatArray = np.where(outcomes == TIE, spam_tie, 0.5 * (1.0 - spam_tie))
    return random


def answer_terms(d: FloatArray, outcomes: IntArray, engaged: FloatArray, tie: float, spam_tie: float) -> AnswerTerms:
    """:class:`AnswerTerms` at score differences ``d`` with each answer's worker's ``η`` in ``engaged``."""
    davidson = Outcomes.at(d, tie)
    judged = davidson.of(outcomes)
    weighted = engaged * judged
    mixture = weighted + (1.0 - engaged) * random_answer(outcomes, spam_tie)
    share = weighted / mixture
    slope = davidson.slope(outcomes)
    curvature = davidson.curvature()
    mixture_slope = share * slope
    # d²/dd² log M = share (slope² - curvature) - (share slope)²
    mixture_curvature = np.maximum(mixture_slope * mixture_slope - share * (slope * slope - curvature), 0.0)
    return AnswerTerms(np.log(mixture), share, mixture_slope, mixture_curvature, slope, curvature)


def answer_log_likelihood(
    d: FloatArray, outcomes: IntArray, engaged: FloatArray, tie: float, spam_tie: float
) -> FloatArray:
    """``log M(o | d)`` alone (the posterior's grid needs nothing else)."""
    judged = Outcomes.at(d, tie).of(outcomes)
    log_likelihood: FloatArray = np.log(engaged * judged + (1.0 - engaged) * random_answer(outcomes, spam_tie))
    return log_likelihood
