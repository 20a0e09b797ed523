r"""Dawid-Skene consensus, fitted by EM on integer-coded answers.

Model (Dawid & Skene, 1979). Task ``i`` has a hidden true class
``z_i ~ Categorical(π)``. Worker ``w`` answering a task of class ``k`` gives
label ``l`` with probability ``C_w[k, l]`` (row ``k`` of the worker's
confusion matrix sums to one). Answers are independent given the true class.

E-step — the posterior of each task, in log space::

    log q_i(k) = log π_k + Σ_{answers (i, w, l)} log C_w[k, l] - log Z_i
    log Z_i    = logsumexp_k (log π_k + Σ log C_w[k, l])

``log Z_i`` is the task's log-evidence; a task without answers gets the prior.
A gold task is clamped: ``q_i`` is one-hot on its known class, and its
evidence is the joint ``log π_g + Σ log C_w[g, l]``.

M-step — soft counts, smoothed by Dirichlet pseudo-counts::

    N_w[k, l] = Σ_{answers (i, w, l)} q_i(k)
    C_w[k, l] = (N_w[k, l] + a_kl) / Σ_l' (N_w[k, l'] + a_kl')
    π_k       = (Σ_i q_i(k) + b) / (n_tasks + K b)

These are the MAP estimates under Dirichlet priors with parameters ``a + 1``
and ``b + 1``, so EM never decreases the objective

    J = Σ_i log Z_i + Σ_w Σ_kl a_kl log C_w[k, l] + b Σ_k log π_k,

which ``log_likelihood_`` records after each step.

Empirical-Bayes pseudo-counts (:mod:`crowd.consensus.prior`):
``a_w = alpha + shrinkage · M_w`` where ``M_w`` is the crowd's pooled
confusion matrix under the majority vote with its diagonal moved by worker
``w``'s measured skill, and ``b = alpha_prior``. A worker with few answers
thus looks like a crowd member of their own skill rather than like a generic
one, which matters most for rare classes and sparse workers. ``a`` depends on
the answers only, not on the starting point, so ``J`` is a proper objective
and a warm start climbs the same one as a cold start. The matrix of a worker
without answers (skill 0: the pooled matrix, smoothed) is kept as
``newcomer``.

Start: the majority-vote shares (gold clamped), or the E-step of a previous
fit's parameters (warm start). Steps: plain EM, or SQUAREM cycles
(:mod:`crowd.consensus.acceleration`) that extrapolate two EM steps and keep
the jump only if it does not lower ``J``. Stop: when a kept step raises ``J``
by less than ``tol`` per answer, or after ``max_iter`` EM steps. Both steps
are sums over answers laid out once per fit (:mod:`crowd.consensus.layout`),
so the result does not depend on the order of the answer rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from crowd.consensus.acceleration import Iterate, run_em
from crowd.consensus.encoding import AnswerArrays, FloatArray, IntArray, answer_arrays
from crowd.consensus.layout import AnswerLayout
from crowd.consensus.majority import vote_counts, vote_shares, winning_classes
from crowd.consensus.prior import DirichletPrior, Smoothing

__all__ = [
    "AnswerLayout",
    "DSParams",
    "DawidSkene",
    "DirichletPrior",
    "Gold",
    "Smoothing",
    "e_step",
    "em_step",
    "m_step",
    "majority_posteriors",
    "soft_confusion_counts",
    "task_log_joint",
]


@dataclass(frozen=True)
class DSParams:
    """Fitted worker models and class priors.

    ``confusions[w, k, l] = P(worker w answers l | true class k)``; ``newcomer``
    is the matrix assumed for a worker the fit has never seen.
    """

    confusions: FloatArray
    priors: FloatArray
    newcomer: FloatArray


@dataclass(frozen=True)
class Gold:
    """Tasks whose true class is known, as parallel index arrays."""

    tasks: IntArray
    classes: IntArray

    @classmethod
    def from_mapping(cls, gold: Mapping[int, int] | None, n_tasks: int, n_classes: int) -> Gold:
        pairs = np.array(sorted((gold or {}).items()), dtype=np.intp).reshape(-1, 2)
        tasks, classes = pairs[:, 0], pairs[:, 1]
        if np.any((tasks < 0) | (tasks >= n_tasks)) or np.any((classes < 0) | (classes >= n_classes)):
            raise ValueError("gold maps task indices in [0, n_tasks) to classes in [0, n_classes)")
        return cls(tasks, classes)

    def clamp(self, posteriors: FloatArray) -> FloatArray:
        """Set the gold tasks' posteriors to one-hot on their known class."""
        posteriors[self.tasks] = 0.0
        posteriors[self.tasks, self.classes] = 1.0
        return posteriors


