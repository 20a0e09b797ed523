"""The online Dawid-Skene step and the dynamic overlap rule.

Between full fits, the server scores each new answer with the last fitted
worker models: the posterior of one task is the E-step of that task alone,

    q(k) ∝ π_k · Π_{answers (w, l)} C_w[k, l],

computed in log space with a max shift. With the parameters of a fit it
equals that fit's posterior for the task (to ~1e-12: the fit sums
log-likelihoods on a fine grid so that its sums are exact). A worker the fit never saw
(index :data:`UNKNOWN_WORKER`, or any index past the fitted matrices) is
scored with the fit's ``newcomer`` matrix: what the fit's smoothing gives a
worker without answers, i.e. the crowd's pooled confusion matrix, shrunk.

Deciding when to stop asking, a project may also weigh each answer's
log-likelihood by how much it knows the worker (:func:`evidence_weights`):
``n / (n + half)`` for a worker with ``n`` answers in the project. A fitted
matrix is a point estimate; from a handful of answers it can make a worker
look near-perfect, and two such workers agreeing would complete a task that
a crowd of known workers would have contested. Weighted, an answer counts in
full only from a worker the model has seen many times.
``bench/dynamic_overlap.py`` measures what that saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.dawid_skene import DSParams
from crowd.consensus.encoding import FloatArray

UNKNOWN_WORKER = -1
"""Worker index for a worker the fitted models do not cover."""
EVIDENCE_HALF = 30.0
"""Default ``half`` of :func:`evidence_weights`: after 30 answers a worker's answers count half (a project's
``evidence_half`` setting is 0, off, unless the operator sets it)."""


def evidence_weights(answers: npt.ArrayLike, half: float = EVIDENCE_HALF) -> FloatArray:
    """``n / (n + half)`` for each count ``n`` of the answering worker's answers: 0 for a stranger, → 1 for a veteran.

    ``half = 0`` weighs every answer in full (the plain posterior).
    """
    counts = np.maximum(np.asarray(answers, dtype=np.float64), 0.0)
    if half == 0:
        return np.ones_like(counts)
    if half < 0:
        raise ValueError("half must be >= 0")
    weights: FloatArray = counts / (counts + half)
    return weights


@dataclass(frozen=True)
class OnlineModel:
    """Fitted worker models in the form an online step reads fastest.

    ``log_columns[w, l]`` is the vector ``log C_w[:, l]`` over true classes;
    the extra last worker row holds the newcomer matrix.
    """

    log_columns: FloatArray
    log_priors: FloatArray

    @classmethod
    def of(cls, params: DSParams) -> OnlineModel:
        confusions = np.concatenate([params.confusions, params.newcomer[np.newaxis]])
        return cls(np.log(confusions).transpose(0, 2, 1).copy(), np.log(params.priors))

    @property
    def n_workers(self) -> int:
        """Workers with a fitted matrix (the newcomer row excluded)."""
        return len(self.log_columns) - 1

    def posterior(
        self, workers: npt.ArrayLike, labels: npt.ArrayLike, weights: npt.ArrayLike | None = None
    ) -> FloatArray:
        """The posterior over classes of one task given its answers (parallel index arrays).

        ``weights`` (one per answer, e.g. :func:`evidence_weights`) scale each
        answer's log-likelihood; without them every answer counts in full.
        """
        rows = np.asarray(workers, dtype=np.intp)
        known = (rows >= 0) & (rows < self.n_workers)
        columns = self.log_columns[np.where(known, rows, self.n_workers), np.asarray(labels, dtype=np.intp)]
        if weights is not None:
            columns = columns * np.asarray(weights, dtype=np.float64)[:, np.newaxis]
        log_joint = self.log_priors + columns.sum(axis=0)
        scaled = np.exp(log_joint - log_joint.max())
        posterior: FloatArray = scaled / scaled.sum()
        return posterior


@dataclass(frozen=True)
class OverlapDecision:
    """What to do with a task after an answer.

    ``label`` and ``confidence`` are the current top class and its posterior
    probability, whether or not the task is complete. When it is not,
    ``target_overlap`` is the number of answers to collect now.
    """

    complete: bool
    label: int
    confidence: float
    target_overlap: int


def decide_overlap(
    posterior: npt.ArrayLike,
    answers: int,
    min_overlap: int,
    max_overlap: int,
    confidence_target: float,
    target_overlap: int,
) -> OverlapDecision:
    """The dynamic overlap rule.

    Complete when ``answers >= max_overlap``, or when ``answers >= min_overlap``
    and the top posterior reaches ``confidence_target``. Otherwise the target
    overlap becomes ``max(target_overlap, min_overlap, answers + 1)``, capped at
    ``max_overlap``: it grows by one once the answers have caught up with it,
    and stays put while leased slots are still outstanding.
    """
    if not 1 <= min_overlap <= max_overlap:
        raise ValueError("need 1 <= min_overlap <= max_overlap")
    probabilities = np.asarray(posterior, dtype=np.float64)
    label = int(np.argmax(probabilities))
    confidence = float(probabilities[label])
    complete = answers >= max_overlap or (answers >= min_overlap and confidence >= confidence_target)
    if complete:
        return OverlapDecision(True, label, confidence, target_overlap)
    grown = min(max_overlap, max(target_overlap, min_overlap, answers + 1))
    return OverlapDecision(False, label, confidence, grown)
