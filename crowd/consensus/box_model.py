"""The arrays behind :mod:`crowd.consensus.boxes`: clusters of boxes, worker parameters, the layout, a fit.

Every candidate (cluster) of every task, every drawn box (member) and every
(candidate, answer) pair of a task are laid out flat once per fit, so each
EM step (:mod:`crowd.consensus.box_em`) is a handful of ``bincount`` calls.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.box_geometry import BoxSet, match_box_sets
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.worker_scores import sort_key

PROBABILITY_FLOOR = 1e-3
SPREAD_FLOOR = 1e-6
START_SPREAD = 0.01
START_LABEL_ACCURACY = 0.9
BoolArray = npt.NDArray[np.bool_]
LABEL_MISMATCH_COST = 1.0
"""Added to ``1 - IoU`` when clustering boxes of different labels: any same-label partner comes first."""


def cluster_answers(answers: Sequence[BoxSet], iou_threshold: float) -> tuple[list[IntArray], int]:
    """Per answer, the cluster of each of its boxes, and the number of clusters (answers taken in the given order)."""
    sums: list[FloatArray] = []
    labels: list[dict[str, int]] = []
    members = []
    for answer in answers:
        cluster = np.full(len(answer), -1, dtype=np.intp)
        if sums and len(answer):
            centres = BoxSet(np.array(sums)[:, :4] / np.array(sums)[:, 4:], tuple(_top_label(c) for c in labels))
            rows, columns, _ = match_box_sets(answer, centres, iou_threshold, LABEL_MISMATCH_COST)
            cluster[rows] = columns
        for box in range(len(answer)):
            if cluster[box] < 0:
                cluster[box] = len(sums)
                sums.append(np.zeros(5))
                labels.append({})
            sums[cluster[box]] += np.append(answer.coords[box], 1.0)
            labels[cluster[box]][answer.labels[box]] = labels[cluster[box]].get(answer.labels[box], 0) + 1
        members.append(cluster)
    return members, len(sums)


def _top_label(counts: dict[str, int]) -> str:
    return min(counts, key=lambda label: (-counts[label], label))


@dataclass(frozen=True)
class TaskClusters:
    """One task's answers in canonical order, their boxes clustered, and the gold match of each cluster."""

    task: Hashable
    workers: tuple[Hashable, ...]
    answers: tuple[BoxSet, ...]
    members: tuple[IntArray, ...]
    n_clusters: int
    gold: BoxSet | None
    gold_of_cluster: IntArray
    """Per cluster: its gold box (-1: spurious, or no gold). Clusters past the drawn ones are missed gold boxes."""

    @classmethod
    def of(
        cls, task: Hashable, answers: Sequence[tuple[Hashable, BoxSet]], gold: BoxSet | None, iou_threshold: float
    ) -> TaskClusters:
        ordered = sorted(answers, key=lambda answer: (-len(answer[1]), answer[1].key(), sort_key(answer[0])))
        sets = tuple(answer for _, answer in ordered)
        members, n_clusters = cluster_answers(sets, iou_threshold)
        gold_of = np.full(n_clusters, -1, dtype=np.intp)
        if gold is not None and len(gold):
            rows, columns, _ = match_box_sets(_centres(sets, members, n_clusters), gold, iou_threshold, 1.0)
            gold_of[rows] = columns
            missed = np.setdiff1d(np.arange(len(gold)), columns)
            gold_of = np.concatenate([gold_of, missed])
        workers = tuple(worker for worker, _ in ordered)
        return cls(task, workers, sets, tuple(members), len(gold_of), gold, gold_of)

    def label_set(self) -> set[str]:
        labels = {label for answer in self.answers for label in answer.labels}
        return labels | set(self.gold.labels if self.gold is not None else ())

    def drawn(self) -> BoolArray:
        """``drew[j, c]``: answer ``j`` has a box in cluster ``c``."""
        drew = np.zeros((len(self.answers), self.n_clusters), dtype=bool)
        for j, clusters in enumerate(self.members):
            drew[j, clusters] = True
        return drew


