r"""Ratings on an ordinal scale: Dawid-Skene matrices centred on each worker's ordinal behaviour.

Model. Task ``i`` has a true grade ``z_i`` (0..K-1, the scale's points in
order). Worker ``w`` answers grade ``l`` with probability ``C_w[z, l]``, a
full confusion matrix (so any pattern of errors can be learnt), whose
Dirichlet prior is centred on an *ordinal* matrix ``M_w`` with three
parameters that say how this worker rates::

    M_w[z, :] = (1 - ε_w) · OrderedProbit(z + b_w, σ_w) + ε_w · crowd answer shares

* ``b_w`` — bias: the worker rates ``b_w`` grades high (``b_w > 0``) or low;
* ``σ_w`` — noise: how far their grade wanders from ``z + b_w``; the ordered
  probit puts mass on grade ``l`` as the normal mass between ``l ± ½`` (the
  ends open), so 4 is nearer 5 than 1 is, and a high rater's 5s pile up at 5;
* ``ε_w`` — the share of answers given without looking (drawn from the
  crowd's answer distribution).

``(b_w, σ_w, ε_w)`` is the MAP point of a grid (:data:`BIASES` ×
:data:`NOISES` × :data:`SPAM_SHARES`) under the majority vote's soft counts,
with normal priors on ``b`` and ``log σ`` centred on the crowd's own grid
point (the best fit to all answers pooled). The pseudo-counts
``alpha + shrinkage · M_w`` then stay fixed while EM
(:mod:`crowd.consensus.categorical_em`) fits the matrices and the grade
prior: a worker with few answers rates like an ordinal worker of their
measured bias and noise, and one with many has their own matrix. Both
steps read the answers only, never the EM iterate, so the fit maximises
one objective.

Why this one: a plain DS treats grades as unrelated classes and needs many
answers per worker to learn that a 4 is evidence for a 5; a purely
parametric ordinal model misses real scales' irregular confusions (raters
who use 5 as "fine", labels that are never used). The prior gives the
first's flexibility the second's sample efficiency.

Result per task: the posterior over grades, its median (the grade, which
minimises the expected absolute error), its mean, and the confidence: the
posterior probability of the chosen grade (``P(|z - grade| ≤ tolerance)``
with a tolerance, :func:`grade_confidence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from crowd.consensus.categorical_em import SortedAnswers, fit_categorical, vote_shares
from crowd.consensus.dawid_skene import DSParams
from crowd.consensus.encoding import FloatArray, IntArray, answer_arrays
from crowd.consensus.online import OnlineModel
from crowd.consensus.reliability import spammer_score
from crowd.consensus.worker_quality import WorkerQuality

BIASES = 41
NOISES = 30
SPAM_SHARES = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5)
MIN_NOISE = 0.15


@dataclass(frozen=True)
class OrdinalGrid:
    """Candidate ordinal matrices for a K-point scale: ``matrices[g]`` before the spam share is mixed in."""

    bias: FloatArray
    noise: FloatArray
    spam: FloatArray
    probit: FloatArray  # g × K × K, no spam

    def matrices(self, shares: FloatArray) -> FloatArray:
        """Every grid point's ``M`` with the crowd's answer ``shares`` as the spam distribution."""
        mixed: FloatArray = (1.0 - self.spam)[:, np.newaxis, np.newaxis] * self.probit
        return mixed + self.spam[:, np.newaxis, np.newaxis] * shares[np.newaxis, np.newaxis, :]


@lru_cache(maxsize=16)
def ordinal_grid(n_grades: int) -> OrdinalGrid:
    """The grid for a scale of ``n_grades`` points (cached per scale length)."""
    reach = max(1.0, n_grades / 2.0)
    biases = np.linspace(-reach, reach, BIASES)
    noises = np.geomspace(MIN_NOISE, 3.0 * n_grades, NOISES)
    bias, noise, spam = (a.ravel() for a in np.meshgrid(biases, noises, np.array(SPAM_SHARES), indexing="ij"))
    return OrdinalGrid(bias, noise, spam, ordered_probit(n_grades, bias, noise))


def ordered_probit(n_grades: int, bias: npt.ArrayLike, noise: npt.ArrayLike) -> FloatArray:
    """``P(l | z) = Φ((l + ½ - z - b) / σ) - Φ((l - ½ - z - b) / σ)``, ends open; shape ``(..., K, K)``."""
    b = np.asarray(bias, dtype=np.float64)[..., np.newaxis, np.newaxis]
    s = np.asarray(noise, dtype=np.float64)[..., np.newaxis, np.newaxis]
    truth = np.arange(n_grades, dtype=np.float64)[:, np.newaxis]
    cuts = np.arange(n_grades - 1, dtype=np.float64)[np.newaxis, :] + 0.5
    below = normal_cdf((cuts - truth - b) / s)  # (..., K, K-1): P(answer ≤ l)
    shape = (*below.shape[:-1], 1)
    cumulative = np.concatenate([np.zeros(shape), below, np.ones(shape)], axis=-1)
    return np.maximum(np.diff(cumulative, axis=-1), 1e-12)


def normal_cdf(x: FloatArray) -> FloatArray:
    """``Φ(x)`` via ``erfc`` (numpy has no erf: ``math.erfc`` elementwise)."""
    erfc = np.frompyfunc(math.erfc, 1, 1)
    values: FloatArray = 0.5 * np.asarray(erfc(-np.asarray(x) / math.sqrt(2.0)), dtype=np.float64)
    return values


@dataclass(frozen=True)
class OrdinalCentres:
    """Each worker's MAP grid point: ``bias``, ``noise``, ``spam`` and its matrix ``M_w``; ``crowd`` the newcomer's."""

    bias: FloatArray
    noise: FloatArray
    spam: FloatArray
    matrices: FloatArray
    crowd: FloatArray


def ordinal_centres(counts: FloatArray, bias_precision: float, noise_precision: float) -> OrdinalCentres:
    """MAP ordinal parameters per worker from soft counts ``N_w[z, l]`` (workers × K × K)."""
    n_grades = counts.shape[1]
    grid = ordinal_grid(n_grades)
    pooled = counts.sum(axis=0)
    shares = (pooled.sum(axis=0) + 1.0) / (pooled.sum() + n_grades)
    log_matrices = np.log(grid.matrices(shares)).reshape(len(grid.bias), -1)
    crowd_point = int(np.argmax(log_matrices @ pooled.ravel()))
    log_prior = -0.5 * bias_precision * np.square(grid.bias - grid.bias[crowd_point])
    log_prior -= 0.5 * noise_precision * np.square(np.log(grid.noise / grid.noise[crowd_point]))
    scores = counts.reshape(len(counts), -1) @ log_matrices.T + log_prior
    best = np.argmax(scores, axis=1)
    matrices = grid.matrices(shares)
    return OrdinalCentres(grid.bias[best], grid.noise[best], grid.spam[best], matrices[best], matrices[crowd_point])


@dataclass(frozen=True)
class RatingParams:
    """A rating fit's parameters: per-worker ``confusions`` (W × K × K), the grade ``priors``, the ``newcomer``
    matrix, and each worker's ordinal centre (``bias``, ``noise``, ``spam``)."""

    confusions: FloatArray
    priors: FloatArray
    newcomer: FloatArray
    bias: FloatArray
    noise: FloatArray
    spam: FloatArray

    def online(self) -> OnlineModel:
        """The online step of :mod:`crowd.consensus.online` for these matrices."""
        return OnlineModel.of(DSParams(self.confusions, self.priors, self.newcomer))

    def worker_dict(self, worker: int) -> dict[str, object]:
        return {
            "confusion": self.confusions[worker].tolist(),
            "bias": float(self.bias[worker]),
            "noise": float(self.noise[worker]),
            "spam": float(self.spam[worker]),
        }

    def project_dict(self) -> dict[str, object]:
        return {"priors": self.priors.tolist(), "newcomer": self.newcomer.tolist()}

    def to_dict(self) -> dict[str, object]:
        names = ("confusions", "priors", "newcomer", "bias", "noise", "spam")
        return {name: getattr(self, name).tolist() for name in names}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RatingParams:
        def array(name: str) -> FloatArray:
            return np.asarray(data[name], dtype=np.float64)

        confusions = array("confusions")
        k = len(array("priors"))
        return cls(
            confusions.reshape(-1, k, k),
            array("priors"),
            array("newcomer"),
            array("bias"),
            array("noise"),
            array("spam"),
        )


