"""Span consensus: a Dawid-Skene over token tags, spans rebuilt from the winning tag sequence.

Each answer tags every token of its task (:mod:`~crowd.consensus.span_tags`,
BIO by default). Every token is an item of a Dawid-Skene model
(:class:`crowd.consensus.dawid_skene.DawidSkene`, the project's own, with
its empirical-Bayes smoothing and gold clamping): each worker has a
confusion matrix over tags, so a worker who marks ``person`` well but never
finds ``org`` has high recall on one row and low on the other — per-worker,
per-label reliability — and a worker who sprinkles spans has weight against
their inside tags.

The consensus is the tag sequence of highest posterior among the valid ones
(BIO: an inside tag only continues a span of its label; Viterbi over the
token posteriors), turned back into spans. A span's confidence is the
product of its tokens' posteriors for the decoded tags and of the
probability that the next token does not continue it (IO: nor the one
before). The task's confidence is the product over all tokens; its
stability, the probability that one more answer by a newcomer (the fit's
pooled, smoothed matrix) changes no token's most probable tag.

Worker reliability (:mod:`~crowd.consensus.worker_scores`): the posterior
mean of their answers' token F1 against the gold or the consensus tags, the
scale of gold grading. :func:`expected_token_f1` gives the same quantity
from a confusion matrix alone (precision and recall of (token, label)
pairs under the tag priors); it ranked workers less well in
``bench/kinds_open.py`` (Spearman .93–.96 against .97–.99 with the truth).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowd.consensus.dawid_skene import DawidSkene, DSParams
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.online import OnlineModel
from crowd.consensus.span_quality import tag_f1
from crowd.consensus.span_tags import (
    Scheme,
    Span,
    Tokens,
    allowed_transitions,
    best_tag_sequence,
    n_tags,
    parse_spans,
    spans_to_tags,
    tag_label,
    tag_runs,
)
from crowd.consensus.worker_scores import WorkerReliability, sort_key, worker_reliabilities

SpanValue = Sequence[Mapping[str, Any]] | Sequence[Span]


@dataclass(frozen=True)
class SpanConsensus:
    """One task's consensus spans, each with a confidence; the task's confidence and stability."""

    spans: tuple[dict[str, Any], ...]
    confidence: float
    stability: float
    answers: int

    @property
    def value(self) -> list[dict[str, Any]]:
        """The consensus as an answer value: ``[{"start", "end", "label"}]``."""
        return [{key: span[key] for key in ("start", "end", "label")} for span in self.spans]


@dataclass(frozen=True)
class TaskTags:
    """One task's tokens, its answers' tag rows (canonical order) and its gold tags."""

    task: Hashable
    tokens: Tokens
    workers: tuple[Hashable, ...]
    tags: IntArray
    gold: IntArray | None

    @classmethod
    def of(
        cls,
        task: Hashable,
        answers: Sequence[tuple[Hashable, tuple[Span, ...]]],
        text: str | None,
        gold: tuple[Span, ...] | None,
        labels: Mapping[str, int],
        scheme: Scheme,
    ) -> TaskTags:
        ordered = sorted(answers, key=lambda answer: (answer[1], sort_key(answer[0])))
        every = [spans for _, spans in ordered] + ([gold] if gold is not None else [])
        tokens = Tokens.of_text(text) if text is not None else Tokens.of_boundaries(every)
        rows = [spans_to_tags(spans, tokens, labels, scheme) for _, spans in ordered]
        tags = np.array(rows, dtype=np.intp).reshape(len(rows), len(tokens))
        gold_tags = None if gold is None else spans_to_tags(gold, tokens, labels, scheme)
        return cls(task, tokens, tuple(worker for worker, _ in ordered), tags, gold_tags)


def _spans(value: SpanValue) -> tuple[Span, ...]:
    if all(isinstance(item, Span) for item in value):
        return tuple(sorted(item for item in value if isinstance(item, Span)))
    return parse_spans(value)


@dataclass(frozen=True)
class SpanParams:
    """Fitted tag confusion matrices: what the server stores and the online step reads."""

    confusions: Mapping[Hashable, FloatArray]
    priors: FloatArray
    newcomer: FloatArray
    labels: tuple[str, ...]
    scheme: Scheme = "bio"

    def consensus(self, answers: Sequence[tuple[Hashable, SpanValue]], text: str | None = None) -> SpanConsensus:
        """The online step: one task's spans from its ``(worker, spans)`` answers (and its text, if known)."""
        index = {label: i for i, label in enumerate(self.labels)}
        parsed = [(worker, _spans(value)) for worker, value in answers]
        unknown = {span.label for _, spans in parsed for span in spans} - set(index)
        if unknown:
            raise ValueError(f"labels outside the project's: {sorted(unknown)}")
        task = TaskTags.of(None, parsed, text, None, index, self.scheme)
        online = OnlineModel.of(self._params(task.workers))
        return self._decode(task, token_posteriors(online, task.tags), task.tags.shape[0])

    def _params(self, workers: Sequence[Hashable]) -> DSParams:
        k = len(self.priors)
        matrices = [self.confusions.get(worker, self.newcomer) for worker in workers]
        stacked = np.array(matrices, dtype=np.float64).reshape(len(matrices), k, k)
        return DSParams(stacked, self.priors, self.newcomer)

    def _decode(self, task: TaskTags, posteriors: FloatArray, n_answers: int) -> SpanConsensus:
        return decode(task, posteriors, self.labels, self.scheme, self.newcomer, n_answers)

    def project_dict(self) -> dict[str, Any]:
        return {
            "kind": "spans",
            "labels": list(self.labels),
            "scheme": self.scheme,
            "priors": self.priors.tolist(),
            "newcomer": self.newcomer.tolist(),
        }

    def worker_dict(self, worker: Hashable) -> dict[str, Any]:
        return {"confusion": np.asarray(self.confusions.get(worker, self.newcomer)).tolist()}

    @classmethod
    def from_dicts(cls, project: Mapping[str, Any], workers: Mapping[Hashable, Mapping[str, Any]]) -> SpanParams:
        return cls(
            confusions={worker: np.array(data["confusion"], dtype=np.float64) for worker, data in workers.items()},
            priors=np.array(project["priors"], dtype=np.float64),
            newcomer=np.array(project["newcomer"], dtype=np.float64),
            labels=tuple(project["labels"]),
            scheme=project.get("scheme", "bio"),
        )


