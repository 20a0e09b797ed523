r"""Label sets: Dawid-Skene per label, each worker's matrices centred on their accuracy across labels.

Model. For task ``i`` and label ``j`` the truth ``z_ij`` (present or not) is
``Bernoulli(π_j)``, independently across labels and tasks. Worker ``w``
marks label ``j`` with probability ``se_wj`` when it is present
(sensitivity) and leaves it out with probability ``sp_wj`` when it is
absent (specificity): a 2×2 confusion matrix per worker and label, marks
independent given the truth. So this is Dawid-Skene on the (task, label)
pairs, with (worker, label) matrices and a prevalence per label.

Borrowing strength. Each worker's 2×2 matrices share one Beta prior across
labels, centred on the *symmetric* matrix ``se = sp = a_w``, where ``a_w``
is the worker's agreement with the per-label majority over all their label
judgments, shrunk toward the crowd's by ``accuracy_strength`` judgments;
``shrinkage`` pseudo-answers per row give the centre its weight. A worker's
matrix for label ``j`` departs from ``a_w`` (including towards over- or
under-marking) only as far as that label's own answers carry it.

Why symmetric: without gold, a label's sensitivity, specificity and
prevalence trade off against each other, and free per-label matrices let
EM settle on a "label present" that is not the one asked about (on
``affect_emotions`` free matrices mark twice the gold's positives). A
centre at the worker's overall accuracy keeps each label's decision a
weighted vote until the data, or gold (clamped), show otherwise.

Result per task: per-label posteriors ``p_j``, the chosen set
``{j : p_j > ½}`` (the most probable set under the independence above) and
its probability ``Π_j max(p_j, 1 - p_j)``: the confidence the server
compares with ``confidence_target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.categorical_em import SortedAnswers, fit_categorical, vote_shares
from crowd.consensus.encoding import FloatArray, IntArray, answer_arrays
from crowd.consensus.reliability import spammer_score
from crowd.consensus.worker_quality import WorkerQuality

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MultiLabelParams:
    """A fit's parameters: ``sensitivity`` and ``specificity`` (workers × labels), ``prevalence`` (labels),
    and the newcomer's symmetric accuracy (``newcomer``)."""

    sensitivity: FloatArray
    specificity: FloatArray
    prevalence: FloatArray
    newcomer: float

    @property
    def n_workers(self) -> int:
        return len(self.sensitivity)

    def worker_dict(self, worker: int) -> dict[str, list[float]]:
        return {"sensitivity": self.sensitivity[worker].tolist(), "specificity": self.specificity[worker].tolist()}

    def project_dict(self) -> dict[str, object]:
        return {"prevalence": self.prevalence.tolist(), "newcomer": self.newcomer}

    def to_dict(self) -> dict[str, object]:
        return {"sensitivity": self.sensitivity.tolist(), "specificity": self.specificity.tolist()} | (
            self.project_dict()
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MultiLabelParams:
        prevalence = np.asarray(data["prevalence"], dtype=np.float64)
        n = len(prevalence)
        return cls(
            np.asarray(data["sensitivity"], dtype=np.float64).reshape(-1, n),
            np.asarray(data["specificity"], dtype=np.float64).reshape(-1, n),
            prevalence,
            float(data["newcomer"]),  # type: ignore[arg-type]
        )

    def online(self) -> MultiLabelOnline:
        return MultiLabelOnline.of(self)


@dataclass(frozen=True)
class MultiLabelOnline:
    """Per-label posteriors of one task from its answers, with a fit's parameters.

    ``mark[w, j]`` and ``skip[w, j]`` are the log-likelihood ratios (present
    vs absent) of a mark and of its absence; the last row is the newcomer's.
    """

    mark: FloatArray
    skip: FloatArray
    prior: FloatArray

    @classmethod
    def of(cls, params: MultiLabelParams) -> MultiLabelOnline:
        a = params.newcomer
        sensitivity = np.vstack([params.sensitivity, np.full(len(params.prevalence), a)])
        specificity = np.vstack([params.specificity, np.full(len(params.prevalence), a)])
        mark = np.log(sensitivity) - np.log1p(-specificity)
        skip = np.log1p(-sensitivity) - np.log(specificity)
        return cls(mark, skip, np.log(params.prevalence) - np.log1p(-params.prevalence))

    def posterior(self, workers: npt.ArrayLike, marks: npt.ArrayLike) -> FloatArray:
        """``P(label present)`` per label given the answers: worker indices and their marks (answers × labels)."""
        rows = np.asarray(workers, dtype=np.intp)
        n_known = len(self.mark) - 1
        rows = np.where((rows >= 0) & (rows < n_known), rows, n_known)
        marked = np.asarray(marks, dtype=bool).reshape(len(rows), len(self.prior))
        log_odds = self.prior + np.where(marked, self.mark[rows], self.skip[rows]).sum(axis=0)
        present: FloatArray = 1.0 / (1.0 + np.exp(-log_odds))
        return present


class MultiLabelModel:
    """Fit label-set answers (a boolean mark per label) with the model of this module.

    Fitted: ``posteriors_`` (tasks × labels, ``P(present)``), ``params_``,
    ``log_posterior_``, ``n_iter_``, ``converged_``.
    """

    posteriors_: FloatArray
    params_: MultiLabelParams
    log_posterior_: list[float]
    n_iter_: int
    converged_: bool

    def __init__(
        self,
        shrinkage: float = 64.0,
        alpha: float = 0.1,
        accuracy_strength: float = 10.0,
        prevalence_pseudo_count: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-7,
    ) -> None:
        if shrinkage < 0 or alpha <= 0 or accuracy_strength < 0 or prevalence_pseudo_count < 0 or max_iter < 1:
            raise ValueError("need non-negative strengths and pseudo-counts, alpha > 0, max_iter >= 1")
        self.shrinkage, self.alpha, self.accuracy_strength = shrinkage, alpha, accuracy_strength
        self.prevalence_pseudo_count, self.max_iter, self.tol = prevalence_pseudo_count, max_iter, tol

    def fit(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        marks: npt.ArrayLike,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        gold: Mapping[int, npt.ArrayLike] | None = None,
    ) -> MultiLabelModel:
        """``marks`` is answers × labels (bool); ``gold`` maps task index -> its true marks (clamped)."""
        marked = np.asarray(marks, dtype=bool)
        if marked.ndim != 2 or marked.shape[1] < 1:
            raise ValueError("marks must be a 2-D array: one row per answer, one column per label")
        coded = answer_arrays(tasks, workers, np.zeros(len(marked), dtype=np.intp), n_tasks, n_workers, 1)
        n_labels = marked.shape[1]
        pairs = _label_pairs(coded.tasks, coded.workers, marked, coded.n_tasks, coded.n_workers)
        start = vote_shares(pairs)
        accuracy, crowd = _cross_label_accuracy(pairs, start, n_labels, self.accuracy_strength)
        pseudo = self._pseudo_counts(np.repeat(accuracy, n_labels))
        groups = np.tile(np.arange(n_labels), coded.n_tasks)
        clamp = _gold_pairs(gold, n_labels, coded.n_tasks)
        fit = fit_categorical(
            pairs, pseudo, start, groups, self.prevalence_pseudo_count, clamp, self.max_iter, self.tol
        )
        confusions = fit.confusions.reshape(coded.n_workers, n_labels, 2, 2)
        self.params_ = MultiLabelParams(confusions[:, :, 1, 1], confusions[:, :, 0, 0], fit.priors[:, 1], crowd)
        self.posteriors_ = fit.posteriors[:, 1].reshape(coded.n_tasks, n_labels)
        self.log_posterior_, self.n_iter_, self.converged_ = fit.log_posterior, fit.n_iter, fit.converged
        self._tasks, self._workers, self._marks = coded.tasks, coded.workers, marked
        return self

    def _pseudo_counts(self, accuracy: FloatArray) -> FloatArray:
        """Rows ``z = absent, present``; columns ``unmarked, marked``; centred on ``se = sp = accuracy``."""
        right, wrong = self.shrinkage * accuracy, self.shrinkage * (1.0 - accuracy)
        pseudo = np.empty((len(accuracy), 2, 2))
        pseudo[:, 0, 0], pseudo[:, 0, 1], pseudo[:, 1, 0], pseudo[:, 1, 1] = right, wrong, wrong, right
        return pseudo + self.alpha

    def predict(self) -> BoolArray:
        """The chosen set of each task: the labels with posterior above ½."""
        chosen: BoolArray = self.posteriors_ > 0.5
        return chosen

    def confidence(self) -> FloatArray:
        """Each task's probability of its chosen set (independent labels)."""
        return set_confidence(self.posteriors_)

    def worker_quality(self, level: float = 0.9) -> WorkerQuality:
        """Reliability = expected share of labels judged right (under each label's prevalence); interval from each
        answer's mean soft agreement with the posteriors, one Bernoulli trial per answer."""
        p = self.params_
        reliability = (p.sensitivity * p.prevalence + p.specificity * (1.0 - p.prevalence)).mean(axis=1)
        q = self.posteriors_[self._tasks]
        agreement = np.where(self._marks, q, 1.0 - q).mean(axis=1)
        n_workers = p.n_workers
        soft = np.bincount(self._workers, agreement, n_workers)
        seen = np.bincount(self._workers, minlength=n_workers)
        matrices = np.stack(
            [np.stack([p.specificity, 1 - p.specificity], -1), np.stack([1 - p.sensitivity, p.sensitivity], -1)], -2
        )
        return WorkerQuality.of(reliability, soft, seen, spammer_score(matrices).mean(axis=1), level)


def set_confidence(posteriors: FloatArray) -> FloatArray:
    """``Π_j max(p_j, 1 - p_j)``: the probability of the most probable set, per row."""
    confidence: FloatArray = np.prod(np.maximum(posteriors, 1.0 - posteriors), axis=-1)
    return confidence


def _label_pairs(tasks: IntArray, workers: IntArray, marks: BoolArray, n_tasks: int, n_workers: int) -> SortedAnswers:
    """Answers on (task, label) pairs by (worker, label) rows: class 1 = marked."""
    n_labels = marks.shape[1]
    labels = np.arange(n_labels)
    pair_tasks = (tasks[:, np.newaxis] * n_labels + labels).ravel()
    pair_workers = (workers[:, np.newaxis] * n_labels + labels).ravel()
    coded = answer_arrays(
        pair_tasks, pair_workers, marks.astype(np.intp).ravel(), n_tasks * n_labels, n_workers * n_labels, 2
    )
    return SortedAnswers.of(coded)


def _cross_label_accuracy(
    pairs: SortedAnswers, shares: FloatArray, n_labels: int, strength: float
) -> tuple[FloatArray, float]:
    """Each worker's agreement with the per-label vote shares over all labels, shrunk toward the crowd's."""
    agreement = shares[pairs.tasks, pairs.labels]
    workers = pairs.workers // n_labels
    n_workers = pairs.n_workers // n_labels
    agreed = np.bincount(workers, agreement, n_workers)
    judged = np.bincount(workers, minlength=n_workers).astype(np.float64)
    crowd = float(agreed.sum() / judged.sum()) if judged.sum() else 0.5
    crowd = min(max(crowd, 0.5), 0.99)
    accuracy: FloatArray = np.clip((agreed + strength * crowd) / (judged + strength), 0.01, 0.99)
    return accuracy, crowd


def _gold_pairs(gold: Mapping[int, npt.ArrayLike] | None, n_labels: int, n_tasks: int) -> dict[int, int]:
    pairs: dict[int, int] = {}
    for task, marks in (gold or {}).items():
        row = np.asarray(marks, dtype=bool).reshape(-1)
        if row.shape != (n_labels,) or not 0 <= task < n_tasks:
            raise ValueError(f"gold for task {task} must be {n_labels} marks of a task index in [0, {n_tasks})")
        pairs |= {task * n_labels + j: int(mark) for j, mark in enumerate(row.tolist())}
    return pairs
