"""Agreement on boxes: Krippendorff's alpha with ``1 - IoU`` as the distance.

Units are the candidate objects of each task — the clusters that
:func:`crowd.consensus.box_model.cluster_answers` forms from the answers
(the same matching as the consensus). Every answer to the task gives each
of its candidates one value: the box it drew there, or *nothing*. So an
unmatched box counts: the other answers' value in its unit is "nothing".

Distances: ``1 - IoU`` between two boxes of the same label, 1 between boxes
of different labels, 1 between a box and nothing, 0 between two nothings.
Expected disagreement pairs values across all units, so two boxes on
different images are compared as positions (chance overlap); it is exact up
to :data:`~crowd.consensus.distance_agreement.MAX_PAIRS` pairs and sampled
beyond (see :mod:`~crowd.consensus.distance_agreement`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from crowd.consensus.box_geometry import IOU_THRESHOLD, BoxSet
from crowd.consensus.box_model import TaskClusters, paired_iou
from crowd.consensus.distance_agreement import MAX_PAIRS, distance_alpha
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.worker_scores import sort_key


def box_alpha(
    answers: Iterable[tuple[Hashable, Hashable, Sequence[Mapping[str, Any]] | BoxSet]],
    rng: np.random.Generator,
    iou_threshold: float = IOU_THRESHOLD,
    max_pairs: int = MAX_PAIRS,
) -> float:
    """Alpha of boxes over candidate objects (``nan`` when no object has two values or all values agree by chance)."""
    by_task: dict[Hashable, list[tuple[Hashable, BoxSet]]] = {}
    for task, worker, value in answers:
        by_task.setdefault(task, []).append((worker, value if isinstance(value, BoxSet) else BoxSet.of(value)))
    corners, labels, units = [], [], []
    label_index: dict[str, int] = {}
    offset = 0
    for task in sorted(by_task, key=sort_key):
        clusters = TaskClusters.of(task, by_task[task], None, iou_threshold)
        for answer, members in zip(clusters.answers, clusters.members, strict=True):
            box_corners = np.full((clusters.n_clusters, 4), np.nan)
            box_labels = np.full(clusters.n_clusters, -1, dtype=np.intp)
            box_corners[members] = answer.corners()
            box_labels[members] = [label_index.setdefault(label, len(label_index)) for label in answer.labels]
            corners.append(box_corners)
            labels.append(box_labels)
            units.append(offset + np.arange(clusters.n_clusters))
        offset += clusters.n_clusters
    if not units:
        return float("nan")
    all_corners, all_labels = np.concatenate(corners), np.concatenate(labels)

    def distance(first: IntArray, second: IntArray) -> FloatArray:
        a, b = all_labels[first], all_labels[second]
        both = (a >= 0) & (b >= 0)
        iou = paired_iou(np.nan_to_num(all_corners[first]), np.nan_to_num(all_corners[second]))
        same = np.where(both & (a == b), 1.0 - iou, 1.0)
        result: FloatArray = np.where((a < 0) & (b < 0), 0.0, same)
        return result

    return distance_alpha(np.concatenate(units), distance, rng, max_pairs)