def token_posteriors(online: OnlineModel, tags: IntArray) -> FloatArray:
    """Per token, the posterior over tags given the answers' tag rows (answers × tokens), as in the online step."""
    if tags.shape[1] == 0:
        return np.zeros((0, len(online.log_priors)))
    rows = np.arange(tags.shape[0])[:, np.newaxis]
    log_joint = online.log_priors + online.log_columns[np.minimum(rows, online.n_workers), tags].sum(axis=0)
    shifted = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    posteriors: FloatArray = shifted / shifted.sum(axis=1, keepdims=True)
    return posteriors


def decode(
    task: TaskTags, posteriors: FloatArray, labels: Sequence[str], scheme: Scheme, newcomer: FloatArray, n_answers: int
) -> SpanConsensus:
    """Spans from token posteriors: the best valid tag sequence, each span's confidence, the task's figures."""
    if n_answers == 0:
        return SpanConsensus((), 0.0, 0.0, 0)
    path = best_tag_sequence(posteriors, allowed_transitions(len(labels), scheme))
    chosen = posteriors[np.arange(len(path)), path]
    spans = tuple(
        {
            "start": int(task.tokens.starts[a]),
            "end": int(task.tokens.ends[b - 1]),
            "label": labels[label],
            "confidence": _span_confidence(posteriors, chosen, a, b, label, scheme),
        }
        for a, b, label in tag_runs(path, scheme)
    )
    stability = float(np.prod(1.0 - flip_probability(posteriors, newcomer)))
    return SpanConsensus(spans, float(np.prod(chosen)), stability, n_answers)