class RatingModel:
    """Fit ratings (grade indices 0..K-1) with the ordinal-centred Dawid-Skene model of this module.

    Hyper-parameters (one default for every scale): ``shrinkage`` pseudo-answers
    per confusion row spread like the worker's ordinal centre, ``alpha`` in
    every cell, ``class_pseudo_count`` on each grade's prior, the precisions
    of the normal priors on bias and log-noise, ``max_iter``, ``tol``.
    Fitted: ``posteriors_`` (tasks × K), ``params_``, ``log_posterior_``,
    ``n_iter_``, ``converged_``.
    """

    posteriors_: FloatArray
    params_: RatingParams
    log_posterior_: list[float]
    n_iter_: int
    converged_: bool

    def __init__(
        self,
        shrinkage: float = 4.0,
        alpha: float = 0.1,
        class_pseudo_count: float = 1.0,
        bias_precision: float = 1.0,
        noise_precision: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-7,
    ) -> None:
        if shrinkage < 0 or alpha <= 0 or class_pseudo_count < 0 or max_iter < 1:
            raise ValueError("need shrinkage >= 0, alpha > 0, class_pseudo_count >= 0, max_iter >= 1")
        self.shrinkage, self.alpha, self.class_pseudo_count = shrinkage, alpha, class_pseudo_count
        self.bias_precision, self.noise_precision = bias_precision, noise_precision
        self.max_iter, self.tol = max_iter, tol

    def fit(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        grades: npt.ArrayLike,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_grades: int | None = None,
        gold: Mapping[int, int] | None = None,
    ) -> RatingModel:
        """Fit on parallel index arrays; ``gold`` maps task index -> grade index (clamped)."""
        answers = SortedAnswers.of(answer_arrays(tasks, workers, grades, n_tasks, n_workers, n_grades))
        if answers.n_classes < 2:
            raise ValueError("a rating scale needs at least two grades")
        start = vote_shares(answers)
        centres = ordinal_centres(answers.soft_counts(start), self.bias_precision, self.noise_precision)
        pseudo = self.alpha + self.shrinkage * centres.matrices
        fit = fit_categorical(answers, pseudo, start, None, self.class_pseudo_count, gold, self.max_iter, self.tol)
        newcomer = self.alpha + self.shrinkage * centres.crowd
        self.params_ = RatingParams(
            fit.confusions,
            fit.priors[0],
            newcomer / newcomer.sum(axis=1, keepdims=True),
            centres.bias,
            centres.noise,
            centres.spam,
        )
        self.posteriors_, self.log_posterior_ = fit.posteriors, fit.log_posterior
        self.n_iter_, self.converged_ = fit.n_iter, fit.converged
        self._answers = answers
        return self

    def predict(self) -> IntArray:
        """Each task's grade: its posterior median."""
        return posterior_medians(self.posteriors_)

    def worker_quality(self, tolerance: int = 0, level: float = 0.9) -> WorkerQuality:
        """Reliability = ``P(|answer - true grade| ≤ tolerance)`` under the grade priors; interval from the
        answers' soft agreement with the posteriors."""
        return rating_quality(self._answers, self.posteriors_, self.params_, tolerance, level)


def rating_quality(
    answers: SortedAnswers, posteriors: FloatArray, params: RatingParams, tolerance: int, level: float
) -> WorkerQuality:
    k = len(params.priors)
    near = (np.abs(np.arange(k)[:, np.newaxis] - np.arange(k)[np.newaxis, :]) <= tolerance).astype(np.float64)
    reliability = np.einsum("k,wkl,kl->w", params.priors, params.confusions, near)
    agreement = (posteriors[answers.tasks] * near[:, answers.labels].T).sum(axis=1)
    n_workers = len(params.confusions)
    soft = np.bincount(answers.workers, agreement, n_workers)
    seen = np.bincount(answers.workers, minlength=n_workers)
    return WorkerQuality.of(reliability, soft, seen, spammer_score(params.confusions), level)


def posterior_medians(posteriors: FloatArray) -> IntArray:
    """The smallest grade whose cumulative posterior reaches ½ (per row)."""
    cumulative = np.cumsum(posteriors, axis=-1)
    medians: IntArray = np.minimum((cumulative < 0.5 - 1e-12).sum(axis=-1), posteriors.shape[-1] - 1)
    return medians


def posterior_means(posteriors: FloatArray, values: npt.ArrayLike | None = None) -> FloatArray:
    """``Σ_k q(k) v_k`` with ``v`` the scale's values (default the grade indices)."""
    v = np.arange(posteriors.shape[-1], dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64)
    means: FloatArray = posteriors @ v
    return means


def grade_confidence(posteriors: FloatArray, grades: npt.ArrayLike, tolerance: int = 0) -> FloatArray:
    """``P(|z - grade| ≤ tolerance)`` per row: the dynamic-overlap signal (tolerance 0: the grade's probability)."""
    k = posteriors.shape[-1]
    chosen = np.asarray(grades, dtype=np.intp)[..., np.newaxis]
    near = np.abs(np.arange(k) - chosen) <= tolerance
    confidence: FloatArray = (posteriors * near).sum(axis=-1)
    return confidence
