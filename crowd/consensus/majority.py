"""Majority vote and reliability-weighted vote.

For task ``i`` the (weighted) vote for class ``k`` is

    v_i(k) = Σ_{answers (i, w, l)} ω_w · [l = k]

with ``ω_w = 1`` for the plain majority vote. The posterior is the vote
share ``v_i(k) / Σ_k' v_i(k')``; a task with no (weighted) votes gets the
uniform distribution. Repeated answers by one worker on one task each count.

Tie rule: the winner is the class with the smallest index among those with the
most votes — with classes in sorted label order, the first label
alphabetically. The rule is deterministic and independent of answer order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray, answer_arrays


def vote_counts(answers: AnswerArrays, weights: FloatArray | None = None) -> FloatArray:
    """The ``n_tasks × n_classes`` matrix of (weighted) votes ``v_i(k)``."""
    cells = answers.tasks * answers.n_classes + answers.labels
    votes = None if weights is None else weights[answers.workers]
    counts = np.bincount(cells, weights=votes, minlength=answers.n_tasks * answers.n_classes)
    by_task: FloatArray = counts.astype(np.float64, copy=False).reshape(answers.n_tasks, answers.n_classes)
    return by_task


def vote_shares(votes: FloatArray) -> FloatArray:
    """Normalise votes per task; tasks without votes get the uniform distribution."""
    totals = votes.sum(axis=1, keepdims=True)
    shares: FloatArray = np.full_like(votes, 1.0 / max(votes.shape[1], 1))
    np.divide(votes, totals, out=shares, where=totals > 0)
    return shares


def winning_classes(posteriors: FloatArray) -> IntArray:
    """The most probable class of each task; the smallest index on ties (what ``np.argmax`` picks)."""
    if posteriors.shape[1] == 0:  # no classes: only possible with no tasks either
        return np.zeros(len(posteriors), dtype=np.intp)
    winners: IntArray = np.argmax(posteriors, axis=1)
    return winners


class MajorityVote:
    """(Weighted) majority vote with the smallest-class-index tie rule.

    ``fit(..., weights=w)`` gives worker ``j`` a vote of weight ``w[j] ≥ 0``
    (for example its reliability, or the one-coin log-odds of
    :func:`crowd.consensus.reliability.vote_weights`); without weights every
    answer counts one.
    """

    posteriors_: FloatArray

    def fit(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        labels: npt.ArrayLike,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_classes: int | None = None,
        weights: npt.ArrayLike | None = None,
    ) -> MajorityVote:
        answers = answer_arrays(tasks, workers, labels, n_tasks, n_workers, n_classes)
        self.posteriors_ = vote_shares(vote_counts(answers, _worker_weights(weights, answers.n_workers)))
        return self

    def predict(self) -> IntArray:
        """The winning class of each task (the smallest index on ties)."""
        return winning_classes(self.posteriors_)

    def predict_proba(self) -> FloatArray:
        """The vote shares, ``n_tasks × n_classes``."""
        return self.posteriors_


def _worker_weights(weights: npt.ArrayLike | None, n_workers: int) -> FloatArray | None:
    if weights is None:
        return None
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n_workers,) or not np.all(array >= 0):
        raise ValueError(f"weights must be {n_workers} non-negative numbers, one per worker")
    return array