def _span_confidence(posteriors: FloatArray, chosen: FloatArray, a: int, b: int, label: int, scheme: Scheme) -> float:
    inside = 2 + 2 * label if scheme == "bio" else 1 + label
    confidence = float(np.prod(chosen[a:b]))
    if b < len(posteriors):
        confidence *= 1.0 - float(posteriors[b, inside])
    if scheme == "io" and a > 0:
        confidence *= 1.0 - float(posteriors[a - 1, inside])
    return confidence


def flip_probability(posteriors: FloatArray, confusion: FloatArray) -> FloatArray:
    """Per token: the probability that one more answer (a worker with this confusion matrix) changes its top tag."""
    if len(posteriors) == 0:
        return np.zeros(0)
    top = posteriors.argmax(axis=1)
    after = posteriors[:, :, np.newaxis] * confusion[np.newaxis, :, :]  # token × true tag × answered tag
    changed = after.argmax(axis=1) != top[:, np.newaxis]
    chance = posteriors @ confusion
    flip: FloatArray = (chance * changed).sum(axis=1)
    return flip


def expected_token_f1(confusions: FloatArray, priors: FloatArray, labels_of_tags: IntArray) -> FloatArray:
    """Per confusion matrix: F1 of (token, label) pairs when true tags follow ``priors``."""
    same = (labels_of_tags[:, np.newaxis] == labels_of_tags[np.newaxis, :]) & (labels_of_tags[:, np.newaxis] >= 0)
    marked = labels_of_tags[np.newaxis, :] >= 0
    true_inside = labels_of_tags >= 0
    weighted = confusions * priors[np.newaxis, :, np.newaxis]
    hits = (weighted * same).sum(axis=(1, 2))
    false_marks = (weighted * (marked & ~same)).sum(axis=(1, 2))
    misses = priors[true_inside].sum() - hits
    denominator = 2 * hits + false_marks + misses
    f1: FloatArray = np.divide(2 * hits, denominator, out=np.ones_like(hits), where=denominator > 0)
    return f1


def _flat(parts: list[IntArray]) -> IntArray:
    flat: IntArray = np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)
    return flat