def _centres(answers: Sequence[BoxSet], members: Sequence[IntArray], n_clusters: int) -> BoxSet:
    """The unweighted mean box of each cluster (label: the first box's)."""
    sums, counts, labels = np.zeros((n_clusters, 4)), np.zeros(n_clusters), [""] * n_clusters
    for answer, clusters in zip(answers, members, strict=True):
        np.add.at(sums, clusters, answer.coords)
        np.add.at(counts, clusters, 1.0)
        for box, cluster in enumerate(clusters.tolist()):
            labels[cluster] = labels[cluster] or answer.labels[box]
    return BoxSet(sums / np.maximum(counts, 1.0)[:, np.newaxis], tuple(labels))


@dataclass(frozen=True)
class BoxWorkers:
    """Per worker index: recall ``r``, false-box rate ``e``, spread ``σ²`` and label accuracy ``l``."""

    recall: FloatArray
    false_rate: FloatArray
    spread: FloatArray
    label_accuracy: FloatArray

    @classmethod
    def of_rows(cls, rows: Sequence[Mapping[str, float]]) -> BoxWorkers:
        def column(name: str) -> FloatArray:
            return np.array([row[name] for row in rows], dtype=np.float64)

        return cls(column("recall"), column("false_rate"), column("spread"), column("label_accuracy"))

    @classmethod
    def start(cls, n: int) -> BoxWorkers:
        return cls(np.full(n, 0.5), np.full(n, 0.5), np.full(n, START_SPREAD), np.full(n, START_LABEL_ACCURACY))

    def rows(self) -> list[dict[str, float]]:
        names = ("recall", "false_rate", "spread", "label_accuracy")
        columns = [self.recall, self.false_rate, self.spread, self.label_accuracy]
        return [dict(zip(names, values, strict=True)) for values in zip(*(c.tolist() for c in columns), strict=True)]


@dataclass(frozen=True)
class BoxLayout:
    """Candidates, drawn boxes and (candidate, answer) pairs of many tasks, flat."""

    cluster_task: IntArray
    gold_state: IntArray
    """Per candidate: 1 real, 0 spurious (gold tasks), -1 unknown."""
    gold_corners: FloatArray
    gold_label: IntArray
    member_cluster: IntArray
    member_worker: IntArray
    member_answer: IntArray
    member_corners: FloatArray
    member_label: IntArray
    pair_cluster: IntArray
    pair_worker: IntArray
    pair_drew: BoolArray

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_task)

    @classmethod
    def of(
        cls, tasks: Sequence[TaskClusters], worker_index: Mapping[Hashable, int], labels: Sequence[str]
    ) -> BoxLayout:
        label_index = {label: i for i, label in enumerate(labels)}
        parts = [_task_part(t, task, worker_index, label_index) for t, task in enumerate(tasks)]
        offsets = np.cumsum([0] + [task.n_clusters for task in tasks])
        answer_offsets = np.cumsum([0] + [len(task.answers) for task in tasks])

        def joined(key: str, shift: IntArray | None = None) -> np.ndarray:
            arrays = [p[key] + (0 if shift is None else shift[t]) for t, p in enumerate(parts)]
            return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.intp)

        return cls(
            cluster_task=joined("cluster_task"),
            gold_state=joined("gold_state"),
            gold_corners=np.concatenate([p["gold_corners"] for p in parts]) if parts else np.zeros((0, 4)),
            gold_label=joined("gold_label"),
            member_cluster=joined("member_cluster", offsets),
            member_worker=joined("member_worker"),
            member_answer=joined("member_answer", answer_offsets),
            member_corners=np.concatenate([p["member_corners"] for p in parts]) if parts else np.zeros((0, 4)),
            member_label=joined("member_label"),
            pair_cluster=joined("pair_cluster", offsets),
            pair_worker=joined("pair_worker"),
            pair_drew=joined("pair_drew").astype(bool),
        )


