"""Grading and agreement for free text: word error rate against gold, normalised edit distance between answers.

Agreement of two answers is ``1 - NED``, NED the word edit distance over
the longer answer's length (:func:`~crowd.consensus.words.normalized_edit_distance`),
both after the project's normalisation: 1 for the same words, 0 for nothing
in common (and 1 for two empty answers). :func:`text_alpha` is
Krippendorff's alpha with NED as the distance, tasks as units.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from crowd.consensus.distance_agreement import MAX_PAIRS, distance_alpha
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.words import TextNormalization, edit_distance, normalized_edit_distance
from crowd.consensus.worker_scores import sort_key

DEFAULT_NORMALIZATION = TextNormalization()


@dataclass(frozen=True)
class TextGrade:
    """An answer against a gold text: word edits and the word error rate."""

    edits: int
    reference_words: int
    wer: float

    def passes(self, max_wer: float) -> bool:
        return self.wer <= max_wer


def grade_text(answer: str, gold: str, normalization: TextNormalization = DEFAULT_NORMALIZATION) -> TextGrade:
    """Word error rate of an answer against the gold text, both normalised (empty gold: 0 or 1, see WER)."""
    hypothesis, reference = normalization.words(answer), normalization.words(gold)
    edits = edit_distance(reference, hypothesis)
    wer = edits / len(reference) if reference else (0.0 if not hypothesis else 1.0)
    return TextGrade(edits, len(reference), wer)


@dataclass(frozen=True)
class TextPairAgreement:
    """Mean ``1 - NED`` of two workers' answers over the tasks both answered."""

    first: Hashable
    second: Hashable
    agreement: float
    shared: int


def pairwise_text_agreement(
    answers: Iterable[tuple[Hashable, Hashable, str]],
    normalization: TextNormalization = DEFAULT_NORMALIZATION,
    min_shared: int = 1,
) -> list[TextPairAgreement]:
    """Every pair of workers with at least ``min_shared`` common tasks, and their mean agreement there."""
    by_task = _by_task(answers, normalization)
    scores: dict[tuple[Hashable, Hashable], list[float]] = {}
    for answered in by_task.values():
        workers = sorted(answered, key=sort_key)
        for i, first in enumerate(workers):
            for second in workers[i + 1 :]:
                agreement = 1.0 - normalized_edit_distance(answered[first], answered[second])
                scores.setdefault((first, second), []).append(agreement)
    ordered = sorted(scores.items(), key=lambda item: (sort_key(item[0][0]), sort_key(item[0][1])))
    return [
        TextPairAgreement(first, second, float(np.mean(values)), len(values))
        for (first, second), values in ordered
        if len(values) >= min_shared
    ]


def consensus_text_agreement(
    answers: Iterable[tuple[Hashable, Hashable, str]],
    consensus: Mapping[Hashable, str],
    normalization: TextNormalization = DEFAULT_NORMALIZATION,
) -> dict[Hashable, tuple[float, int]]:
    """Per worker: mean ``1 - NED`` of their answers against the task's consensus text, and how many answers."""
    scores: dict[Hashable, list[float]] = {}
    for task, worker, text in answers:
        if task in consensus:
            reference = normalization.words(consensus[task])
            agreement = 1.0 - normalized_edit_distance(normalization.words(text), reference)
            scores.setdefault(worker, []).append(agreement)
    return {worker: (float(np.mean(values)), len(values)) for worker, values in scores.items()}


def text_alpha(
    answers: Iterable[tuple[Hashable, Hashable, str]],
    rng: np.random.Generator,
    normalization: TextNormalization = DEFAULT_NORMALIZATION,
    max_pairs: int = MAX_PAIRS,
) -> float:
    """Krippendorff's alpha with NED as the distance, tasks as units (``D_e`` sampled past ``max_pairs``)."""
    by_task = _by_task(answers, normalization)
    texts: list[list[str]] = []
    units: list[int] = []
    for unit, task in enumerate(sorted(by_task, key=sort_key)):
        for worker in sorted(by_task[task], key=sort_key):
            texts.append(by_task[task][worker])
            units.append(unit)

    def distance(first: IntArray, second: IntArray) -> FloatArray:
        pairs = zip(first.tolist(), second.tolist(), strict=True)
        return np.array([normalized_edit_distance(texts[a], texts[b]) for a, b in pairs], dtype=np.float64)

    return distance_alpha(units, distance, rng, max_pairs)


def _by_task(
    answers: Iterable[tuple[Hashable, Hashable, str]], normalization: TextNormalization
) -> dict[Hashable, dict[Hashable, list[str]]]:
    by_task: dict[Hashable, dict[Hashable, list[str]]] = {}
    for task, worker, text in answers:
        by_task.setdefault(task, {})[worker] = normalization.words(text)
    return by_task
