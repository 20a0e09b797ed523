"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' and Cohen's kappa, per-worker agreement, drift.

Inputs are the integer-coded answers of :mod:`crowd.consensus.encoding`:
parallel arrays of task, worker and label indices. Alpha and Fleiss' kappa
depend only on the multiset of labels given to each task, so they take
``(tasks, labels)``; the per-task label counts ``n_ik`` are all they read.

Conventions shared by every function here:

* A task with fewer than two answers has no pair of answers to compare and
  contributes nothing (it is dropped before anything is computed).
* Repeated answers by one worker on one task count as separate values, as
  in majority vote: two answers by the same worker form a pair like any
  other. (That is the value-count form of alpha, in which coders do not
  appear.) Deduplicate upstream if a repeat is a resubmission.
* A statistic that is undefined (no pair of answers, or chance agreement 1
  because a single category was ever used) is ``nan``, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray, IntArray, answer_arrays

_MAX_BOOTSTRAP_CELLS = 1 << 21
"""Resampled task weights held at once (resamples × tasks): ~40 MiB at peak with their copies."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval (all ``nan`` when undefined)."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class AgreementIntervals:
    """Alpha and Fleiss' kappa of the same data, with intervals from the same resamples of tasks."""

    alpha: Interval
    fleiss_kappa: Interval
    n_tasks: int
    """Tasks with at least two answers: the units resampled."""


@dataclass(frozen=True)
class PairwiseKappa:
    """Cohen's kappa of each worker pair ``(first[j], second[j])``, ``first < second``, sorted."""

    first: IntArray
    second: IntArray
    kappa: FloatArray
    n_shared: IntArray


@dataclass(frozen=True)
class WorkerAgreement:
    """Per worker: the share of their answers that agree, and how many answers it is over."""

    share: FloatArray
    """``nan`` for a worker with no answer counted."""
    n_answers: IntArray


# --- Krippendorff's alpha and Fleiss' kappa ------------------------------------------------


