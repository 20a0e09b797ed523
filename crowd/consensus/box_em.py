"""EM for boxes (:mod:`crowd.consensus.boxes`): the E-step, the M-step and the loop.

The E-step turns worker parameters into each candidate's ``P(real)``, fused
box and label posterior; the M-step turns those back into shrunk expected
counts per worker. The layout (:class:`~crowd.consensus.box_model.BoxLayout`)
is built once per fit.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from crowd.consensus.box_model import (
    PROBABILITY_FLOOR,
    SPREAD_FLOOR,
    START_LABEL_ACCURACY,
    START_SPREAD,
    BoxFit,
    BoxLayout,
    BoxWorkers,
    TaskClusters,
    shrunk,
)
from crowd.consensus.encoding import FloatArray


def e_step(
    tasks: Sequence[TaskClusters],
    workers: BoxWorkers,
    worker_index: Mapping[Hashable, int],
    labels: Sequence[str],
    crowd: Mapping[str, float],
    layout: BoxLayout | None = None,
) -> BoxFit:
    """Posteriors of every candidate under the given worker parameters (gold clamped)."""
    layout = layout or BoxLayout.of(tasks, worker_index, labels)
    r = np.clip(workers.recall, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)[layout.pair_worker]
    e = np.clip(workers.false_rate, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)[layout.pair_worker]
    terms = np.where(layout.pair_drew, np.log(r / e), np.log((1 - r) / (1 - e)))
    prior = float(np.clip(crowd["prior_real"], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR))
    logit = np.log(prior / (1 - prior)) + np.bincount(layout.pair_cluster, terms, layout.n_clusters)
    logit = np.where(layout.gold_state == 1, np.inf, np.where(layout.gold_state == 0, -np.inf, logit))
    real = 1.0 / (1.0 + np.exp(-logit))
    fused = _fused_corners(layout, workers.spread)
    return BoxFit(
        tuple(tasks),
        tuple(labels),
        layout,
        workers,
        crowd,
        real,
        logit,
        fused,
        _label_posteriors(layout, workers, len(labels)),
    )


def _fused_corners(layout: BoxLayout, spread: FloatArray) -> FloatArray:
    """Precision-weighted mean corners per candidate; gold where clamped real or nobody drew."""
    weight = 1.0 / np.maximum(spread, SPREAD_FLOOR)[layout.member_worker]
    total = np.bincount(layout.member_cluster, weight, layout.n_clusters)
    sums = np.stack(
        [np.bincount(layout.member_cluster, weight * layout.member_corners[:, k], layout.n_clusters) for k in range(4)],
        axis=1,
    )
    fused = sums / np.maximum(total, 1e-300)[:, np.newaxis]
    use_gold = (layout.gold_state == 1) | (total == 0)
    fused[use_gold] = layout.gold_corners[use_gold]
    return np.nan_to_num(fused)


def _label_posteriors(layout: BoxLayout, workers: BoxWorkers, n_labels: int) -> FloatArray:
    """One-coin label vote per candidate; gold label where clamped."""
    if n_labels <= 1:
        return np.ones((layout.n_clusters, max(n_labels, 1)))
    accuracy = np.clip(workers.label_accuracy, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)[layout.member_worker]
    weight = np.log(accuracy * (n_labels - 1) / (1 - accuracy))
    cells = layout.member_cluster * n_labels + layout.member_label
    scores = np.bincount(cells, weight, layout.n_clusters * n_labels).reshape(layout.n_clusters, n_labels)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    posteriors: FloatArray = shifted / shifted.sum(axis=1, keepdims=True)
    clamped = layout.gold_label >= 0
    posteriors[clamped] = np.eye(n_labels)[layout.gold_label[clamped]]
    return posteriors


def m_step(fit: BoxFit, strength: float) -> tuple[BoxWorkers, dict[str, float]]:
    """Shrunk expected-count estimates of every worker's parameters, and the crowd's pooled ones."""
    layout, n = fit.layout, len(fit.workers.recall)
    p = fit.real[layout.pair_cluster]
    drew = layout.pair_drew.astype(np.float64)
    recall = shrunk(layout.pair_worker, p * drew, p, n, strength)
    false_rate = shrunk(layout.pair_worker, (1 - p) * drew, 1 - p, n, strength)
    weight = fit.real[layout.member_cluster]
    spread = np.maximum(shrunk(layout.member_worker, weight * _residual(fit), weight, n, strength), SPREAD_FLOOR)
    correct = (
        fit.label_posteriors[layout.member_cluster, layout.member_label] if len(fit.labels) > 1 else weight * 0 + 1
    )
    label_accuracy = shrunk(layout.member_worker, weight * correct, weight, n, strength)
    crowd = {
        "recall": _pooled(p * drew, p),
        "false_rate": _pooled((1 - p) * drew, 1 - p),
        "spread": max(_pooled(weight * _residual(fit), weight, START_SPREAD), SPREAD_FLOOR),
        "label_accuracy": _pooled(weight * correct, weight, START_LABEL_ACCURACY),
        "prior_real": float((1.0 + fit.real.sum()) / (2.0 + layout.n_clusters)),
    }
    return BoxWorkers(recall, false_rate, spread, label_accuracy), crowd


def _pooled(hits: FloatArray, trials: FloatArray, default: float = 0.5) -> float:
    return float(hits.sum() / trials.sum()) if trials.sum() > 0 else default


def _residual(fit: BoxFit) -> FloatArray:
    """Mean squared corner offset of each drawn box from its fused box, in units of the fused width and height."""
    layout = fit.layout
    fused = fit.fused[layout.member_cluster]
    size = np.maximum(np.concatenate([fused[:, 2:] - fused[:, :2]] * 2, axis=1), 1e-9)
    residual: FloatArray = np.mean(np.square((layout.member_corners - fused) / size), axis=1)
    return residual


@dataclass(frozen=True)
class FittedBoxWorkers:
    """The fitted worker parameters with the crowd's pooled ones."""

    workers: BoxWorkers
    crowd: dict[str, float]

    def by_worker(self, ids: Sequence[Hashable]) -> dict[Hashable, dict[str, float]]:
        return dict(zip(ids, self.workers.rows(), strict=True))