def _task_part(
    t: int, task: TaskClusters, worker_index: Mapping[Hashable, int], label_index: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """One task's share of the layout (indices local to the task where they are shifted later)."""
    workers = np.array([worker_index[w] for w in task.workers], dtype=np.intp)
    counts = [len(answer) for answer in task.answers]
    gold_state = np.full(task.n_clusters, -1, dtype=np.intp)
    gold_corners = np.full((task.n_clusters, 4), np.nan)
    gold_label = np.full(task.n_clusters, -1, dtype=np.intp)
    if task.gold is not None:
        matched = task.gold_of_cluster >= 0
        gold_state = matched.astype(np.intp)
        gold_corners[matched] = task.gold.corners()[task.gold_of_cluster[matched]]
        gold_label[matched] = [label_index[task.gold.labels[g]] for g in task.gold_of_cluster[matched]]
    drew = task.drawn()
    return {
        "cluster_task": np.full(task.n_clusters, t, dtype=np.intp),
        "gold_state": gold_state,
        "gold_corners": gold_corners,
        "gold_label": gold_label,
        "member_cluster": np.concatenate([*task.members, np.zeros(0, dtype=np.intp)]),
        "member_worker": np.repeat(workers, counts),
        "member_answer": np.repeat(np.arange(len(task.answers)), counts),
        "member_corners": np.concatenate([a.corners() for a in task.answers] + [np.zeros((0, 4))]),
        "member_label": np.array([label_index[label] for a in task.answers for label in a.labels], dtype=np.intp),
        "pair_cluster": np.tile(np.arange(task.n_clusters), len(task.answers)),
        "pair_worker": np.repeat(workers, task.n_clusters),
        "pair_drew": drew.ravel().astype(np.intp),
    }


@dataclass(frozen=True)
class BoxFit:
    """The E-step's result: each candidate's ``P(real)``, fused box (corners) and label posterior."""

    tasks: tuple[TaskClusters, ...]
    labels: tuple[str, ...]
    layout: BoxLayout
    workers: BoxWorkers
    crowd: Mapping[str, float]
    real: FloatArray
    logit: FloatArray
    fused: FloatArray
    label_posteriors: FloatArray

    def flip_probability(self, recall: float, false_rate: float) -> FloatArray:
        """Per candidate: the probability that one more answer (recall and false-box rate given) flips keep/drop."""
        r, e = (float(np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)) for p in (recall, false_rate))
        draw = self.real * r + (1 - self.real) * e
        kept = self.logit >= 0
        if_drawn = (self.logit + np.log(r / e) >= 0) != kept
        if_passed = (self.logit + np.log((1 - r) / (1 - e)) >= 0) != kept
        flip: FloatArray = np.where(self.layout.gold_state >= 0, 0.0, draw * if_drawn + (1 - draw) * if_passed)
        return flip

    def reliability(self, prior_strength: float = 5.0) -> FloatArray:
        """Per worker index: detection F1 × mean IoU with the fused boxes × label accuracy, each shrunk."""
        layout, n = self.layout, len(self.workers.recall)
        weight = self.real[layout.member_cluster]
        iou = paired_iou(layout.member_corners, self.fused[layout.member_cluster])
        precision = shrunk(layout.member_worker, weight, np.ones_like(weight), n, prior_strength)
        overlap = shrunk(layout.member_worker, weight * iou, weight, n, prior_strength)
        recall = self.workers.recall
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=precision + recall > 0)
        reliability: FloatArray = f1 * overlap * self.workers.label_accuracy
        return reliability


def shrunk(owner: IntArray, hits: FloatArray, trials: FloatArray, n: int, strength: float) -> FloatArray:
    """``(s p̄ + Σ hits) / (s + Σ trials)`` per owner, ``p̄`` the pooled share (½ without trials)."""
    pooled = float(hits.sum() / trials.sum()) if trials.sum() > 0 else 0.5
    shares: FloatArray = (strength * pooled + np.bincount(owner, hits, n)) / (strength + np.bincount(owner, trials, n))
    return shares


def paired_iou(first: FloatArray, second: FloatArray) -> FloatArray:
    """IoU of ``first[i]`` with ``second[i]``, both as corners ``(x1, y1, x2, y2)``."""
    width = np.minimum(first[:, 2], second[:, 2]) - np.maximum(first[:, 0], second[:, 0])
    height = np.minimum(first[:, 3], second[:, 3]) - np.maximum(first[:, 1], second[:, 1])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    areas = [(c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1]) for c in (first, second)]
    union = areas[0] + areas[1] - inter
    iou: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou
