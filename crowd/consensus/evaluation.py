"""Evaluation of a model's labels against reference labels (gold, expert or consensus).

Inputs are parallel arrays over the evaluated tasks: the model's predicted
class index, the reference class index and, optionally, the model's score
for its predicted class (its confidence, in ``[0, 1]``). Only tasks that have
both a prediction and a reference belong in them; the caller filters.
An undefined figure (a rate over nothing) is ``nan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray, IntArray


@dataclass(frozen=True)
class Proportion:
    """``successes / n`` with a Wilson score interval."""

    successes: int
    n: int
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class ClassScores:
    """Per class ``k``: precision, recall, and the reference (``support``) and predicted counts."""

    precision: FloatArray
    recall: FloatArray
    support: IntArray
    predicted: IntArray


@dataclass(frozen=True)
class Calibration:
    """A reliability diagram: equal-width confidence bins and the expected calibration error.

    Bin ``b`` covers ``(edges[b], edges[b + 1]]``; the first also holds 0.
    """

    edges: FloatArray
    confidence: FloatArray
    """Mean score in each bin (``nan`` for an empty bin)."""
    accuracy: FloatArray
    """Share of correct predictions in each bin (``nan`` for an empty bin)."""
    count: IntArray
    ece: float


@dataclass(frozen=True)
class ModelEvaluation:
    accuracy: Proportion
    confusion: IntArray
    classes: ClassScores
    calibration: Calibration | None
    """``None`` when no scores were given."""


def evaluate(
    predicted: npt.ArrayLike,
    reference: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    *,
    n_classes: int | None = None,
    n_bins: int = 10,
    level: float = 0.95,
) -> ModelEvaluation:
    """Accuracy with its interval, confusion matrix, per-class scores and, given scores, calibration."""
    confusion = confusion_matrix(predicted, reference, n_classes)
    correct = int(np.trace(confusion))
    return ModelEvaluation(
        accuracy=wilson_proportion(correct, int(confusion.sum()), level),
        confusion=confusion,
        classes=class_scores(confusion),
        calibration=None if scores is None else calibration(predicted, reference, scores, n_bins),
    )


def accuracy(predicted: npt.ArrayLike, reference: npt.ArrayLike, level: float = 0.95) -> Proportion:
    """The share of predictions equal to the reference, with a Wilson interval."""
    guess, truth = _paired_indices(predicted, reference)
    return wilson_proportion(int(np.count_nonzero(guess == truth)), len(guess), level)


def wilson_proportion(successes: int, n: int, level: float = 0.95) -> Proportion:
    """``p̂ = s / n`` and its Wilson score interval (Wilson, 1927).

    With ``z`` the ``(1 + level) / 2`` normal quantile:

        (p̂ + z²/2n ± z √(p̂(1 - p̂)/n + z²/4n²)) / (1 + z²/n)

    Unlike the Wald interval it stays inside ``[0, 1]`` and does not collapse
    to a point at ``p̂ = 0`` or ``1``. All ``nan`` when ``n = 0``.
    """
    if not 0 <= successes <= n or not 0.0 < level < 1.0:
        raise ValueError("need 0 <= successes <= n and level inside (0, 1)")
    if n == 0:
        return Proportion(0, 0, math.nan, math.nan, math.nan)
    p, z = successes / n, NormalDist().inv_cdf((1.0 + level) / 2.0)
    scale = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    low = 0.0 if successes == 0 else max(centre - half, 0.0)  # exact 0 and 1 there, not 1e-17 off
    high = 1.0 if successes == n else min(centre + half, 1.0)
    return Proportion(successes, n, p, low, high)


def confusion_matrix(predicted: npt.ArrayLike, reference: npt.ArrayLike, n_classes: int | None = None) -> IntArray:
    """``C[k, l]`` = tasks whose reference is ``k`` and prediction ``l`` (rows = truth, as in consensus)."""
    guess, truth = _paired_indices(predicted, reference)
    needed = int(max(guess.max(initial=-1), truth.max(initial=-1))) + 1
    size = needed if n_classes is None else n_classes
    if size < needed:
        raise ValueError(f"n_classes={n_classes} but a class index {needed - 1} occurs")
    confusion: IntArray = np.bincount(truth * size + guess, minlength=size * size).reshape(size, size)
    return confusion


def class_scores(confusion: npt.ArrayLike) -> ClassScores:
    """Per class: precision ``C[k, k] / Σ_j C[j, k]`` and recall ``C[k, k] / Σ_l C[k, l]``.

    Precision is ``nan`` for a class never predicted, recall for a class
    absent from the reference.
    """
    matrix = np.asarray(confusion, dtype=np.intp)
    hits = np.diagonal(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    return ClassScores(
        precision=np.divide(hits, predicted, out=np.full(len(hits), np.nan), where=predicted > 0),
        recall=np.divide(hits, support, out=np.full(len(hits), np.nan), where=support > 0),
        support=support,
        predicted=predicted,
    )


def calibration(
    predicted: npt.ArrayLike,
    reference: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_bins: int = 10,
) -> Calibration:
    """Reliability-diagram bins of the score of the predicted class, and the expected calibration error.

    Scores fall in ``n_bins`` equal-width bins ``((b-1)/B, b/B]`` (0 in the
    first); per bin ``b`` with ``n_b`` predictions, ``conf_b`` is their mean
    score and ``acc_b`` their share correct. Over ``N`` predictions

        ECE = Σ_b (n_b / N) · |acc_b - conf_b|

    (Naeini et al., 2015; Guo et al., 2017). ``nan`` without predictions.
    """
    guess, truth = _paired_indices(predicted, reference)
    confidence = np.asarray(scores, dtype=np.float64)
    if confidence.shape != guess.shape or np.any((confidence < 0) | (confidence > 1)) or n_bins < 1:
        raise ValueError("need one score in [0, 1] per prediction and n_bins >= 1")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    mean_score = _bin_means(bins, confidence, count)
    bin_accuracy = _bin_means(bins, (guess == truth).astype(np.float64), count)
    gaps = np.where(count > 0, np.abs(bin_accuracy - mean_score), 0.0)
    ece = float(gaps @ count / len(guess)) if len(guess) else math.nan
    return Calibration(edges, mean_score, bin_accuracy, count.astype(np.intp), ece)


def _bin_means(bins: IntArray, values: FloatArray, count: IntArray) -> FloatArray:
    totals = np.bincount(bins, weights=values, minlength=len(count))
    means: FloatArray = np.divide(totals, count, out=np.full(len(count), np.nan), where=count > 0)
    return means


def _paired_indices(predicted: npt.ArrayLike, reference: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    guess, truth = np.asarray(predicted), np.asarray(reference)
    for array in (guess, truth):
        if array.ndim != 1 or (array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0)):
            raise ValueError("predicted and reference must be 1-D arrays of class indices")
    if guess.shape != truth.shape:
        raise ValueError("predicted and reference must have the same length")
    return guess.astype(np.intp, copy=False), truth.astype(np.intp, copy=False)