def run_em(
    tasks: Sequence[TaskClusters],
    workers: Sequence[Hashable],
    labels: Sequence[str],
    strength: float,
    max_iter: int,
    tol: float,
) -> tuple[BoxFit, FittedBoxWorkers, int]:
    """EM from the drawn-share start; stops when no ``P(real)`` and no worker parameter moves by ``tol``."""
    index = {worker: i for i, worker in enumerate(workers)}
    layout = BoxLayout.of(tasks, index, labels)
    start = BoxWorkers.start(len(workers))
    crowd = {"recall": 0.5, "false_rate": 0.5, "spread": START_SPREAD, "label_accuracy": START_LABEL_ACCURACY}
    fit = e_step(tasks, start, index, labels, crowd | {"prior_real": 0.5}, layout)
    fit = replace(fit, real=_drawn_share(layout, fit.real))
    steps = 0
    while steps < max_iter:
        params, crowd = m_step(fit, strength)
        updated = e_step(tasks, params, index, labels, crowd, layout)
        moved, fit, steps = _largest_move(fit, updated), updated, steps + 1
        if moved < tol:
            break
    return fit, FittedBoxWorkers(fit.workers, dict(fit.crowd)), steps


def _drawn_share(layout: BoxLayout, clamped: FloatArray) -> FloatArray:
    drawn = np.bincount(layout.pair_cluster, layout.pair_drew.astype(np.float64), layout.n_clusters)
    pairs = np.bincount(layout.pair_cluster, minlength=layout.n_clusters)
    share = np.divide(drawn, pairs, out=np.ones(layout.n_clusters), where=pairs > 0)
    share_or_gold: FloatArray = np.where(layout.gold_state >= 0, clamped, share)
    return share_or_gold


def _largest_move(before: BoxFit, after: BoxFit) -> float:
    moves = [np.abs(after.real - before.real)]
    for name in ("recall", "false_rate", "label_accuracy"):
        moves.append(np.abs(getattr(after.workers, name) - getattr(before.workers, name)))
    return float(max((m.max() for m in moves if m.size), default=0.0))
