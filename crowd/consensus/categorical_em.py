r"""Dawid-Skene EM under fixed Dirichlet pseudo-counts: the engine of the rating and multi-label models.

The model is Dawid-Skene's (see :mod:`crowd.consensus.dawid_skene`): task
``i`` has a hidden class ``z_i ~ Categorical(π_g)`` where ``g`` is the
task's *group* (each label of a multi-label project is a group with its own
prevalence; a rating project has one group), and worker ``w`` answers ``l``
with probability ``C_w[z, l]``. What differs from the single-choice fit is
where the smoothing comes from: the caller passes each worker's
pseudo-counts ``A_w`` (workers × K × K), built by the kind's model from the
answers alone (an ordinal centre for ratings, a symmetric cross-label centre
for label sets), and they stay fixed for the whole fit, so EM climbs one
objective::

    J = Σ_i log Z_i + Σ_w Σ_kl A_w[k, l] log C_w[k, l] + b Σ_g Σ_k log π_g[k]

E-step in log space with a max shift (gold tasks clamped to their class,
their evidence the joint of that class); M-step
``C_w[k, l] ∝ N_w[k, l] + A_w[k, l]``, ``π_g[k] ∝ Σ_{i in g} q_i(k) + b``.
Sums over answers run over a layout sorted once by task (``reduceat``), so
the result does not depend on the order of the answer rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray


@dataclass(frozen=True)
class CategoricalFit:
    """Task posteriors, worker matrices and group priors of one fit, with its trace."""

    posteriors: FloatArray
    confusions: FloatArray
    priors: FloatArray
    log_posterior: list[float]
    n_iter: int
    converged: bool


@dataclass(frozen=True)
class SortedAnswers:
    """Answers sorted by task (stable), with each answered task's first row, for order-free sums."""

    tasks: IntArray
    workers: IntArray
    labels: IntArray
    starts: IntArray
    answered: IntArray
    n_tasks: int
    n_workers: int
    n_classes: int

    @classmethod
    def of(cls, answers: AnswerArrays) -> SortedAnswers:
        order = np.lexsort((answers.labels, answers.workers, answers.tasks))
        tasks = answers.tasks[order]
        answered, starts = np.unique(tasks, return_index=True)
        return cls(
            tasks,
            answers.workers[order],
            answers.labels[order],
            starts,
            answered,
            answers.n_tasks,
            answers.n_workers,
            answers.n_classes,
        )

    def log_likelihoods(self, log_confusions: FloatArray) -> FloatArray:
        """``Σ_{answers (i, w, l)} log C_w[:, l]`` per task (tasks × K; 0 for a task without answers)."""
        columns = log_confusions[self.workers, :, self.labels]  # answers × K
        sums = np.zeros((self.n_tasks, self.n_classes))
        if len(self.tasks):
            sums[self.answered] = np.add.reduceat(columns, self.starts, axis=0)
        return sums

    def soft_counts(self, posteriors: FloatArray) -> FloatArray:
        """``N_w[k, l] = Σ_{answers (i, w, l)} q_i(k)``, workers × K × K."""
        k = self.n_classes
        cells = self.workers * k + self.labels
        weights = posteriors[self.tasks]
        counts = np.stack([np.bincount(cells, weights[:, c], self.n_workers * k) for c in range(k)], axis=1)
        by_label: FloatArray = counts.reshape(self.n_workers, k, k).astype(np.float64)  # [w, l, k]
        return by_label.transpose(0, 2, 1)


def _normalised(log_joint: FloatArray) -> tuple[FloatArray, FloatArray]:
    peak = log_joint.max(axis=1, keepdims=True)
    scaled = np.exp(log_joint - peak)
    totals = scaled.sum(axis=1, keepdims=True)
    return scaled / totals, (np.log(totals) + peak)[:, 0]


