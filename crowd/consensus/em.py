"""The Dawid-Skene EM step on laid-out answers, tasks in layout order.

:mod:`crowd.consensus.dawid_skene` states the model and the two steps; this
module runs them on an :class:`~crowd.consensus.layout.AnswerLayout`, with
task rows in layout order throughout the fit so that no step gathers or
scatters them. The confusion matrices are held *by cell*: array
``[l, w, k] = C_w[k, l]``, whose rows ``l * n_workers + w`` are exactly the
columns the E-step adds per answer, and whose rows over ``l`` (the M-step
normalises each ``C_w[k, :]``) are whole ``workers × K`` slabs.

Per-answer rows go through one scratch array per fit (the E-step's
log-likelihood rows, then the M-step's posterior rows), by sums bound to it
once per fit (:mod:`crowd.consensus.sums`): the biggest arrays of a step are
written in place instead of freshly allocated, which on a busy machine also
saves the page faults of new memory.

The per-task sums of log-likelihoods are exact (:func:`exact_terms`), so
they do not depend on the order of a task's answers, which the layout
leaves as it found them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from crowd.consensus.acceleration import Iterate
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.layout import AnswerLayout
from crowd.consensus.prior import DirichletPrior
from crowd.consensus.sums import CellSums, TaskSums

MIN_GRID_BITS = 24
"""Per-task sums too large for a grid this fine (~6e-8) are not made exact: they would lose more than they gain."""
UNSHIFTED_RANGE = 700.0
"""``exp`` of a log-joint above ``-700`` is a normal float (the smallest is ~1e-308): no shift is needed."""

__all__ = [
    "DSParams",
    "EMStep",
    "Gold",
    "LaidOutAnswers",
    "confusion_counts",
    "normalise_log",
    "warm_start",
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

    def at(self, positions: IntArray) -> Gold:
        """The same gold with each task replaced by ``positions[task]`` (e.g. its layout position)."""
        return Gold(np.take(positions, self.tasks), self.classes)

    def clamp(self, posteriors: FloatArray) -> FloatArray:
        """Set the gold tasks' posteriors to one-hot on their known class."""
        posteriors[self.tasks] = 0.0
        posteriors[self.tasks, self.classes] = 1.0
        return posteriors


def normalise_log(
    log_joint: FloatArray, log_priors: FloatArray | None = None, shift: bool = True
) -> tuple[FloatArray, FloatArray]:
    """Posteriors ``exp(log_joint + log_priors - log Z)`` and log-evidences ``log Z``, row by row.

    With ``shift``, each row is shifted by its maximum before exponentiating,
    so the largest term is ``exp(0) = 1`` and nothing underflows to an
    all-zero row; a caller that knows every row has a term above
    ``-UNSHIFTED_RANGE`` and none above 0 passes ``shift=False`` and saves
    two passes (:meth:`LaidOutAnswers.needs_shift`). The work runs on the
    class-major transpose, where additions and reductions over the few
    classes are contiguous and several times faster; the division writes
    the task-major posteriors, which costs half as much as dividing in
    place and transposing back.
    """
    priors = np.zeros((log_joint.shape[1], 1)) if log_priors is None else log_priors[:, np.newaxis]
    by_class = np.add(log_joint.T, priors, order="C")  # the class-major copy and the priors in one pass
    peak = by_class.max(axis=0, initial=-np.inf) if shift else None
    if peak is not None:
        by_class -= peak
    np.exp(by_class, out=by_class)
    totals = by_class.sum(axis=0)
    posteriors = np.empty(log_joint.shape)
    np.divide(by_class, totals, out=posteriors.T)
    np.log(totals, out=totals)
    if peak is not None:
        totals += peak
    return posteriors, totals


def class_sums(posteriors: FloatArray) -> FloatArray:
    """``Σ_i q_i``, a class at a time: numpy sums each strided column pairwise, to the bits a class-major copy
    would give, without the copy (``sum(axis=0)`` would reduce the short rows slowly)."""
    return np.array([np.add.reduce(posteriors[:, k]) for k in range(posteriors.shape[1])])


