"""Worker reliability for the open answer kinds (text, spans, boxes), with a credible interval.

Reliability is on the scale of the kind's gold grading: for text the
share of words right (about ``1 - WER``), for spans token F1, for boxes the
IoU-weighted Jaccard of :func:`~crowd.consensus.box_geometry.grade_boxes`.
Each of the worker's *answers* is scored on that scale against the gold
(gold answers) or against the consensus (other answers): a gold answer
scoring ``s`` counts as ``s`` of a correct Bernoulli trial, a
consensus-scored one as ``s`` of a soft one, and
:func:`crowd.consensus.reliability.reliability_interval` turns the counts
into a Beta posterior (uniform prior) and its equal-tailed interval.
Counting answers rather than words, tokens or boxes keeps the interval
honest: the words of one answer are not independent trials.

The point estimate is that posterior's mean, unless the kind's model
estimates the quantity itself (text: the EM's word accuracy, which is also
the vote's weight).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray
from crowd.consensus.reliability import reliability_interval

INTERVAL_LEVEL = 0.9


@dataclass(frozen=True)
class WorkerReliability:
    """A worker's reliability in ``[0, 1]``, its credible interval, and what it rests on."""

    reliability: float
    low: float
    high: float
    answers: int
    gold_answers: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worker_reliabilities(
    workers: Sequence[Hashable],
    reliability: npt.ArrayLike | None,
    answer_worker: npt.ArrayLike,
    answer_score: npt.ArrayLike,
    answer_is_gold: npt.ArrayLike,
    level: float = INTERVAL_LEVEL,
) -> dict[Hashable, WorkerReliability]:
    """Per worker id: the reliability (``None``: the posterior mean) with the interval of their scored answers.

    ``answer_worker[j]`` is the index into ``workers`` of answer ``j``'s
    author, ``answer_score[j]`` its score in ``[0, 1]``, ``answer_is_gold[j]``
    whether it was scored against gold.
    """
    n = len(workers)
    owner = np.asarray(answer_worker, dtype=np.intp)
    score = np.clip(np.asarray(answer_score, dtype=np.float64), 0.0, 1.0)
    gold = np.asarray(answer_is_gold, dtype=bool)
    gold_correct, gold_seen = _sums(owner[gold], score[gold], n)
    soft_correct, soft_seen = _sums(owner[~gold], score[~gold], n)
    low, high = reliability_interval(gold_correct, gold_seen, soft_correct, soft_seen, level=level)
    if reliability is None:
        point = (1.0 + gold_correct + soft_correct) / (2.0 + gold_seen + soft_seen)
    else:
        point = np.asarray(reliability, dtype=np.float64)
    return {
        worker: WorkerReliability(
            float(point[w]), float(low[w]), float(high[w]), int(gold_seen[w] + soft_seen[w]), int(gold_seen[w])
        )
        for w, worker in enumerate(workers)
    }


def _sums(owner: npt.NDArray[np.intp], score: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    correct = np.bincount(owner, score, minlength=n).astype(np.float64)
    seen = np.bincount(owner, minlength=n).astype(np.float64)
    return correct, seen


def sort_key(identifier: Hashable) -> tuple[str, str]:
    """An order on ids of any type (type name, then text), so that fits do not depend on row order."""
    return type(identifier).__name__, str(identifier)


NEXT_WORKER_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Quantiles of the crowd's skill that stand for "the next worker" in the stability estimates."""


def crowd_quantiles(skill: npt.ArrayLike, weight: npt.ArrayLike) -> tuple[float, ...]:
    """The :data:`NEXT_WORKER_LEVELS` quantiles of the workers' skills, each worker weighted by their work."""
    values = np.asarray(skill, dtype=np.float64)
    return tuple(float(values[i]) for i in representative_workers(values, weight))


def representative_workers(skill: npt.ArrayLike, weight: npt.ArrayLike) -> list[int]:
    """The workers at the :data:`NEXT_WORKER_LEVELS` quantiles of skill, each worker weighted by their work."""
    values, weights = np.asarray(skill, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    candidates = np.flatnonzero(weights > 0)
    if not candidates.size:
        return []
    order = candidates[np.argsort(values[candidates], kind="stable")]
    cumulative = np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, np.array(NEXT_WORKER_LEVELS) * cumulative[-1])
    return [int(order[p]) for p in np.minimum(positions, len(order) - 1)]
