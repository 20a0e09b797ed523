r"""Bounding-box consensus: match boxes across workers, learn each worker's recall, false-box rate and spread by EM.

Matching. The answers of a task are taken in a canonical order (most boxes
first, then by their coordinates) and clustered: each answer's boxes are
matched one-to-one to the clusters so far by an optimal assignment on
``1 - IoU`` with the clusters' mean boxes (IoU at least
:data:`~crowd.consensus.box_geometry.IOU_THRESHOLD`; a different label
costs 1 more, so it only matches where no same-label box does); unmatched
boxes open new clusters. A cluster is a *candidate object*; an answer
either drew it (one box) or did not.

Model. A candidate is real with prior probability ``π``. Worker ``w``
draws a real object with probability ``r_w`` (recall) and a given spurious
candidate with probability ``e_w`` (false-box rate). So, over the answers
``j`` of the task,

    logit P(real) = logit π + Σ_{j drew} log(r / e) + Σ_{j did not} log((1 - r) / (1 - e)).

A drawn box is the object's box plus noise: each corner coordinate, over
the object's width or height, has variance ``σ_w²``; the fused box is the
precision-weighted mean ``Σ b / σ_w² / Σ 1 / σ_w²`` of the cluster's boxes.
The label is a one-coin vote with label accuracy ``l_w`` (as in
:mod:`~crowd.consensus.text_votes`). A candidate is kept when
``P(real) >= 1/2``: enough reliable workers drew it, and not enough
reliable workers passed it by.

EM. The M-step sets ``r, e, σ², l`` to their expected counts, each shrunk
toward the crowd's pooled value by ``prior_strength`` pseudo-observations,
and ``π`` to the share of real candidates (Beta(1, 1) prior). Start: ``P``
is the share of the task's answers that drew the candidate. Gold: a
task's clusters matched to its gold boxes are real (at the gold box and
label), the others spurious, and a gold box nobody drew is a real candidate
every answer missed.

Reliability of a worker (:mod:`~crowd.consensus.worker_scores`): the
posterior mean of their answers' IoU-weighted Jaccard against the gold or
the consensus, the scale of gold grading. The model's own summary
(:meth:`~crowd.consensus.box_model.BoxFit.reliability`: detection F1 times
mean IoU times label accuracy) picks the next workers of the stability
estimate; it ranked workers less well in ``bench/kinds_open.py``
(Spearman .89–.92 against .97 with the truth).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowd.consensus.box_em import e_step, run_em
from crowd.consensus.box_geometry import IOU_THRESHOLD, BoxSet, grade_boxes, match_box_sets
from crowd.consensus.box_model import BoxFit, BoxWorkers, TaskClusters, cluster_answers
from crowd.consensus.worker_scores import WorkerReliability, representative_workers, sort_key, worker_reliabilities

__all__ = ["BoxAggregator", "BoxConsensus", "BoxParams", "cluster_answers", "match_box_sets"]


@dataclass(frozen=True)
class BoxConsensus:
    """One task's consensus boxes, each with its confidence ``P(real) · P(label)``.

    ``confidence``: the probability that the kept set is exactly the real
    objects (kept ones real, dropped ones not; labels right);
    ``stability``: the probability that one more answer keeps and drops the
    same candidates (the next worker is one of a few at quantiles of the
    crowd's reliability, with equal chance; label changes are not counted).
    """

    boxes: tuple[dict[str, Any], ...]
    confidence: float
    stability: float
    answers: int

    @property
    def value(self) -> list[dict[str, Any]]:
        """The consensus as an answer value: ``[{"x", "y", "w", "h", "label"}]``."""
        return [{key: box[key] for key in ("x", "y", "w", "h", "label")} for box in self.boxes]

    def box_set(self) -> BoxSet:
        return BoxSet.of(self.value)


@dataclass(frozen=True)
class BoxParams:
    """Fitted worker models for boxes: what the server stores and the online step reads."""

    workers: Mapping[Hashable, Mapping[str, float]]
    crowd: Mapping[str, float]
    """The crowd's pooled ``recall``, ``false_rate``, ``spread`` (σ²), ``label_accuracy``, and ``prior_real``."""
    labels: tuple[str, ...]
    iou_threshold: float = IOU_THRESHOLD
    next_workers: tuple[tuple[float, float], ...] = ()
    """``(recall, false_rate)`` of workers at quantiles of the crowd's reliability: the next worker, for stability."""

    def worker_arrays(self, workers: Sequence[Hashable]) -> BoxWorkers:
        rows = [self.workers.get(worker, self.crowd) for worker in workers]
        return BoxWorkers.of_rows(rows)

    def consensus(self, answers: Sequence[tuple[Hashable, Sequence[Mapping[str, Any]] | BoxSet]]) -> BoxConsensus:
        """The online step: one task's boxes from its ``(worker, boxes)`` answers and these parameters."""
        task = TaskClusters.of(None, [(w, _box_set(value)) for w, value in answers], None, self.iou_threshold)
        labels = tuple(sorted(set(self.labels) | task.label_set()))
        workers = task.workers
        fit = e_step([task], self.worker_arrays(workers), {w: i for i, w in enumerate(workers)}, labels, self.crowd)
        return _consensus_of(fit, self.next_workers or ((self.crowd["recall"], self.crowd["false_rate"]),))[0]

    def project_dict(self) -> dict[str, Any]:
        return {
            "kind": "boxes",
            "crowd": dict(self.crowd),
            "labels": list(self.labels),
            "iou_threshold": self.iou_threshold,
            "next_workers": [list(pair) for pair in self.next_workers],
        }

    def worker_dict(self, worker: Hashable) -> dict[str, float]:
        return dict(self.workers.get(worker, self.crowd))

    @classmethod
    def from_dicts(cls, project: Mapping[str, Any], workers: Mapping[Hashable, Mapping[str, Any]]) -> BoxParams:
        return cls(
            workers={worker: {k: float(v) for k, v in data.items()} for worker, data in workers.items()},
            crowd={k: float(v) for k, v in project["crowd"].items()},
            labels=tuple(project.get("labels", ())),
            iou_threshold=float(project.get("iou_threshold", IOU_THRESHOLD)),
            next_workers=tuple((float(r), float(e)) for r, e in project.get("next_workers", ())),
        )


def _box_set(value: Sequence[Mapping[str, Any]] | BoxSet) -> BoxSet:
    return value if isinstance(value, BoxSet) else BoxSet.of(value)


def _consensus_of(fit: BoxFit, next_workers: Sequence[tuple[float, float]]) -> list[BoxConsensus]:
    flips = np.mean([fit.flip_probability(r, e) for r, e in next_workers], axis=0)
    out = []
    for t, task in enumerate(fit.tasks):
        clusters = np.flatnonzero(fit.layout.cluster_task == t)
        kept = clusters[fit.real[clusters] >= 0.5]
        label = fit.label_posteriors[kept].argmax(axis=1) if len(kept) else np.zeros(0, dtype=np.intp)
        sure = fit.real[kept] * fit.label_posteriors[kept, label]
        boxes = [
            {"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1, "label": fit.labels[k], "confidence": c}
            for (x1, y1, x2, y2), k, c in zip(fit.fused[kept].tolist(), label.tolist(), sure.tolist(), strict=True)
        ]
        dropped = np.setdiff1d(clusters, kept)
        confidence = float(np.prod(sure) * np.prod(1.0 - fit.real[dropped])) if task.answers else 0.0
        stability = float(np.prod(1.0 - flips[clusters])) if task.answers else 0.0
        boxes.sort(key=lambda box: (box["x"], box["y"], box["w"], box["h"], box["label"]))
        out.append(BoxConsensus(tuple(boxes), confidence, stability, len(task.answers)))
    return out


class BoxAggregator:
    """EM over box clusters: consensus boxes and each worker's recall, false-box rate, spread and label accuracy.

    Hyper-parameters (one default for every data set): ``iou_threshold``
    (0.5, the detection benchmarks' criterion); ``prior_strength``
    pseudo-observations toward the crowd's pooled values (5: a worker's own
    record dominates after a handful of tasks); ``labels`` (the project's
    label list; labels seen in answers are added); ``max_iter``, ``tol``.

    Fitted: ``results_`` (task -> :class:`BoxConsensus`), ``params_``,
    ``workers_`` (worker -> :class:`WorkerReliability`), ``n_iter_``.
    """

    results_: dict[Hashable, BoxConsensus]
    params_: BoxParams
    workers_: dict[Hashable, WorkerReliability]
    n_iter_: int

    def __init__(
        self,
        iou_threshold: float = IOU_THRESHOLD,
        prior_strength: float = 5.0,
        labels: Sequence[str] = (),
        max_iter: int = 100,
        tol: float = 1e-6,
    ) -> None:
        if not 0 < iou_threshold <= 1 or prior_strength < 0 or max_iter < 1:
            raise ValueError("need 0 < iou_threshold <= 1, prior_strength >= 0, max_iter >= 1")
        self.iou_threshold = iou_threshold
        self.prior_strength = prior_strength
        self.labels = tuple(labels)
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self,
        answers: Iterable[tuple[Hashable, Hashable, Sequence[Mapping[str, Any]] | BoxSet]],
        gold: Mapping[Hashable, Sequence[Mapping[str, Any]] | BoxSet] | None = None,
    ) -> BoxAggregator:
        """Fit on ``(task, worker, boxes)`` answers; ``gold`` maps task -> its known boxes."""
        by_task: dict[Hashable, list[tuple[Hashable, BoxSet]]] = {}
        for task, worker, value in answers:
            by_task.setdefault(task, []).append((worker, _box_set(value)))
        gold_sets = {task: _box_set(value) for task, value in (gold or {}).items()}
        tasks = [
            TaskClusters.of(task, by_task[task], gold_sets.get(task), self.iou_threshold)
            for task in sorted(by_task, key=sort_key)
        ]
        workers = sorted({w for task in tasks for w in task.workers}, key=sort_key)
        labels = tuple(sorted(set(self.labels).union(*(task.label_set() for task in tasks))))
        fit, params, self.n_iter_ = run_em(tasks, workers, labels, self.prior_strength, self.max_iter, self.tol)
        reliability = fit.reliability(self.prior_strength)
        work = np.bincount(fit.layout.pair_worker, minlength=len(workers))
        chosen = representative_workers(reliability, work)
        next_workers = tuple((float(params.workers.recall[i]), float(params.workers.false_rate[i])) for i in chosen)
        self.params_ = BoxParams(params.by_worker(workers), params.crowd, labels, self.iou_threshold, next_workers)
        consensus = _consensus_of(fit, next_workers or ((params.crowd["recall"], params.crowd["false_rate"]),))
        self.results_ = dict(zip((t.task for t in tasks), consensus, strict=True))
        self.workers_ = self._reliabilities(tasks, workers, gold_sets)
        return self

    def _reliabilities(
        self,
        tasks: Sequence[TaskClusters],
        workers: Sequence[Hashable],
        gold: Mapping[Hashable, BoxSet],
    ) -> dict[Hashable, WorkerReliability]:
        """Each answer scored against the gold (gold tasks) or the consensus (others), by the IoU-weighted Jaccard."""
        index = {worker: i for i, worker in enumerate(workers)}
        owners, scores, is_gold = [], [], []
        for task in tasks:
            reference = gold[task.task] if task.task in gold else self.results_[task.task].box_set()
            for worker, answer in zip(task.workers, task.answers, strict=True):
                owners.append(index[worker])
                scores.append(grade_boxes(answer, reference, self.iou_threshold).score)
                is_gold.append(task.task in gold)
        return worker_reliabilities(workers, None, owners, scores, is_gold)