def exact_terms(table: FloatArray, max_terms: int, magnitude: float | None = None) -> FloatArray:
    """``table`` rounded to the finest grid ``2^-s`` on which any sum of up to ``max_terms`` entries is exact.

    A multiple of ``2^-s`` below ``2^(53 - s)`` in size is a float64, so when
    every partial sum stays below that bound no addition rounds, and a sum
    gives the same bits in any order. With log-likelihoods of tens of nats
    and tasks of tens of answers, ``s`` is about 42: the terms move by less
    than 1e-13. Sums too large for a grid of at least :data:`MIN_GRID_BITS`
    bits are left as they are (deterministic for a given order only).
    ``magnitude`` bounds ``|table|`` when known beforehand.
    """
    largest = float(np.abs(table).max(initial=0.0)) if magnitude is None else magnitude
    bound = largest * max_terms
    if not 0.0 < bound < math.inf:
        return table
    bits = min(52 - math.ceil(math.log2(bound + 1.0)), 60)
    if bits < MIN_GRID_BITS:
        return table
    rounded = np.multiply(table, 2.0**bits)
    np.rint(rounded, out=rounded)
    rounded *= 2.0**-bits
    return rounded


def by_cell(confusions: FloatArray) -> FloatArray:
    """``[l, w, k] = confusions[w, k, l]``, contiguous: row ``l * n_workers + w`` is the column ``C_w[:, l]``."""
    return np.ascontiguousarray(confusions.transpose(2, 0, 1))


def by_worker(cells: FloatArray) -> FloatArray:
    """The inverse of :func:`by_cell` (a view): ``[w, k, l]``."""
    confusions: FloatArray = cells.transpose(1, 2, 0)
    return confusions


@dataclass(frozen=True)
class LaidOutAnswers:
    """One fit's answers: their layout, the gold at layout positions, and the two sums bound to the fit's scratch.

    ``task_sums`` writes the per-task log-likelihoods into a buffer of its
    own, read by each E-step before the next one overwrites it.
    """

    layout: AnswerLayout
    gold: Gold
    task_sums: TaskSums
    cell_sums: CellSums
    max_answers: int
    last_totals: list[tuple[FloatArray, FloatArray]] = field(default_factory=list, compare=False)

    @classmethod
    def of(cls, layout: AnswerLayout, gold: Gold) -> LaidOutAnswers:
        scratch = layout.scratch()
        sums = TaskSums.of(layout, scratch), CellSums.of(layout, scratch)
        return cls(layout, gold.at(layout.task_position), *sums, layout.max_answers)

    def class_totals(self, posteriors: FloatArray) -> FloatArray:
        """``Σ_i q_i``; for the last E-step's posteriors, kept from that step."""
        if self.last_totals and self.last_totals[0][0] is posteriors:
            return self.last_totals[0][1]
        return class_sums(posteriors)

    def majority(self) -> FloatArray:
        """Majority-vote shares (gold clamped): tasks without answers get the uniform distribution.

        The layout counts each task's answers of each label, and so its
        number of answers: the shares need neither a pass over the answers
        nor row sums.
        """
        layout = self.layout
        votes = layout.label_counts.astype(np.float64)
        empty = layout.empty
        votes[:empty] = 1.0 / max(layout.n_classes, 1)
        votes[empty:] /= layout.answers_per_task[empty:, np.newaxis]
        return self.gold.clamp(votes)

    def soft_counts(self, posteriors: FloatArray) -> FloatArray:
        """``N`` by cell: row ``l * n_workers + w`` holds ``N_w[:, l] = Σ_{answers (i, w, l)} q_i``."""
        return self.cell_sums(posteriors)

    def log_likelihoods(self, log_cells: FloatArray, magnitude: float | None = None) -> FloatArray:
        """``Σ_{answers (i, w, l)} log C_w[k, l]`` per task, exactly; ``log_cells`` by cell, ``n_cells × K``.

        ``magnitude``, if given, bounds ``|log_cells|`` (see :func:`exact_terms`).
        The result is the bound buffer: the next call overwrites it.
        """
        return self.task_sums(exact_terms(log_cells, self.max_answers, magnitude))

    def log_joint(self, log_cells: FloatArray, log_priors: FloatArray) -> FloatArray:
        """``log π_k + Σ_{answers (i, w, l)} log C_w[k, l]`` per task (a fresh array)."""
        log_joint: FloatArray = np.add(self.log_likelihoods(log_cells), log_priors)
        return log_joint

    def e_step(
        self, log_cells: FloatArray, log_priors: FloatArray, magnitude: float | None = None
    ) -> tuple[FloatArray, float]:
        """Task posteriors ``q`` (gold clamped) and the data log-likelihood ``Σ_i log Z_i``.

        ``magnitude``, if given, bounds ``|log_cells|`` (see :meth:`needs_shift`).
        """
        log_likelihoods = self.log_likelihoods(log_cells, magnitude)
        shift = self.needs_shift(magnitude, len(log_priors))
        posteriors, log_evidence = normalise_log(log_likelihoods, log_priors, shift)
        if len(self.gold.tasks):
            gold = self.gold
            log_evidence[gold.tasks] = log_likelihoods[gold.tasks, gold.classes] + log_priors[gold.classes]
            gold.clamp(posteriors)
        self.last_totals[:] = [(posteriors, class_sums(posteriors))]
        return posteriors, float(log_evidence.sum())

    def needs_shift(self, magnitude: float | None, n_classes: int) -> bool:
        """Whether some task's log-joint might fall below ``-UNSHIFTED_RANGE`` for every class.

        It cannot when ``magnitude`` bounds ``|log C|``: a task sums at most
        ``max_answers`` such terms, and the class with the largest prior has
        ``log π ≥ -log K``. No log-joint is above 0 (``C`` and ``π`` are
        probabilities), so then the posteriors are exponentiated unshifted.
        """
        if magnitude is None:
            return True
        return self.max_answers * magnitude + math.log(max(n_classes, 1)) >= UNSHIFTED_RANGE

    def e_step_of(self, params: DSParams) -> tuple[FloatArray, float]:
        """:meth:`e_step` from parameters (which must cover every worker of the layout)."""
        log_cells = np.log(by_cell(params.confusions)).reshape(self.layout.n_cells, self.layout.n_classes)
        return self.e_step(log_cells, np.log(params.priors))


