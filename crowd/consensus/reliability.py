"""Worker reliability: expected accuracy, a credible interval, a spammer score.

All functions take one confusion matrix (``K × K``, rows = true class) or a
stack of them (``workers × K × K``) and work on every worker at once.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray

_FLOOR = 1e-300


def expected_accuracy(confusions: FloatArray, priors: FloatArray) -> FloatArray:
    """``Σ_k π_k C[k, k]``: the probability that the worker's answer is right on a random task."""
    diagonal = np.diagonal(confusions, axis1=-2, axis2=-1)
    accuracy: FloatArray = diagonal @ priors
    return accuracy


def spammer_score(confusions: FloatArray) -> FloatArray:
    """How far the worker's answers depend on the truth, from 0 (spammer) to 1 (perfect).

    A spammer answers the same way whatever the true class: all rows of the
    matrix are equal (it has rank one), and the answer carries no evidence.
    The score is the mean squared Euclidean distance between rows, over
    pairs of true classes (Raykar & Yu, JMLR 2012)::

        S = 1 / (K (K - 1)) · Σ_{k < k'} ||C[k, :] - C[k', :]||²

    It is 0 exactly for a spammer and 1 for the identity matrix (or any
    permutation of it: a worker who swaps labels consistently is still
    informative). For two classes it equals ``(C[0,0] + C[1,1] - 1)²``.
    """
    n_classes = confusions.shape[-1]
    if n_classes < 2:
        return np.zeros(confusions.shape[:-2])
    gaps = confusions[..., :, np.newaxis, :] - confusions[..., np.newaxis, :, :]
    score: FloatArray = np.square(gaps).sum(axis=(-3, -2, -1)) / (2 * n_classes * (n_classes - 1))
    return score


