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
``a_w = alpha + s · M_w`` (``s`` the ``shrinkage``, or learned from the
crowd when it is ``None``) where ``M_w`` is the crowd's pooled
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
by less than ``tol`` per answer or moves the posteriors by less than
``posterior_tol`` (mean total-variation distance per task: the expected
number of correct labels moved by less than that share of the tasks), or
after ``max_iter`` EM steps. Both steps are sums over answers laid out once
per fit (:mod:`crowd.consensus.layout`), run in layout order by
:mod:`crowd.consensus.em`, so the result does not depend on the order of the
answer rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from crowd.consensus.acceleration import Convergence, Iterate, run_em
from crowd.consensus.em import (
    DSParams,
    EMStep,
    Gold,
    LaidOutAnswers,
    by_cell,
    by_worker,
    confusion_counts,
    warm_start,
)
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

# The steps one at a time, tasks indexed as in the answers; the fit runs them in layout order (crowd.consensus.em).


def task_log_joint(layout: AnswerLayout, log_confusions: FloatArray, log_priors: FloatArray) -> FloatArray:
    """``log π_k + Σ_{answers (i, w, l)} log C_w[k, l]`` for every task, ``n_tasks × K``."""
    answers = LaidOutAnswers.of(layout, Gold.from_mapping(None, layout.n_tasks, layout.n_classes))
    log_cells = by_cell(log_confusions).reshape(layout.n_cells, layout.n_classes)
    return layout.restore(answers.log_joint(log_cells, log_priors))


def e_step(layout: AnswerLayout, params: DSParams, gold: Gold) -> tuple[FloatArray, float]:
    """Task posteriors ``q`` (gold clamped) and the data log-likelihood ``Σ_i log Z_i``."""
    posteriors, log_likelihood = LaidOutAnswers.of(layout, gold).e_step_of(params)
    return layout.restore(posteriors), log_likelihood


def soft_confusion_counts(layout: AnswerLayout, posteriors: FloatArray) -> FloatArray:
    """``N_w[k, l] = Σ_{answers (i, w, l)} q_i(k)``, shape ``n_workers × K × K``."""
    answers = LaidOutAnswers.of(layout, Gold.from_mapping(None, layout.n_tasks, layout.n_classes))
    return confusion_counts(answers.soft_counts(layout.arrange(posteriors)), layout)


def m_step(layout: AnswerLayout, posteriors: FloatArray, prior: DirichletPrior) -> DSParams:
    """Maximum a posteriori confusion matrices and class priors given the posteriors."""
    answers = LaidOutAnswers.of(layout, Gold.from_mapping(None, layout.n_tasks, layout.n_classes))
    step = EMStep.of(answers, prior)
    cells, priors = step.maximise(layout.arrange(posteriors))
    return DSParams(by_worker(cells), priors, step.newcomer)


def em_step(
    layout: AnswerLayout, posteriors: FloatArray, gold: Gold, prior: DirichletPrior
) -> tuple[DSParams, FloatArray, float]:
    """One EM iteration: M-step from ``posteriors``, then E-step.

    Returns the new parameters, their posteriors and their objective ``J``.
    """
    new = EMStep.of(LaidOutAnswers.of(layout, gold), prior)(layout.arrange(posteriors))
    return new.params, layout.restore(new.posteriors), new.objective


def majority_posteriors(answers: AnswerArrays, gold: Gold) -> FloatArray:
    """The cold start: majority-vote shares, gold clamped."""
    return gold.clamp(vote_shares(vote_counts(answers)))


def _covering(answers: AnswerArrays, init: DSParams) -> AnswerArrays:
    """``answers`` with room for every worker of ``init``, whose class count must match."""
    if init.confusions.shape[1:] != (answers.n_classes, answers.n_classes):
        raise ValueError(f"init has {len(init.priors)} classes, the answers {answers.n_classes}")
    return replace(answers, n_workers=max(answers.n_workers, len(init.confusions)))


