"""Pairwise and ranking consensus, in one call: scores with intervals and ranks, unit winners, worker quality.

This is what the server calls for ``pairwise`` and ``ranking`` projects:

* :func:`fit_pairwise` — the full fit (:mod:`crowd.consensus.bradley_terry`)
  and every unit's winner posterior (:mod:`crowd.consensus.pair_posterior`);
* :func:`item_ranking` — ``GET /projects/{id}/ranking``: score, interval, rank;
* :func:`rank_task` — a ranking task's consensus order and its confidence;
* :class:`~crowd.consensus.pair_posterior.PairwiseOnline` — one unit's
  posterior between fits; :func:`~crowd.consensus.pair_posterior.information_gain`
  — ``routing=informative``.

Worker reliability for comparisons is the probability of answering a clear
pair right, ``η + (1 - η)(1 - t)/2`` (engaged, or a lucky guess), with its
Beta interval over the soft count of engaged answers; the spammer score is
:func:`~crowd.consensus.reliability.spammer_score` of the implied answer
matrix, ``η²`` without ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from crowd.consensus.bradley_terry import CrowdBradleyTerry, PairwiseParams, PairwiseSettings
from crowd.consensus.comparisons import Comparisons
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.pair_posterior import fitted_unit_answers, winner_posteriors
from crowd.consensus.reliability import spammer_score
from crowd.consensus.worker_quality import WorkerQuality

FIRST, TIED, SECOND = 0, 1, 2
"""Columns of a unit's winner posterior."""


@dataclass(frozen=True)
class ItemRanking:
    """Per item: ``scores``, a credible interval ``low``..``high`` and ``ranks`` (1 = best; equal scores share the
    better rank's order by item index)."""

    scores: FloatArray
    low: FloatArray
    high: FloatArray
    ranks: IntArray


def item_ranking(params: PairwiseParams, level: float = 0.9) -> ItemRanking:
    """Scores with equal-tailed Laplace intervals at ``level``, and ranks by score."""
    z = NormalDist().inv_cdf((1.0 + level) / 2.0)
    spread = z * np.sqrt(params.variances)
    order = np.lexsort((np.arange(len(params.scores)), -params.scores))
    ranks = np.empty(len(order), dtype=np.intp)
    ranks[order] = np.arange(1, len(order) + 1)
    return ItemRanking(params.scores, params.scores - spread, params.scores + spread, ranks)


@dataclass(frozen=True)
class PairwiseResult:
    """A full fit: parameters, each unit's winner posterior (units × 3: first, tie, second), ranking, workers."""

    params: PairwiseParams
    posteriors: FloatArray
    ranking: ItemRanking
    quality: WorkerQuality
    n_iter: int
    converged: bool

    def winners(self) -> IntArray:
        """Each unit's most probable outcome (:data:`FIRST`, :data:`TIED` or :data:`SECOND`)."""
        winners: IntArray = np.argmax(self.posteriors, axis=1)
        return winners

    def confidences(self) -> FloatArray:
        """Each unit's probability of its winner: the dynamic-overlap signal."""
        confidences: FloatArray = self.posteriors.max(axis=1)
        return confidences


def fit_pairwise(
    comparisons: Comparisons,
    gold: Mapping[int, int] | None = None,
    settings: PairwiseSettings | None = None,
    level: float = 0.9,
) -> PairwiseResult:
    """Fit and summarise; ``gold`` maps unit index to its known outcome (0 first, 1 second, 2 tie), clamped."""
    model = CrowdBradleyTerry(settings).fit(comparisons, gold)
    params = model.params_
    posteriors = winner_posteriors(fitted_unit_answers(comparisons, params), params.cavity, params.tie, params.spam_tie)
    for unit, outcome in (gold or {}).items():
        posteriors[unit] = np.eye(3)[(FIRST, SECOND, TIED)[outcome]]
    quality = pairwise_quality(params, comparisons.workers, model.engaged_answers_, level)
    return PairwiseResult(params, posteriors, item_ranking(params, level), quality, model.n_iter_, model.converged_)


def pairwise_quality(
    params: PairwiseParams, workers: npt.ArrayLike, engaged_answers: FloatArray, level: float = 0.9
) -> WorkerQuality:
    """Reliability ``η + (1 - η)(1 - t)/2`` per worker, its interval from the engaged answers' soft count."""
    who = np.asarray(workers, dtype=np.intp)
    n = len(params.engaged)
    guess = (1.0 - params.spam_tie) / 2.0
    engaged_quality = WorkerQuality.of(
        params.engaged,
        np.bincount(who, engaged_answers, n),
        np.bincount(who, minlength=n),
        spammer_score(_answer_matrices(params.engaged, params.spam_tie)),
        level,
        _prior_counts(params),
    )
    return WorkerQuality(
        reliability=params.engaged + (1.0 - params.engaged) * guess,
        low=engaged_quality.low + (1.0 - engaged_quality.low) * guess,
        high=engaged_quality.high + (1.0 - engaged_quality.high) * guess,
        spammer=engaged_quality.spammer,
        answers=engaged_quality.answers,
    )


def _prior_counts(params: PairwiseParams) -> tuple[float, float]:
    a, b = params.engaged_prior
    return a + 1.0, b + 1.0


def _answer_matrices(engaged: FloatArray, spam_tie: float) -> FloatArray:
    """``P(answer | clear winner)`` per worker: rows the better side (left, right), columns left, right, tie."""
    guess, tie = (1.0 - spam_tie) / 2.0, spam_tie
    e = engaged[:, np.newaxis]
    left = np.hstack([e + (1 - e) * guess, (1 - e) * guess, (1 - e) * tie])
    right = np.hstack([(1 - e) * guess, e + (1 - e) * guess, (1 - e) * tie])
    return np.stack([left, right], axis=1)


@dataclass(frozen=True)
class TaskOrder:
    """A ranking task's consensus order (item indices, best first) and its confidence."""

    order: IntArray
    confidence: float


def rank_task(items: npt.ArrayLike, beats: FloatArray, scores: npt.ArrayLike | None = None) -> TaskOrder:
    """Order a ranking task's items by expected wins within the task; confidence = the weakest adjacent pair.

    ``beats[i, j]`` is the posterior probability that ``items[i]`` beats
    ``items[j]`` (a tie counted half), from the task's unit posteriors.
    Equal expected wins go to the higher global score, then the lower index.
    The confidence is ``min`` over neighbours in the order of
    ``P(earlier beats later)``: every adjacent pair must be sure for the
    order to be.
    """
    chosen = np.asarray(items, dtype=np.intp)
    global_scores = np.zeros(len(chosen)) if scores is None else np.asarray(scores, dtype=np.float64)[chosen]
    wins = beats.sum(axis=1) - np.diagonal(beats)
    order = np.lexsort((np.arange(len(chosen)), -global_scores, -wins))
    adjacent = beats[order[:-1], order[1:]]
    return TaskOrder(chosen[order], float(adjacent.min()) if len(adjacent) else 1.0)


def beats_matrix(n_items: int, pairs: npt.ArrayLike, posteriors: FloatArray) -> FloatArray:
    """``beats[i, j]`` for a task's ``n_items`` local items from its units: ``pairs[u] = (i, j)`` local indices of
    the unit's first and second item, ``posteriors[u]`` its (first, tie, second) posterior."""
    local = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    beats = np.full((n_items, n_items), 0.5)
    first_wins = posteriors[:, FIRST] + 0.5 * posteriors[:, TIED]
    beats[local[:, 0], local[:, 1]] = first_wins
    beats[local[:, 1], local[:, 0]] = 1.0 - first_wins
    return beats
