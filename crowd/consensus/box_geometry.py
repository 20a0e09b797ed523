"""Boxes on an image: the answer's shape, intersection over union, matching two sets, gold grading.

A box is ``{"x", "y", "w", "h", "label"}``: the top-left corner and the
size, in image pixels (the server's unit; ``x`` to the right, ``y`` down).
Everything here is invariant to scaling both axes, so boxes given as
fractions of the image width and height give the same matches, IoUs and
consensus (in fractions) as long as one task's answers share the unit.

Two sets of boxes are matched one-to-one by :func:`match_box_sets`: an
optimal assignment (:mod:`~crowd.consensus.matching`) on ``1 - IoU``, with
pairs below ``iou_threshold`` or of different labels not allowed. Greedy
matching (best IoU first) can pair a box with its second-best partner and
leave a third box unmatched that the assignment would have matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.matching import min_cost_matching

IOU_THRESHOLD = 0.5
"""Two boxes are the same object from this IoU on: the PASCAL VOC criterion, used by detection benchmarks."""
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class BoxSet:
    """One answer's boxes: ``coords[i] = (x, y, w, h)``, ``labels[i]``."""

    coords: FloatArray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def of(cls, value: object) -> BoxSet:
        """Parse ``[{"x", "y", "w", "h", "label"}]``; raises ``ValueError`` on a malformed box."""
        if not isinstance(value, list | tuple):
            raise ValueError("a boxes answer is a list of {x, y, w, h, label} objects")
        coords = [_coords(box, i) for i, box in enumerate(value)]
        labels = tuple(str(box.get("label", "")) for box in value)
        return cls(np.array(coords, dtype=np.float64).reshape(len(coords), 4), labels)

    def to_value(self) -> list[dict[str, Any]]:
        return [
            {"x": x, "y": y, "w": w, "h": h, "label": label}
            for (x, y, w, h), label in zip(self.coords.tolist(), self.labels, strict=True)
        ]

    def corners(self) -> FloatArray:
        """``(x1, y1, x2, y2)`` per box."""
        corners: FloatArray = np.concatenate([self.coords[:, :2], self.coords[:, :2] + self.coords[:, 2:]], axis=1)
        return corners

    def key(self) -> tuple[tuple[float, float, float, float, str], ...]:
        """A canonical form, for ordering answers."""
        rows = (tuple(row) for row in self.coords.tolist())
        return tuple(sorted((*row, label) for row, label in zip(rows, self.labels, strict=True)))


def _coords(box: Mapping[str, Any], index: int) -> tuple[float, float, float, float]:
    if not isinstance(box, Mapping):
        raise ValueError(f"box {index} is not an object")
    try:
        x, y, w, h = (float(box[name]) for name in ("x", "y", "w", "h"))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"box {index} needs numbers x, y, w, h") from error
    if not all(np.isfinite((x, y, w, h))) or w < 0 or h < 0:
        raise ValueError(f"box {index} needs finite coordinates and a non-negative width and height")
    if not isinstance(box.get("label"), str):
        raise ValueError(f"box {index} needs a string label")
    return x, y, w, h


def iou_matrix(first: FloatArray, second: FloatArray) -> FloatArray:
    """Intersection over union of every box of ``first`` with every box of ``second`` (``(x, y, w, h)`` rows).

    Two boxes of no area have IoU 0 (their union is empty).
    """
    a, b = first[:, np.newaxis, :], second[np.newaxis, :, :]
    width = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    height = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    iou: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def match_box_sets(
    first: BoxSet, second: BoxSet, iou_threshold: float = IOU_THRESHOLD, label_penalty: float | None = None
) -> tuple[IntArray, IntArray, FloatArray]:
    """One-to-one matches ``(i, j, iou)`` between two box sets.

    Only pairs with IoU at least ``iou_threshold`` may match. With
    ``label_penalty`` None, boxes of different labels never match; with a
    number, they may, at that extra cost (so a same-label partner wins).
    """
    if not len(first) or not len(second):
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    iou = iou_matrix(first.coords, second.coords)
    differ = np.array(first.labels)[:, np.newaxis] != np.array(second.labels)[np.newaxis, :]
    allowed = iou >= iou_threshold
    cost = 1.0 - iou
    if label_penalty is None:
        allowed &= ~differ
    else:
        cost = cost + label_penalty * differ
    if allowed.sum(axis=0).max() <= 1 and allowed.sum(axis=1).max() <= 1:  # no two pairs compete: take them all
        rows, columns = np.nonzero(allowed)
        return rows, columns, iou[rows, columns]
    rows, columns = min_cost_matching(np.where(allowed, cost, _FORBIDDEN))
    keep = allowed[rows, columns]
    return rows[keep], columns[keep], iou[rows[keep], columns[keep]]


@dataclass(frozen=True)
class BoxGrade:
    """An answer against gold boxes: matched pairs (same label, IoU at least the threshold) and the rest."""

    mean_iou: float
    """Mean IoU over the gold boxes, a missed one counting 0 (1 when gold and answer are both empty)."""
    matched: int
    missed: int
    extra: int
    score: float
    """``Σ IoU of matches / (matched + missed + extra)``: an IoU-weighted Jaccard of the two sets, in [0, 1]."""

    def passes(self, min_mean_iou: float, max_missed: int = 0, max_extra: int = 0) -> bool:
        return self.mean_iou >= min_mean_iou and self.missed <= max_missed and self.extra <= max_extra


def grade_boxes(answer: BoxSet, gold: BoxSet, iou_threshold: float = IOU_THRESHOLD) -> BoxGrade:
    """Grade an answer against gold boxes (labels must agree for a match)."""
    _, _, iou = match_box_sets(answer, gold, iou_threshold)
    matched = len(iou)
    missed, extra = len(gold) - matched, len(answer) - matched
    total = float(iou.sum())
    units = matched + missed + extra
    return BoxGrade(
        mean_iou=total / len(gold) if len(gold) else (1.0 if not len(answer) else 0.0),
        matched=matched,
        missed=missed,
        extra=extra,
        score=total / units if units else 1.0,
    )