class DawidSkene:
    """Dawid-Skene EM with empirical-Bayes smoothing, gold clamping and warm start.

    Hyper-parameters (one default setting for every benchmark set):
    ``max_iter`` EM steps at most; stop when the objective grows by less than
    ``tol`` per answer or the posteriors move by less than ``posterior_tol``
    (mean total-variation distance per task; 0 turns this test off);
    ``alpha`` pseudo-count in every confusion cell;
    ``shrinkage`` pseudo-answers per confusion row spread like the worker's
    centre (the crowd's pooled row at the worker's skill), or ``None`` to
    learn it from the crowd (empirical Bayes,
    :func:`~crowd.consensus.prior.learned_strength`: large where workers
    stray from their centres no more than sampling noise explains, small
    where their matrices differ; measured on the twelve development sets it
    lost 0.2 points of mean accuracy to the fixed 8, so it is not the
    default: bench/README.md); ``alpha_prior``
    pseudo-count on each class prior; ``skill_precision`` of the skills'
    normal prior (``inf``: every worker shrinks toward the pooled matrix
    itself); ``accelerate`` SQUAREM (``False``: plain EM, one step at a time).

    Fitted attributes: ``posteriors_`` (tasks × K), ``confusions_``
    (workers × K × K), ``priors_`` (K), ``newcomer_`` (K × K, for unseen
    workers: the crowd's matrix under the fit's prior), ``strength_`` (the
    prior's strength, fixed or learned), ``n_iter_`` (EM steps run, rejected SQUAREM jumps included),
    ``log_likelihood_`` (the objective of each kept step, non-decreasing),
    ``converged_``. ``posteriors_`` is the E-step of the fitted parameters,
    so an online step with ``params_`` reproduces any row of it (to ~1e-12:
    the fit sums log-likelihoods on a fine grid, :func:`~crowd.consensus.em.exact_terms`).
    """

    posteriors_: FloatArray
    confusions_: FloatArray
    priors_: FloatArray
    newcomer_: FloatArray
    strength_: float
    n_iter_: int
    log_likelihood_: list[float]
    converged_: bool

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-5,
        alpha: float = 0.1,
        shrinkage: float | None = 8.0,
        alpha_prior: float = 1.0,
        *,
        skill_precision: float = 0.5,
        accelerate: bool = True,
        posterior_tol: float = 1e-3,
    ) -> None:
        if max_iter < 1 or alpha <= 0 or (shrinkage is not None and shrinkage < 0):
            raise ValueError("need max_iter >= 1, alpha > 0, shrinkage None (learned) or >= 0")
        if alpha_prior < 0 or not skill_precision > 0:
            raise ValueError("need alpha_prior >= 0, skill_precision > 0")
        self.max_iter = max_iter
        self.tol = tol
        self.posterior_tol = posterior_tol
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
        laid_out = LaidOutAnswers.of(layout, Gold.from_mapping(gold, answers.n_tasks, answers.n_classes))
        self._iterate(*self._first_step(laid_out, init))
        return self

    def _first_step(self, answers: LaidOutAnswers, init: DSParams | None) -> tuple[EMStep, Iterate[DSParams]]:
        """The EM map under this fit's prior, and its first step, from the majority vote or ``init``'s E-step.

        The prior is built from the majority vote's soft counts, which the
        cold start's first M-step reuses. The start is let go once stepped from.
        """
        votes = answers.majority()
        counts = answers.soft_counts(votes)
        prior = self.smoothing.prior_for(confusion_counts(counts, answers.layout))
        self.strength_ = prior.strength
        step = EMStep.of(answers, prior)
        first = step(votes, counts) if init is None else step(warm_start(answers, init))
        return step, first

    def _iterate(self, step: EMStep, first: Iterate[DSParams]) -> None:
        """EM steps after ``first`` (posteriors in layout order) under a prior fixed for the whole fit."""
        layout = step.answers.layout
        stop = Convergence(self.tol * max(layout.n_answers, 1), self.posterior_tol)
        trace = run_em(step, first.posteriors, self.max_iter, stop, self.accelerate, first)
        params = trace.last.params
        self.confusions_, self.priors_, self.newcomer_ = (
            np.ascontiguousarray(params.confusions),
            params.priors,
            params.newcomer,
        )
        self.posteriors_, self.log_likelihood_ = layout.restore(trace.last.posteriors), trace.history
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