def task_log_joint(layout: AnswerLayout, log_confusions: FloatArray, log_priors: FloatArray) -> FloatArray:
    """``log π_k + Σ_{answers (i, w, l)} log C_w[k, l]`` for every task, ``n_tasks × K``."""
    # Row ``w * K + l`` of log_cells is the column ``log C_w[:, l]``.
    n_cells = layout.n_workers * layout.n_classes
    log_cells = log_confusions.transpose(0, 2, 1).reshape(n_cells, layout.n_classes)
    per_answer = np.take(log_cells, layout.cells_by_task, axis=0)
    log_joint = layout.task_sums.sums(per_answer)
    log_joint += log_priors
    return log_joint


def normalise_log(log_joint: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Posteriors ``exp(log_joint - log Z)`` and log-evidences ``log Z``, row by row.

    Each row is shifted by its maximum before exponentiating, so the largest
    term is ``exp(0) = 1`` and nothing underflows to an all-zero row. The work
    runs on the class-major transpose, where reductions over the few classes
    are contiguous and several times faster.
    """
    by_class = log_joint.T.copy()
    shift = by_class.max(axis=0, initial=-np.inf)
    by_class -= shift
    np.exp(by_class, out=by_class)
    totals = by_class.sum(axis=0)
    by_class /= totals
    np.log(totals, out=totals)
    totals += shift
    return np.ascontiguousarray(by_class.T), totals


def e_step(layout: AnswerLayout, params: DSParams, gold: Gold) -> tuple[FloatArray, float]:
    """Task posteriors ``q`` (gold clamped) and the data log-likelihood ``Σ_i log Z_i``."""
    return _e_step(layout, np.log(params.confusions), np.log(params.priors), gold)


def _e_step(
    layout: AnswerLayout, log_confusions: FloatArray, log_priors: FloatArray, gold: Gold
) -> tuple[FloatArray, float]:
    """:func:`e_step` from the logarithms, which :func:`em_step` also needs for ``J``."""
    log_joint = task_log_joint(layout, log_confusions, log_priors)
    posteriors, log_evidence = normalise_log(log_joint)
    log_evidence[gold.tasks] = log_joint[gold.tasks, gold.classes]
    return gold.clamp(posteriors), float(log_evidence.sum())


def soft_confusion_counts(layout: AnswerLayout, posteriors: FloatArray) -> FloatArray:
    """``N_w[k, l] = Σ_{answers (i, w, l)} q_i(k)``, shape ``n_workers × K × K``."""
    per_answer = np.take(posteriors, layout.tasks_by_cell, axis=0)
    by_cell = layout.cell_sums.sums(per_answer)  # row w * K + l holds N_w[:, l]
    return by_cell.reshape(layout.n_workers, layout.n_classes, layout.n_classes).transpose(0, 2, 1)


def m_step(layout: AnswerLayout, posteriors: FloatArray, prior: DirichletPrior) -> DSParams:
    """Maximum a posteriori confusion matrices and class priors given the posteriors."""
    counts = soft_confusion_counts(layout, posteriors) + prior.confusion
    counts /= counts.sum(axis=2, keepdims=True)
    # Summed over the class-major copy: numpy reduces a (tasks × K) array over its
    # long axis several times slower than a (K × tasks) one over its rows.
    class_totals = np.ascontiguousarray(posteriors.T).sum(axis=1) + prior.classes
    return DSParams(confusions=counts, priors=class_totals / class_totals.sum(), newcomer=prior.newcomer())


def em_step(
    layout: AnswerLayout, posteriors: FloatArray, gold: Gold, prior: DirichletPrior
) -> tuple[DSParams, FloatArray, float]:
    """One EM iteration: M-step from ``posteriors``, then E-step.

    Returns the new parameters, their posteriors and their objective ``J``.
    """
    params = m_step(layout, posteriors, prior)
    log_confusions, log_priors = np.log(params.confusions), np.log(params.priors)
    new_posteriors, log_likelihood = _e_step(layout, log_confusions, log_priors, gold)
    return params, new_posteriors, log_likelihood + prior.log_density(log_confusions, log_priors)


def majority_posteriors(answers: AnswerArrays, gold: Gold) -> FloatArray:
    """The cold start: majority-vote shares, gold clamped."""
    return gold.clamp(vote_shares(vote_counts(answers)))


def warm_posteriors(layout: AnswerLayout, init: DSParams, gold: Gold) -> FloatArray:
    """The warm start: the E-step of a previous fit's parameters.

    Workers the previous fit did not know (indices past its matrices) get its
    ``newcomer`` matrix.
    """
    n_new = layout.n_workers - len(init.confusions)
    newcomers = np.broadcast_to(init.newcomer, (max(n_new, 0), *init.newcomer.shape))
    params = DSParams(np.concatenate([init.confusions, newcomers]), init.priors, init.newcomer)
    return e_step(layout, params, gold)[0]


def _covering(answers: AnswerArrays, init: DSParams) -> AnswerArrays:
    """``answers`` with room for every worker of ``init``, whose class count must match."""
    if init.confusions.shape[1:] != (answers.n_classes, answers.n_classes):
        raise ValueError(f"init has {len(init.priors)} classes, the answers {answers.n_classes}")
    return replace(answers, n_workers=max(answers.n_workers, len(init.confusions)))


class DawidSkene:
    """Dawid-Skene EM with empirical-Bayes smoothing, gold clamping and warm start.

    Hyper-parameters (one default setting for every benchmark set):
    ``max_iter`` EM steps at most; stop when the objective grows by less than
    ``tol`` per answer; ``alpha`` pseudo-count in every confusion cell;
    ``shrinkage`` pseudo-answers per confusion row spread like the worker's
    centre (the crowd's pooled row at the worker's skill); ``alpha_prior``
    pseudo-count on each class prior; ``skill_precision`` of the skills'
    normal prior (``inf``: every worker shrinks toward the pooled matrix
    itself); ``accelerate`` SQUAREM (``False``: plain EM, one step at a time).

    Fitted attributes: ``posteriors_`` (tasks × K), ``confusions_``
    (workers × K × K), ``priors_`` (K), ``newcomer_`` (K × K, for unseen
    workers), ``n_iter_`` (EM steps run, rejected SQUAREM jumps included),
    ``log_likelihood_`` (the objective of each kept step, non-decreasing),
    ``converged_``. ``posteriors_`` is the E-step of the fitted parameters,
    so an online step with ``params_`` reproduces any row of it.
    """

    posteriors_: FloatArray
    confusions_: FloatArray
    priors_: FloatArray
    newcomer_: FloatArray
    n_iter_: int
    log_likelihood_: list[float]
    converged_: bool

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-5,
        alpha: float = 0.1,
        shrinkage: float = 8.0,
        alpha_prior: float = 1.0,
        *,
        skill_precision: float = 0.5,
        accelerate: bool = True,
    ) -> None:
        if max_iter < 1 or alpha <= 0 or shrinkage < 0 or alpha_prior < 0 or not skill_precision > 0:
            raise ValueError("need max_iter >= 1, alpha > 0, shrinkage >= 0, alpha_prior >= 0, skill_precision > 0")
        self.max_iter = max_iter
        self.tol = tol
        self.accelerate = accelerate
        self.smoothing = Smoothing(alpha, shrinkage, alpha_prior, skill_precision)

    def fit(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        labels: npt.ArrayLike,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_classes: int | None = None,
        gold: Mapping[int, int] | None = None,
        init: DSParams | None = None,
    ) -> DawidSkene:
        """Fit on parallel index arrays; ``gold`` maps task index -> class index.

        ``init`` (for example ``previous.params_``) replaces the majority-vote
        start. It may cover fewer workers than this fit: worker indices past
        its matrices are new workers and start from its ``newcomer`` matrix.
        """
        if init is not None and n_classes is None:
            n_classes = len(init.priors)
        answers = answer_arrays(tasks, workers, labels, n_tasks, n_workers, n_classes)
        if answers.n_tasks and not answers.n_classes:
            raise ValueError("n_classes must be positive when there are tasks")
        if init is not None:
            answers = _covering(answers, init)
        layout = AnswerLayout.of(answers)
        clamped = Gold.from_mapping(gold, answers.n_tasks, answers.n_classes)
        votes = majority_posteriors(answers, clamped)
        prior = self.smoothing.prior_for(soft_confusion_counts(layout, votes))
        start = votes if init is None else warm_posteriors(layout, init, clamped)
        self._iterate(layout, clamped, prior, start)
        return self

    def _iterate(self, layout: AnswerLayout, gold: Gold, prior: DirichletPrior, posteriors: FloatArray) -> None:
        """EM steps from ``posteriors`` under a prior fixed for the whole fit."""

        def step(current: FloatArray) -> Iterate[DSParams]:
            return Iterate(*em_step(layout, current, gold, prior))

        threshold = self.tol * max(layout.n_answers, 1)
        trace = run_em(step, posteriors, self.max_iter, threshold, self.accelerate)
        params = trace.last.params
        self.confusions_, self.priors_, self.newcomer_ = params.confusions, params.priors, params.newcomer
        self.posteriors_, self.log_likelihood_ = trace.last.posteriors, trace.history
        self.n_iter_, self.converged_ = trace.steps, trace.converged

    @property
    def params_(self) -> DSParams:
        """The fitted parameters, to warm-start the next fit or to score answers online."""
        return DSParams(self.confusions_, self.priors_, self.newcomer_)

    def predict(self) -> IntArray:
        """The most probable class of each task (smallest index on ties)."""
        return winning_classes(self.posteriors_)

    def predict_proba(self) -> FloatArray:
        """The task posteriors, ``n_tasks × K``."""
        return self.posteriors_