@dataclass(frozen=True)
class EMStep:
    """The EM map of one fit: M-step from task posteriors, then E-step, under a fixed prior."""

    answers: LaidOutAnswers
    prior: DirichletPrior
    pseudo_counts: FloatArray  # the prior's confusion pseudo-counts, by cell
    newcomer: FloatArray
    magnitude: float | None  # bounds |log C| for every C this M-step can give

    @classmethod
    def of(cls, answers: LaidOutAnswers, prior: DirichletPrior) -> EMStep:
        """Bind the prior; ``C_w[k, l] ≥ min a / (answers + max_k Σ_l a_w[k, l])`` bounds ``|log C|``."""
        pseudo_counts = by_cell(prior.confusion)
        row_totals = reduce(np.add, pseudo_counts, np.zeros(pseudo_counts.shape[1:]))
        smallest = float(pseudo_counts.min(initial=math.inf))
        largest_row = answers.layout.n_answers + float(row_totals.max(initial=0.0))
        magnitude = math.log(largest_row / smallest) if 0.0 < smallest < math.inf else None
        return cls(answers, prior, pseudo_counts, prior.newcomer(), magnitude)

    def maximise(self, posteriors: FloatArray, counts: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """M-step: confusions by cell and class priors; ``counts`` (by cell) if already known."""
        fresh = self.answers.soft_counts(posteriors) if counts is None else counts.copy()
        cells = fresh.reshape(self.pseudo_counts.shape)
        cells += self.pseudo_counts
        cells /= np.add.reduce(cells, axis=0)  # row totals Σ_l C_w[k, l], a slab per label added in turn
        class_totals = self.answers.class_totals(posteriors) + self.prior.classes
        return cells, class_totals / class_totals.sum()

    def __call__(self, posteriors: FloatArray, counts: FloatArray | None = None) -> Iterate[DSParams]:
        """One EM step: the new parameters, their posteriors and their objective ``J``."""
        layout = self.answers.layout
        cells, priors = self.maximise(posteriors, counts)
        log_cells, log_priors = np.log(cells), np.log(priors)
        new_posteriors, log_likelihood = self.answers.e_step(
            log_cells.reshape(layout.n_cells, layout.n_classes), log_priors, self.magnitude
        )
        log_prior = np.einsum("lwk,lwk->", self.pseudo_counts, log_cells) + self.prior.classes * log_priors.sum()
        params = DSParams(by_worker(cells), priors, self.newcomer)
        totals = self.answers.class_totals(new_posteriors)  # kept from the E-step
        return Iterate(params, new_posteriors, log_likelihood + float(log_prior), totals)


def confusion_counts(counts_by_cell: FloatArray, layout: AnswerLayout) -> FloatArray:
    """Soft counts by cell -> ``N[w, k, l]`` (a view)."""
    return by_worker(counts_by_cell.reshape(layout.n_classes, layout.n_workers, layout.n_classes))


def warm_start(answers: LaidOutAnswers, init: DSParams) -> FloatArray:
    """The E-step of a previous fit's parameters; workers it did not know get its ``newcomer`` matrix."""
    n_new = answers.layout.n_workers - len(init.confusions)
    newcomers = np.broadcast_to(init.newcomer, (max(n_new, 0), *init.newcomer.shape))
    params = DSParams(np.concatenate([init.confusions, newcomers]), init.priors, init.newcomer)
    return answers.e_step_of(params)[0]