def krippendorff_alpha(tasks: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Krippendorff's alpha for nominal labels, with missing answers and any overlap.

    With ``n_uc`` the number of values ``c`` in task ``u`` and ``m_u = Σ_c n_uc``
    (tasks with ``m_u ≥ 2`` only), the coincidence matrix is

        o_ck = Σ_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1),

    its margins ``n_c = Σ_k o_ck = Σ_u n_uc`` and ``n = Σ_c n_c``, and

        α = 1 - (n - 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k
          = 1 - (n - 1) · (n - Σ_c o_cc) / (n² - Σ_c n_c²)

    (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).
    ``nan`` without two pairable values or when one category holds them all.
    """
    table = _alpha_table(_pairable_counts(tasks, labels))
    return float(_alpha_of(table.sum(axis=0)))


def fleiss_kappa(tasks: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Fleiss' kappa, generalised to unequal numbers of answers per task.

    Over the ``N`` tasks with ``m_i ≥ 2`` answers, ``n_ik`` of them ``k``:

        P_i = Σ_k n_ik (n_ik - 1) / (m_i (m_i - 1))    agreeing share of answer pairs in task i
        P̄  = (1/N) Σ_i P_i,    p_k = (1/N) Σ_i n_ik / m_i,    P_e = Σ_k p_k²
        κ  = (P̄ - P_e) / (1 - P_e)

    Fleiss (1971) assumes every task has the same ``m``; then ``p_k`` is the
    pooled share of ``k`` and this is exactly his kappa. With unequal ``m_i``
    each task weighs the same in both terms: observed agreement is the mean
    per-task pair agreement, chance agreement that of two answers drawn
    independently, each from a task picked at random. This is Fleiss' generalised
    kappa of Gwet (Handbook of Inter-Rater Reliability, 2014; ``irrCAC``),
    except that tasks with one answer are dropped from ``p_k`` too, so that
    alpha and kappa see the same tasks. ``nan`` when no task has two answers
    or one category holds all answers (``P_e = 1``).
    """
    table = _fleiss_table(_pairable_counts(tasks, labels))
    return float(_fleiss_of(table.sum(axis=0)))


def bootstrap_agreement(
    tasks: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    level: float = 0.95,
) -> AgreementIntervals:
    """Alpha and Fleiss' kappa with percentile bootstrap intervals over tasks.

    Each resample draws the ``N`` tasks with two or more answers ``N`` times
    with replacement, i.e. task weights ``w ~ Multinomial(N, 1/N, …, 1/N)``;
    both statistics are functions of sums over tasks of per-task terms, so a
    resample is ``w @ table`` of the per-task table, never a rebuilt answer set. The
    interval holds the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of
    the resampled values; resamples where a statistic is undefined (e.g. all
    drawn tasks in one category) are left out of its quantiles.
    """
    if n_resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError("n_resamples must be at least 1 and level inside (0, 1)")
    counts = _pairable_counts(tasks, labels)
    tables = (_alpha_table(counts), _fleiss_table(counts))
    draws = _resample_totals(np.hstack(tables), rng, n_resamples)
    split = tables[0].shape[1]
    return AgreementIntervals(
        alpha=_interval(_alpha_of(tables[0].sum(axis=0)), _alpha_of(draws[:, :split]), level),
        fleiss_kappa=_interval(_fleiss_of(tables[1].sum(axis=0)), _fleiss_of(draws[:, split:]), level),
        n_tasks=len(counts),
    )


def _pairable_counts(tasks: npt.ArrayLike, labels: npt.ArrayLike) -> FloatArray:
    """The ``n_ik`` table (tasks × classes) of the tasks with at least two answers."""
    task_index = np.asarray(tasks)
    answers = answer_arrays(task_index, np.zeros(task_index.shape, dtype=np.intp), labels)  # workers don't matter
    cells = answers.tasks * answers.n_classes + answers.labels
    counts = np.bincount(cells, minlength=answers.n_tasks * answers.n_classes).reshape(
        answers.n_tasks, answers.n_classes
    )
    pairable: FloatArray = counts[counts.sum(axis=1) >= 2].astype(np.float64)
    return pairable


def _alpha_table(counts: FloatArray) -> FloatArray:
    """Per task: ``m_u``, ``Σ_c o_cc`` of the task, then ``n_uc`` — alpha needs only their sums."""
    m = counts.sum(axis=1)
    coincident = (counts * (counts - 1)).sum(axis=1) / (m - 1)
    return np.column_stack([m, coincident, counts])


def _alpha_of(totals: FloatArray) -> FloatArray:
    """Alpha from the (weighted) column sums of :func:`_alpha_table`; last axis = columns."""
    n, coincident, by_class = totals[..., 0], totals[..., 1], totals[..., 2:]
    expected = n * n - np.square(by_class).sum(axis=-1)  # Σ_{c≠k} n_c n_k: 0 iff < 2 categories
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * (n - coincident) / expected
    return np.where(expected > 0, alpha, np.nan)


def _fleiss_table(counts: FloatArray) -> FloatArray:
    """Per task: 1 (the task count), ``P_i``, then the label shares ``n_ik / m_i``."""
    m = counts.sum(axis=1)
    agreeing = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    return np.column_stack([np.ones_like(m), agreeing, counts / m[:, np.newaxis]])


def _fleiss_of(totals: FloatArray) -> FloatArray:
    """Kappa from the (weighted) column sums of :func:`_fleiss_table`; last axis = columns."""
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = totals[..., 1] / totals[..., 0]
        chance = np.square(totals[..., 2:] / totals[..., :1]).sum(axis=-1)
        kappa = (observed - chance) / (1.0 - chance)
    return np.where(chance < 1.0, kappa, np.nan)  # without tasks chance is nan, and nan < 1 is false


def _resample_totals(table: FloatArray, rng: np.random.Generator, n_resamples: int) -> FloatArray:
    """``w @ table`` for ``n_resamples`` multinomial task weights ``w``, in memory-bounded blocks."""
    n_tasks = len(table)
    if n_tasks == 0:
        return np.full((n_resamples, table.shape[1]), np.nan)
    block = max(1, _MAX_BOOTSTRAP_CELLS // n_tasks)
    totals = []
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        # Drawing N task indices and counting them is a Multinomial(N, uniform) draw, much faster for large N.
        drawn = rng.integers(0, n_tasks, size=(size, n_tasks), dtype=np.int32)  # int32: 4× faster to draw
        drawn += n_tasks * np.arange(size, dtype=np.int32)[:, np.newaxis]  # row r counts into [r N, (r + 1) N)
        weights = np.bincount(drawn.ravel(), minlength=size * n_tasks).reshape(size, n_tasks)
        totals.append(weights.astype(np.float64) @ table)
    return np.concatenate(totals)


def _interval(estimate: FloatArray, draws: FloatArray, level: float) -> Interval:
    defined = draws[np.isfinite(draws)]
    if not np.isfinite(estimate) or defined.size == 0:
        return Interval(float(estimate), math.nan, math.nan)
    low, high = np.quantile(defined, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(estimate), float(low), float(high))


# --- Cohen's kappa for worker pairs --------------------------------------------------------


def pairwise_cohen_kappa(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    min_shared: int = 10,
) -> PairwiseKappa:
    """Cohen's kappa of every pair of workers who answered at least ``min_shared`` common tasks.

    For workers ``a`` and ``b`` over their ``n`` shared tasks, with ``s_a(i, k)``
    the share of ``a``'s answers on task ``i`` that are ``k`` (1 or 0 with a
    single answer):

        p_o = (1/n) Σ_i Σ_k s_a(i, k) s_b(i, k),    p_e = Σ_k ā_k b̄_k  (ā_k = (1/n) Σ_i s_a(i, k))
        κ   = (p_o - p_e) / (1 - p_e)

    With one answer per worker and task that is Cohen (1960) on the
    two workers' paired labels; repeated answers split their task's weight.
    ``nan`` where ``p_e = 1`` (both used one and the same category only).
    Pairs without a shared task never appear. Cost is ``O(Σ_i m_i²)`` for
    ``m_i`` workers on task ``i``, all vectorised.
    """
    answers = answer_arrays(tasks, workers, labels)
    n_workers = answers.n_workers
    task_worker, shares = _worker_task_shares(
        answers.tasks * n_workers + answers.workers, answers.labels, answers.n_classes
    )
    left, right = _pairs_within_groups(task_worker // n_workers)
    worker = task_worker % n_workers
    pair, pair_index, n_shared = _frequent(worker[left] * n_workers + worker[right], min_shared)
    keep = pair_index >= 0
    left, right, pair_index = left[keep], right[keep], pair_index[keep]
    observed = np.bincount(pair_index, weights=(shares[left] * shares[right]).sum(axis=1), minlength=len(pair))
    margins = _sum_rows_by(pair_index, shares[left], len(pair)) * _sum_rows_by(pair_index, shares[right], len(pair))
    chance = margins.sum(axis=1) / np.square(n_shared)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed / n_shared - chance) / (1.0 - chance)
    return PairwiseKappa(
        first=pair // n_workers,
        second=pair % n_workers,
        kappa=np.where(chance < 1.0, kappa, np.nan),
        n_shared=n_shared.astype(np.intp),
    )


def _frequent(keys: IntArray, min_count: int) -> tuple[IntArray, IntArray, IntArray]:
    """The distinct keys seen at least ``min_count`` times, each key's index among them (-1: too rare), counts."""
    distinct, index, counts = np.unique(keys, return_inverse=True, return_counts=True)
    frequent = counts >= min_count
    renumber = np.where(frequent, np.cumsum(frequent) - 1, -1)
    return distinct[frequent], renumber[index], counts[frequent]


def _worker_task_shares(keys: IntArray, labels: IntArray, n_classes: int) -> tuple[IntArray, FloatArray]:
    """The distinct (task, worker) keys, sorted, and each one's label shares ``s(i, k)``."""
    distinct, entry = np.unique(keys, return_inverse=True)
    counts = np.bincount(entry * n_classes + labels, minlength=len(distinct) * n_classes).reshape(
        len(distinct), n_classes
    )
    shares: FloatArray = counts / counts.sum(axis=1, keepdims=True)
    return distinct, shares


def _pairs_within_groups(group: IntArray) -> tuple[IntArray, IntArray]:
    """All position pairs ``(p, q)``, ``p < q``, with ``group[p] == group[q]`` (``group`` sorted)."""
    positions = np.arange(len(group))
    partners = np.searchsorted(group, group, side="right") - positions - 1
    left = np.repeat(positions, partners)
    run_start = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(len(left)) - run_start)
    return left, right


def _sum_rows_by(index: IntArray, rows: FloatArray, n_groups: int) -> FloatArray:
    """``out[g] = Σ_{j: index[j] = g} rows[j]``, one bincount for all columns."""
    width = rows.shape[1]
    cells = (index[:, np.newaxis] * width + np.arange(width)).ravel()
    sums = np.bincount(cells, weights=rows.ravel(), minlength=n_groups * width)
    by_group: FloatArray = sums.astype(np.float64, copy=False).reshape(n_groups, width)
    return by_group


# --- Per-worker agreement ------------------------------------------------------------------


def consensus_agreement(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    consensus: npt.ArrayLike,
    n_workers: int | None = None,
) -> WorkerAgreement:
    """Per worker: the share of their answers equal to the consensus label of the task.

    ``consensus[i]`` is the consensus class index of task ``i``, or a
    negative number for a task without one, whose answers are not counted.
    The consensus includes the worker's own vote, which flatters workers on
    low-overlap tasks; :func:`peer_agreement` leaves it out.
    """
    target = np.asarray(consensus, dtype=np.intp)
    answers = answer_arrays(tasks, workers, labels, n_tasks=len(target), n_workers=n_workers)
    decided = target[answers.tasks] >= 0
    agreeing = decided & (answers.labels == target[answers.tasks])
    return _worker_shares(answers.workers, agreeing.astype(np.float64), decided, answers.n_workers)


def peer_agreement(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    n_workers: int | None = None,
) -> WorkerAgreement:
    """Per worker: the mean, over their answers, of the share of other workers' answers that agree.

    For an answer ``(i, w, l)``, with ``n_il`` answers ``l`` on task ``i`` of
    which ``n_iwl`` are ``w``'s, and ``m_i``, ``m_iw`` the answer totals:

        share = (n_il - n_iwl) / (m_i - m_iw)

    the agreeing share of the pairs it forms with other workers' answers.
    Answers on tasks nobody else answered are not counted.
    """
    answers = answer_arrays(tasks, workers, labels, n_workers=n_workers)
    task_class = answers.tasks * answers.n_classes + answers.labels
    task_worker = answers.tasks * answers.n_workers + answers.workers
    others = np.bincount(answers.tasks)[answers.tasks] - _occurrences(task_worker)
    same = np.bincount(task_class)[task_class] - _occurrences(task_worker * answers.n_classes + answers.labels)
    with_peers = others > 0
    share = np.divide(same, others, out=np.zeros(len(others)), where=with_peers)
    return _worker_shares(answers.workers, share, with_peers, answers.n_workers)


def _occurrences(keys: IntArray) -> IntArray:
    """How often each entry's key occurs in ``keys``."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    occurrences: IntArray = counts[inverse]
    return occurrences


def _worker_shares(workers: IntArray, scores: FloatArray, counted: npt.NDArray[np.bool_], n: int) -> WorkerAgreement:
    """Mean of ``scores`` over each worker's counted answers (``nan`` without any)."""
    n_answers = np.bincount(workers[counted], minlength=n)
    total = np.bincount(workers[counted], weights=scores[counted], minlength=n)
    share = np.divide(total, n_answers, out=np.full(n, np.nan), where=n_answers > 0)
    return WorkerAgreement(share=share, n_answers=n_answers.astype(np.intp))


# --- Drift ---------------------------------------------------------------------------------


def jensen_shannon_distance(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in ``[0, 1]``) between two label distributions.

    ``p`` and ``q`` are counts or probabilities over the same classes; each
    is normalised. With ``m = (p + q) / 2``:

        JSD(p, q) = ½ Σ_k p_k log₂(p_k / m_k) + ½ Σ_k q_k log₂(q_k / m_k),    distance = √JSD

    Terms with ``p_k = 0`` are 0. The distance is a metric: 0 for equal
    distributions, 1 for disjoint supports. ``nan`` if either is all zeros.
    """
    first, second = _weights(p), _weights(q)
    if first.shape != second.shape:
        raise ValueError("the two distributions must have the same number of classes")
    if first.sum() == 0 or second.sum() == 0:
        return math.nan
    first, second = first / first.sum(), second / second.sum()
    middle = (first + second) / 2.0
    divergence = (_relative_entropy(first, middle) + _relative_entropy(second, middle)) / 2.0
    return math.sqrt(min(max(divergence, 0.0), 1.0))  # clipped against rounding


def _weights(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError("a distribution is a 1-D array of non-negative finite numbers")
    return array


def _relative_entropy(p: FloatArray, m: FloatArray) -> float:
    """``Σ_k p_k log₂(p_k / m_k)`` over ``p_k > 0`` (where ``m_k ≥ p_k / 2 > 0``)."""
    support = p > 0
    return float(np.sum(p[support] * np.log2(p[support] / m[support])))


# --- Krippendorff's alpha with a distance (the answer kinds beyond single choice) ----------
#
# Values are category indices (a distinct label set, a grade, a winner), as for the nominal
# alpha above; the distance between two categories comes from a matrix δ (see
# crowd.consensus.distances). With the coincidences o_ck of the nominal alpha and n_c = Σ_k o_ck,
#
#     α = 1 - D_o / D_e = 1 - (n - 1) · Σ_ck o_ck δ_ck / Σ_ck n_c n_k δ_ck
#
# (Krippendorff 2011). A fixed δ (nominal, interval, MASI, Jaccard) needs per task only m_u,
# the task's share of Σ o δ and n_uc; Krippendorff's ordinal δ depends on the totals n_c, so
# it is rebuilt for each resample from the resampled coincidences.

OrdinalDistances = Callable[[FloatArray], FloatArray]
"""Totals ``n_c`` (last axis) to distances (last two axes), e.g. :func:`crowd.consensus.distances.ordinal_distances`."""


def krippendorff_alpha_distance(
    tasks: npt.ArrayLike, labels: npt.ArrayLike, distance: FloatArray | OrdinalDistances
) -> float:
    """Krippendorff's alpha with ``δ[c, k]`` between categories, or a function of the totals (ordinal).

    ``labels`` index the rows of ``δ``; ``nan`` without two pairable values or
    when every pair of values is at distance 0 (``D_e = 0``). With
    ``nominal_distances(K)`` it equals :func:`krippendorff_alpha`.
    """
    counts = _pairable_counts_over(tasks, labels, _category_count(labels, distance))
    return float(_distance_alpha_of(_distance_table(counts, distance).sum(axis=0), distance))


def bootstrap_alpha_distance(
    tasks: npt.ArrayLike,
    labels: npt.ArrayLike,
    distance: FloatArray | OrdinalDistances,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    level: float = 0.95,
) -> Interval:
    """:func:`krippendorff_alpha_distance` with a percentile bootstrap interval over tasks.

    Resampling as in :func:`bootstrap_agreement`: multinomial task weights
    applied to a per-task table, never a rebuilt answer set.
    """
    if n_resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError("n_resamples must be at least 1 and level inside (0, 1)")
    counts = _pairable_counts_over(tasks, labels, _category_count(labels, distance))
    table = _distance_table(counts, distance)
    draws = _resample_totals(table, rng, n_resamples)
    return _interval(_distance_alpha_of(table.sum(axis=0), distance), _distance_alpha_of(draws, distance), level)


def _category_count(labels: npt.ArrayLike, distance: FloatArray | OrdinalDistances) -> int:
    if callable(distance):
        largest: int = int(np.max(np.asarray(labels), initial=-1))
        return largest + 1
    matrix = np.asarray(distance)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("distance must be a square matrix over the categories")
    return int(matrix.shape[0])


def _pairable_counts_over(tasks: npt.ArrayLike, labels: npt.ArrayLike, n_categories: int) -> FloatArray:
    """:func:`_pairable_counts` with exactly ``n_categories`` columns (labels must index them)."""
    label_index = np.asarray(labels, dtype=np.intp)
    if label_index.size and (label_index.min() < 0 or label_index.max() >= n_categories):
        raise ValueError("labels must index the rows of the distance matrix")
    counts = _pairable_counts(tasks, label_index)
    padded = np.zeros((len(counts), n_categories))
    padded[:, : counts.shape[1]] = counts
    return padded


def _coincidences(counts: FloatArray) -> FloatArray:
    """Per task the coincidence matrix ``(n_uc n_uk - [c = k] n_uc) / (m_u - 1)``, tasks × C × C."""
    m = counts.sum(axis=1)
    outer = counts[:, :, np.newaxis] * counts[:, np.newaxis, :]
    index = np.arange(counts.shape[1])
    outer[:, index, index] -= counts
    coincidences: FloatArray = outer / (m - 1)[:, np.newaxis, np.newaxis]
    return coincidences


def _distance_table(counts: FloatArray, distance: FloatArray | OrdinalDistances) -> FloatArray:
    """Per task: ``m_u``, then ``Σ_ck o^u_ck δ_ck`` (fixed δ) or all of ``o^u`` (ordinal), then ``n_uc``."""
    m = counts.sum(axis=1)
    if callable(distance):
        observed = _coincidences(counts).reshape(len(counts), -1)
    else:
        per_task = (counts * (counts @ distance)).sum(axis=1) - counts @ np.diagonal(distance)
        observed = (per_task / np.maximum(m - 1, 1))[:, np.newaxis]
    return np.column_stack([m, observed, counts])


def _distance_alpha_of(totals: FloatArray, distance: FloatArray | OrdinalDistances) -> FloatArray:
    """Alpha from (weighted) column sums of :func:`_distance_table`; last axis = columns."""
    n = totals[..., 0]
    if callable(distance):
        width = round(math.sqrt(totals.shape[-1] - 1 + 0.25) - 0.5)  # C² + C columns after m
        coincidences = totals[..., 1 : 1 + width * width].reshape(*totals.shape[:-1], width, width)
        by_class = totals[..., 1 + width * width :]
        delta = distance(by_class)
        observed = (coincidences * delta).sum(axis=(-2, -1))
    else:
        observed, by_class, delta = totals[..., 1], totals[..., 2:], np.asarray(distance, dtype=np.float64)
    expected = np.einsum("...c,...ck,...k->...", by_class, delta, by_class)  # Σ_ck n_c n_k δ_ck
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    return np.where(expected > 1e-12 * np.maximum(n * n, 1.0), alpha, np.nan)


def consensus_similarity(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    consensus: npt.ArrayLike,
    similarity: FloatArray,
    n_workers: int | None = None,
) -> WorkerAgreement:
    """Per worker: the mean similarity ``s[l, consensus[i]]`` of their answers ``(i, l)`` to the task's consensus.

    The graded counterpart of :func:`consensus_agreement` (which is this with
    ``s`` the identity): for sets ``s`` is a Jaccard matrix, for grades e.g.
    ``1 - |a - b| / (K - 1)``. Tasks whose consensus is negative are not counted.
    """
    target = np.asarray(consensus, dtype=np.intp)
    answers = answer_arrays(tasks, workers, labels, n_tasks=len(target), n_workers=n_workers)
    decided = target[answers.tasks] >= 0
    scores = np.where(decided, similarity[answers.labels, np.maximum(target[answers.tasks], 0)], 0.0)
    return _worker_shares(answers.workers, scores.astype(np.float64), decided, answers.n_workers)