def vote_weights(accuracy: npt.ArrayLike, n_classes: int) -> FloatArray:
    """One-coin log-odds weights ``max(0, log((K - 1) a / (1 - a)))`` for a weighted vote.

    A worker right with probability ``a`` and otherwise uniformly wrong
    multiplies the odds of the class they chose by ``(K - 1) a / (1 - a)``;
    summing these log-odds per class is the Bayes vote under that model.
    Workers at or below chance (``a <= 1/K``) get weight 0.
    """
    a = np.clip(np.asarray(accuracy, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.maximum(0.0, np.log((n_classes - 1) * a / (1 - a)))


def soft_agreement(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    posteriors: FloatArray,
    n_workers: int,
) -> tuple[FloatArray, FloatArray]:
    """Per worker: ``Σ q_i(l)`` over their answers ``(i, l)``, and the number of answers.

    The first is the expected number of correct answers under the task
    posteriors — the soft counterpart of "gold correct". Pass answers on
    non-gold tasks only, so gold evidence is not counted twice.
    """
    worker_index = np.asarray(workers, dtype=np.intp)
    agreement = posteriors[np.asarray(tasks, dtype=np.intp), np.asarray(labels, dtype=np.intp)]
    correct = np.bincount(worker_index, weights=agreement, minlength=n_workers)
    seen = np.bincount(worker_index, minlength=n_workers)
    return correct.astype(np.float64), seen.astype(np.float64)


def reliability_interval(
    gold_correct: npt.ArrayLike,
    gold_seen: npt.ArrayLike,
    soft_correct: npt.ArrayLike = 0.0,
    soft_seen: npt.ArrayLike = 0.0,
    level: float = 0.9,
    prior: tuple[float, float] = (1.0, 1.0),
    soft_weight: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed credible interval for a worker's accuracy.

    The accuracy gets a ``Beta(prior)`` prior (uniform by default); each gold
    answer is a Bernoulli observation, each soft answer a fractional one
    weighted by ``soft_weight``, so the posterior is ``Beta(a, b)`` with::

        a = prior[0] + gold_correct + w · soft_correct
        b = prior[1] + (gold_seen - gold_correct) + w · (soft_seen - soft_correct)

    Returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    """
    w = soft_weight
    g_ok, g_n = np.asarray(gold_correct, dtype=np.float64), np.asarray(gold_seen, dtype=np.float64)
    s_ok, s_n = np.asarray(soft_correct, dtype=np.float64), np.asarray(soft_seen, dtype=np.float64)
    a = prior[0] + g_ok + w * s_ok
    b = prior[1] + (g_n - g_ok) + w * (s_n - s_ok)
    tail = (1.0 - level) / 2.0
    return beta_quantile(tail, a, b), beta_quantile(1.0 - tail, a, b)


def beta_quantile(p: float, a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """The ``p`` quantile of ``Beta(a, b)``, elementwise, to about 1e-10.

    Safeguarded Newton iterations on ``I_x(a, b) = p`` (the regularised
    incomplete beta function, whose derivative is the Beta density) inside a
    shrinking bisection bracket, started from the normal approximation.
    Scalar ``a`` and ``b`` take the same steps in plain floats, ~20× faster
    than numpy on 0-d arrays (callers that decide per answer use that path).
    """
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        one_a, one_b = np.asarray(a, dtype=np.float64).item(), np.asarray(b, dtype=np.float64).item()
        return np.asarray(_scalar_beta_quantile(p, one_a, one_b))
    a_arr, b_arr = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    log_beta = _log_beta(a_arr, b_arr)
    low, high = np.zeros_like(a_arr), np.ones_like(a_arr)
    x = _normal_guess(p, a_arr, b_arr)
    for _ in range(100):
        excess = beta_cdf(x, a_arr, b_arr, log_beta) - p
        low, high = np.where(excess < 0, x, low), np.where(excess < 0, high, x)
        step = x - excess / np.maximum(_beta_density(x, a_arr, b_arr, log_beta), _FLOOR)
        previous, x = x, np.where((step >= low) & (step <= high), step, (low + high) / 2)
        if np.all(np.abs(x - previous) < 1e-11):
            break
    return x


def _scalar_beta_quantile(p: float, a: float, b: float) -> float:
    """:func:`beta_quantile` for one ``(a, b)``: the same safeguarded Newton steps on floats."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    mean = a / (a + b)
    x = min(max(mean + NormalDist().inv_cdf(p) * math.sqrt(mean * (1 - mean) / (a + b + 1)), 1e-9), 1 - 1e-9)
    low, high = 0.0, 1.0
    for _ in range(100):
        excess = _scalar_beta_cdf(x, a, b, log_beta) - p
        low, high = (x, high) if excess < 0 else (low, x)
        log_density = (a - 1) * math.log(max(x, _FLOOR)) + (b - 1) * math.log(max(1 - x, _FLOOR)) - log_beta
        step = x - excess / max(math.exp(log_density), _FLOOR)
        previous, x = x, step if low <= step <= high else (low + high) / 2
        if abs(x - previous) < 1e-11:
            break
    return x


def _scalar_beta_cdf(x: float, a: float, b: float, log_beta: float) -> float:
    """:func:`beta_cdf` for one point, with the same flip and continued fraction."""
    if x > (a + 1) / (a + b + 2):
        return min(max(1.0 - _scalar_lower_tail(1 - x, b, a, log_beta), 0.0), 1.0)
    return min(max(_scalar_lower_tail(x, a, b, log_beta), 0.0), 1.0)


def _scalar_lower_tail(x: float, a: float, b: float, log_beta: float) -> float:
    """``x^a (1 - x)^b / (a B(a, b)) · F`` with ``F`` by the modified Lentz method (see below)."""
    log_front = a * math.log(max(x, _FLOOR)) + b * math.log(max(1 - x, _FLOOR)) - log_beta
    c, d = 1.0, 1.0 / _scalar_nonzero(1.0 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 / _scalar_nonzero(1.0 + numerator * d)
            c = _scalar_nonzero(1.0 + numerator / c)
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def _scalar_nonzero(value: float) -> float:
    return _FLOOR if abs(value) < _FLOOR else value


def _beta_density(x: FloatArray, a: FloatArray, b: FloatArray, log_beta: FloatArray) -> FloatArray:
    log_x, log_rest = np.log(np.maximum(x, _FLOOR)), np.log(np.maximum(1 - x, _FLOOR))
    return np.exp((a - 1) * log_x + (b - 1) * log_rest - log_beta)


def _normal_guess(p: float, a: FloatArray, b: FloatArray) -> FloatArray:
    """Mean + z_p · standard deviation of ``Beta(a, b)``, kept inside (0, 1)."""
    mean = a / (a + b)
    spread = np.sqrt(mean * (1 - mean) / (a + b + 1))
    return np.clip(mean + NormalDist().inv_cdf(p) * spread, 1e-9, 1 - 1e-9)


def beta_cdf(x: FloatArray, a: FloatArray, b: FloatArray, log_beta: FloatArray) -> FloatArray:
    """The regularised incomplete beta function ``I_x(a, b)``.

    ``I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) · F``, with ``F`` the continued
    fraction of the incomplete beta function, which converges fast for
    ``x < (a + 1) / (a + b + 2)``; above that, ``I_x(a, b) = 1 - I_{1-x}(b, a)``.
    """
    flip = x > (a + 1) / (a + b + 2)
    xs, as_, bs = np.where(flip, 1 - x, x), np.where(flip, b, a), np.where(flip, a, b)
    log_front = as_ * np.log(np.maximum(xs, _FLOOR)) + bs * np.log(np.maximum(1 - xs, _FLOOR)) - log_beta
    lower_tail = np.exp(log_front) * _incomplete_beta_fraction(xs, as_, bs) / as_
    cdf: FloatArray = np.clip(np.where(flip, 1 - lower_tail, lower_tail), 0.0, 1.0)
    return cdf


def _incomplete_beta_fraction(x: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """The continued fraction ``1 / (1 + d_1 / (1 + d_2 / (1 + ...)))``, by the modified Lentz method.

    The terms are ``d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))`` and
    ``d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))``.
    """
    c, d = np.ones_like(x), 1.0 / _nonzero(1.0 - (a + b) * x / (a + 1))
    fraction = d.copy()
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 / _nonzero(1.0 + numerator * d)
            c = _nonzero(1.0 + numerator / c)
            fraction *= c * d
        if np.all(np.abs(c * d - 1.0) < 1e-15):
            break
    return fraction


def _nonzero(values: FloatArray) -> FloatArray:
    return np.where(np.abs(values) < _FLOOR, _FLOOR, values)


def _log_beta(a: FloatArray, b: FloatArray) -> FloatArray:
    lgamma = np.frompyfunc(math.lgamma, 1, 1)
    log_beta: FloatArray = np.asarray(lgamma(a) + lgamma(b) - lgamma(a + b), dtype=np.float64)
    return log_beta