class SpanAggregator:
    """Dawid-Skene over token tags: consensus spans and per-worker, per-label tag confusion matrices.

    Hyper-parameters: ``labels`` (the project's label list; labels seen in
    answers are added, sorted, after them); ``scheme`` (``"bio"``, default,
    keeps adjacent spans of one label apart; ``"io"``); ``ds`` (the
    :class:`DawidSkene` estimator, default settings).

    ``fit`` takes ``(task, worker, spans)`` answers, the task texts (tasks
    without one are segmented by their span boundaries) and gold spans.
    Fitted: ``results_``, ``params_``, ``workers_``, ``model_`` (the DS fit).
    """

    results_: dict[Hashable, SpanConsensus]
    params_: SpanParams
    workers_: dict[Hashable, WorkerReliability]
    model_: DawidSkene

    def __init__(self, labels: Sequence[str] = (), scheme: Scheme = "bio", ds: DawidSkene | None = None) -> None:
        if scheme not in ("io", "bio"):
            raise ValueError("scheme must be io or bio")
        self.labels = tuple(labels)
        self.scheme: Scheme = scheme
        self.ds = ds or DawidSkene()

    def fit(
        self,
        answers: Iterable[tuple[Hashable, Hashable, SpanValue]],
        texts: Mapping[Hashable, str] | None = None,
        gold: Mapping[Hashable, SpanValue] | None = None,
    ) -> SpanAggregator:
        by_task: dict[Hashable, list[tuple[Hashable, tuple[Span, ...]]]] = {}
        for task, worker, value in answers:
            by_task.setdefault(task, []).append((worker, _spans(value)))
        gold_spans = {task: _spans(value) for task, value in (gold or {}).items()}
        labels = self._labels(by_task, gold_spans)
        index = {label: i for i, label in enumerate(labels)}
        tasks = [
            TaskTags.of(task, by_task[task], (texts or {}).get(task), gold_spans.get(task), index, self.scheme)
            for task in sorted(by_task, key=sort_key)
        ]
        workers = sorted({w for task in tasks for w in task.workers}, key=sort_key)
        self.model_ = self._fit_ds(tasks, workers, n_tags(len(labels), self.scheme))
        params = self.model_.params_
        self.params_ = SpanParams(
            dict(zip(workers, params.confusions, strict=True)), params.priors, params.newcomer, labels, self.scheme
        )
        self.results_ = self._decode_all(tasks, labels)
        self.workers_ = self._reliabilities(tasks, workers, labels)
        return self

    def _labels(
        self,
        by_task: Mapping[Hashable, list[tuple[Hashable, tuple[Span, ...]]]],
        gold: Mapping[Hashable, tuple[Span, ...]],
    ) -> tuple[str, ...]:
        seen = {span.label for answers in by_task.values() for _, spans in answers for span in spans}
        seen |= {span.label for spans in gold.values() for span in spans}
        return self.labels + tuple(sorted(seen - set(self.labels)))

    def _fit_ds(self, tasks: Sequence[TaskTags], workers: Sequence[Hashable], k: int) -> DawidSkene:
        index = {worker: i for i, worker in enumerate(workers)}
        offsets = np.cumsum([0] + [len(task.tokens) for task in tasks])
        items: list[IntArray] = []
        answerers: list[IntArray] = []
        tags: list[IntArray] = []
        gold: dict[int, int] = {}
        for t, task in enumerate(tasks):
            n_answers, n_tokens = task.tags.shape
            items.append(np.tile(offsets[t] + np.arange(n_tokens), n_answers))
            answerers.append(np.repeat([index[w] for w in task.workers], n_tokens))
            tags.append(task.tags.ravel())
            if task.gold is not None:
                gold.update({int(offsets[t] + i): int(tag) for i, tag in enumerate(task.gold)})
        return self.ds.fit(_flat(items), _flat(answerers), _flat(tags), int(offsets[-1]), len(workers), k, gold=gold)

    def _decode_all(self, tasks: Sequence[TaskTags], labels: tuple[str, ...]) -> dict[Hashable, SpanConsensus]:
        offsets = np.cumsum([0] + [len(task.tokens) for task in tasks])
        posteriors = self.model_.posteriors_
        newcomer = self.model_.params_.newcomer
        return {
            task.task: decode(
                task, posteriors[offsets[t] : offsets[t + 1]], labels, self.scheme, newcomer, len(task.workers)
            )
            for t, task in enumerate(tasks)
        }

    def _reliabilities(
        self, tasks: Sequence[TaskTags], workers: Sequence[Hashable], labels: tuple[str, ...]
    ) -> dict[Hashable, WorkerReliability]:
        """Each answer scored by token F1 against the gold tags (gold tasks) or the consensus tags (others)."""
        index = {worker: i for i, worker in enumerate(workers)}
        label_index = {label: i for i, label in enumerate(labels)}
        of_tag = tag_label(len(labels), self.scheme)
        owners, scores, is_gold = [], [], []
        for task in tasks:
            consensus = self.results_[task.task]
            reference = (
                task.gold
                if task.gold is not None
                else spans_to_tags(
                    [Span(s["start"], s["end"], s["label"]) for s in consensus.spans],
                    task.tokens,
                    label_index,
                    self.scheme,
                )
            )
            for worker, row in zip(task.workers, task.tags, strict=True):
                owners.append(index[worker])
                scores.append(tag_f1(row, reference, of_tag))
                is_gold.append(task.gold is not None)
        return worker_reliabilities(workers, None, owners, scores, is_gold)