def fit_categorical(
    answers: SortedAnswers,
    pseudo_counts: FloatArray,
    start: FloatArray,
    groups: IntArray | None = None,
    class_pseudo_count: float = 1.0,
    gold: Mapping[int, int] | None = None,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> CategoricalFit:
    """EM from the task posteriors ``start`` (tasks × K) under fixed pseudo-counts.

    Stops when ``J`` gains less than ``tol`` per answer, or after ``max_iter`` steps.
    """
    task_groups = np.zeros(answers.n_tasks, dtype=np.intp) if groups is None else groups
    n_groups = int(task_groups.max()) + 1 if len(task_groups) else 1
    clamp = _Clamp.of(gold, answers.n_tasks, answers.n_classes)
    posteriors = clamp(start.copy())
    history: list[float] = []
    threshold = tol * max(len(answers.tasks), 1)
    converged = False
    step = 0
    for step in range(1, max_iter + 1):  # noqa: B007 (the last step is reported)
        confusions, priors = _maximise(answers, posteriors, pseudo_counts, task_groups, n_groups, class_pseudo_count)
        log_confusions, log_priors = np.log(confusions), np.log(priors)
        posteriors, evidence = _expect(answers, log_confusions, log_priors[task_groups], clamp)
        objective = (
            evidence + float(np.sum(pseudo_counts * log_confusions)) + class_pseudo_count * float(log_priors.sum())
        )
        if history and objective - history[-1] < threshold:
            history.append(objective)
            converged = True
            break
        history.append(objective)
    return CategoricalFit(posteriors, confusions, priors, history, step, converged)


def _maximise(
    answers: SortedAnswers,
    posteriors: FloatArray,
    pseudo_counts: FloatArray,
    groups: IntArray,
    n_groups: int,
    class_pseudo_count: float,
) -> tuple[FloatArray, FloatArray]:
    counts = answers.soft_counts(posteriors) + pseudo_counts
    confusions = counts / counts.sum(axis=2, keepdims=True)
    k = answers.n_classes
    totals = np.stack([np.bincount(groups, posteriors[:, c], n_groups) for c in range(k)], axis=1) + class_pseudo_count
    return confusions, totals / totals.sum(axis=1, keepdims=True)


def _expect(
    answers: SortedAnswers, log_confusions: FloatArray, task_log_priors: FloatArray, clamp: _Clamp
) -> tuple[FloatArray, float]:
    log_joint = answers.log_likelihoods(log_confusions) + task_log_priors
    posteriors, log_evidence = _normalised(log_joint)
    if len(clamp.tasks):
        log_evidence[clamp.tasks] = log_joint[clamp.tasks, clamp.classes]
        clamp(posteriors)
    return posteriors, float(log_evidence.sum())


@dataclass(frozen=True)
class _Clamp:
    tasks: IntArray
    classes: IntArray

    @classmethod
    def of(cls, gold: Mapping[int, int] | None, n_tasks: int, n_classes: int) -> _Clamp:
        pairs = np.array(sorted((gold or {}).items()), dtype=np.intp).reshape(-1, 2)
        tasks, classes = pairs[:, 0], pairs[:, 1]
        if np.any((tasks < 0) | (tasks >= n_tasks)) or np.any((classes < 0) | (classes >= n_classes)):
            raise ValueError("gold maps task indices in [0, n_tasks) to classes in [0, n_classes)")
        return cls(tasks, classes)

    def __call__(self, posteriors: FloatArray) -> FloatArray:
        posteriors[self.tasks] = 0.0
        posteriors[self.tasks, self.classes] = 1.0
        return posteriors


def vote_shares(answers: SortedAnswers) -> FloatArray:
    """Majority-vote shares per task (uniform for a task without answers): the cold start."""
    counts = np.bincount(
        answers.tasks * answers.n_classes + answers.labels, minlength=answers.n_tasks * answers.n_classes
    )
    shaped = counts.reshape(answers.n_tasks, answers.n_classes).astype(np.float64)
    totals = shaped.sum(axis=1, keepdims=True)
    return np.where(totals > 0, shaped / np.maximum(totals, 1.0), 1.0 / max(answers.n_classes, 1))
