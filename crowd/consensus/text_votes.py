r"""The vote at each position of aligned answers, weighted by each worker's word accuracy.

Model (one coin per worker, open vocabulary). Column ``c`` of a word
network holds ``K_c`` distinct *candidates*: the words the answers put there
and, if some answer has none, the gap. Its true content is one of them or a
word nobody wrote (*other*), all equally likely a priori. A worker with word
accuracy ``a_w`` writes the true content with probability ``a_w``, otherwise
one of the ``K_c`` alternatives, uniformly. So the posterior of candidate
``t`` is

    q_c(t) ∝ exp(Σ_{votes for t} ω_wc),    ω_wc = log(a_w K_c / (1 - a_w)),

with ``other`` at ``exp(0)``: one answer by a worker of accuracy ``a``
gives its word the posterior ``a``. ``ω`` is the Bayes log-odds weight of
:func:`crowd.consensus.reliability.vote_weights`, not clipped: a worker
below chance votes against the word they wrote.

The consensus takes the candidate of highest posterior in every column (on
equal scores a word before the gap, then the alphabetically first word)
and drops the gaps. Each kept word's confidence is its posterior; the
text's confidence is the product over all columns, the probability that
every position is right.

Stability: the probability that one more answer leaves the consensus as it
is. The next worker's accuracy ``a_0`` is unknown: it is each of a few
quantiles of the crowd's fitted accuracies with equal chance (a next worker
better than the ones who answered can outvote one of them). That answer
votes for ``v`` with probability ``a_0 q_c(v) + (1 - a_0)(1 - q_c(v)) / K_c``;
the column flips when ``v`` is not the winner and its score plus ``ω_0``
reaches the winner's. Columns flip independently, and an answer that adds
a word where all others have a gap is not counted.

All arrays are flat over every column of every task: cells (candidates) of
a column are contiguous, columns of a task are contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import FloatArray, IntArray

ACCURACY_FLOOR = 1e-4
"""Word accuracies are kept inside ``[floor, 1 - floor]`` so that every weight is finite."""


@dataclass(frozen=True)
class Ballots:
    """Every cell of every answer in a set of aligned networks, as votes for candidates.

    ``cell_column[k]``: the column of candidate ``k``; ``column_start[c]``:
    its first candidate; ``vote_cell``, ``vote_worker``, ``vote_answer``: per
    vote, the candidate, the worker index and the answer index.
    """

    cell_column: IntArray
    column_start: IntArray
    vote_cell: IntArray
    vote_worker: IntArray
    vote_answer: IntArray

    @property
    def n_columns(self) -> int:
        return len(self.column_start)

    @property
    def n_cells(self) -> int:
        return len(self.cell_column)

    @property
    def column_size(self) -> IntArray:
        """``K_c``: the candidates of each column."""
        size: IntArray = np.diff(np.append(self.column_start, self.n_cells))
        return size

    def weights(self, accuracy: FloatArray) -> FloatArray:
        """``ω`` of every vote, from each worker's word accuracy."""
        a = np.clip(accuracy[self.vote_worker], ACCURACY_FLOOR, 1 - ACCURACY_FLOOR)
        k = self.column_size[self.cell_column[self.vote_cell]]
        weights: FloatArray = np.log(a * k / (1 - a))
        return weights

    def scores(self, accuracy: FloatArray) -> FloatArray:
        """The summed weight of each candidate's votes."""
        scores = np.bincount(self.vote_cell, self.weights(accuracy), minlength=self.n_cells)
        return scores.astype(np.float64, copy=False)


@dataclass(frozen=True)
class Tally:
    """Posteriors of every candidate and the winner of every column."""

    posteriors: FloatArray
    other: FloatArray
    """Per column: the posterior that the true content is a word nobody wrote."""
    winners: IntArray
    """Per column: the winning candidate's cell index."""
    scores: FloatArray


def tally(ballots: Ballots, accuracy: FloatArray) -> Tally:
    """The E-step: candidate posteriors and winners under the given word accuracies."""
    scores = ballots.scores(accuracy)
    if ballots.n_columns == 0:
        empty = np.zeros(0)
        return Tally(empty, empty, np.zeros(0, dtype=np.intp), empty)
    top = np.maximum(np.maximum.reduceat(scores, ballots.column_start), 0.0)
    shifted = np.exp(scores - top[ballots.cell_column])
    other = np.exp(-top)
    total = np.add.reduceat(shifted, ballots.column_start) + other
    winners = _first_best(scores, ballots)
    return Tally(shifted / total[ballots.cell_column], other / total, winners, scores)


def _first_best(scores: FloatArray, ballots: Ballots) -> IntArray:
    """Per column, the first cell of highest score (cells are in tie order)."""
    best = np.maximum.reduceat(scores, ballots.column_start)
    positions = np.arange(ballots.n_cells)
    candidates = np.where(scores == best[ballots.cell_column], positions, ballots.n_cells)
    winners: IntArray = np.minimum.reduceat(candidates, ballots.column_start)
    return winners


def vote_correctness(ballots: Ballots, posteriors: FloatArray) -> FloatArray:
    """The posterior that each vote is right: its candidate's posterior."""
    correct: FloatArray = posteriors[ballots.vote_cell]
    return correct


def flip_probability(ballots: Ballots, result: Tally, next_accuracies: FloatArray) -> FloatArray:
    """Per column: the probability that one more answer changes its winner.

    The next worker's accuracy is each of ``next_accuracies`` with equal chance.
    """
    if ballots.n_columns == 0 or len(next_accuracies) == 0:
        return np.zeros(ballots.n_columns)
    flips = [_flip_by(ballots, result, float(a)) for a in next_accuracies]
    mean: FloatArray = np.mean(flips, axis=0)
    return mean


def _flip_by(ballots: Ballots, result: Tally, next_accuracy: float) -> FloatArray:
    """Per column: the probability that one more answer by a worker of accuracy ``next_accuracy`` flips it."""
    a0 = min(max(next_accuracy, ACCURACY_FLOOR), 1 - ACCURACY_FLOOR)
    size = ballots.column_size.astype(np.float64)
    push = np.maximum(np.log(a0 * size / (1 - a0)), 0.0)
    best = result.scores[result.winners]
    column = ballots.cell_column
    chance = a0 * result.posteriors + (1 - a0) * (1 - result.posteriors) / size[column]
    flips = (result.scores + push[column] >= best[column]) & (np.arange(ballots.n_cells) != result.winners[column])
    by_cell = np.bincount(column, np.where(flips, chance, 0.0), minlength=ballots.n_columns)
    other_chance = a0 * result.other + (1 - a0) * (1 - result.other) / size
    flip = by_cell.astype(np.float64, copy=False) + np.where(push >= best, other_chance, 0.0)
    clipped: FloatArray = np.clip(flip, 0.0, 1.0)
    return clipped
