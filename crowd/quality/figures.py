"""Pure: the quality figures of a project from its coded answers and
results (agreement with bootstrap intervals, per-worker agreement,
confidence, drift), as plain data ready to serve."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from crowd.consensus.agreement import (
    bootstrap_agreement,
    consensus_agreement,
    jensen_shannon_distance,
    pairwise_cohen_kappa,
    peer_agreement,
)

MIN_SHARED_TASKS = 10
"""Cohen's kappa is reported for worker pairs with at least this many shared tasks."""
BOOTSTRAP_RESAMPLES = 500


@dataclass(frozen=True, slots=True)
class Answer:
    task: int
    worker: str
    label: str
    fast: bool


@dataclass(frozen=True, slots=True)
class Result:
    task: int
    batch_id: str | None
    status: str
    label: str | None
    confidence: float | None
    review_status: str | None
    completed_at: datetime | None


def agreement(labels: Sequence[str], answers: Sequence[Answer], results: Sequence[Result], seed: int) -> dict[str, Any]:
    """Alpha and Fleiss' kappa with 95% bootstrap intervals over tasks,
    Cohen's kappa of worker pairs, each worker's agreement with the
    consensus and with peers."""
    task_index = {r.task: i for i, r in enumerate(results)}
    label_index = {label: k for k, label in enumerate(labels)}
    workers = sorted({a.worker for a in answers})
    worker_index = {w: j for j, w in enumerate(workers)}
    tasks = np.array([task_index[a.task] for a in answers], dtype=np.intp)
    coded_workers = np.array([worker_index[a.worker] for a in answers], dtype=np.intp)
    coded_labels = np.array([label_index[a.label] for a in answers], dtype=np.intp)
    consensus = np.array([label_index.get(r.label, -1) if r.label else -1 for r in results], dtype=np.intp)
    intervals = bootstrap_agreement(
        tasks, coded_labels, rng=np.random.default_rng(seed), n_resamples=BOOTSTRAP_RESAMPLES
    )
    pairs = pairwise_cohen_kappa(tasks, coded_workers, coded_labels, min_shared=MIN_SHARED_TASKS)
    with_consensus = consensus_agreement(tasks, coded_workers, coded_labels, consensus, n_workers=len(workers))
    with_peers = peer_agreement(tasks, coded_workers, coded_labels, n_workers=len(workers))
    fast = Counter(a.worker for a in answers if a.fast)
    kappas = [float(k) for k in pairs.kappa if not math.isnan(k)]
    return {
        "tasks_compared": intervals.n_tasks,
        "alpha": _interval(intervals.alpha),
        "fleiss_kappa": _interval(intervals.fleiss_kappa),
        "cohen_kappa": {
            "min_shared_tasks": MIN_SHARED_TASKS,
            "pairs": len(kappas),
            "mean": _num(float(np.mean(kappas))) if kappas else None,
            "items": [
                {"workers": [workers[a], workers[b]], "kappa": _num(float(k)), "shared": int(n)}
                for a, b, k, n in zip(pairs.first, pairs.second, pairs.kappa, pairs.n_shared, strict=True)
            ][:200],
        },
        "workers": [
            {
                "worker_id": worker,
                "answers": int(with_consensus.n_answers[j]),
                "agreement_with_consensus": _num(float(with_consensus.share[j])),
                "agreement_with_peers": _num(float(with_peers.share[j])),
                "fast_answers": fast.get(worker, 0),
            }
            for j, worker in enumerate(workers)
        ],
    }


def confidence(results: Sequence[Result], target: float) -> dict[str, Any]:
    """Status counts, mean confidence and the share of completed tasks that
    reached the confidence target."""
    done = [r.confidence for r in results if r.status == "completed" and r.confidence is not None]
    counts = Counter(r.status for r in results)
    return {
        "tasks": len(results),
        "status_counts": {"open": counts.get("open", 0), "completed": counts.get("completed", 0)},
        "in_review": sum(r.review_status == "pending" for r in results),
        "expert_decided": sum(r.review_status == "decided" for r in results),
        "mean_confidence": _num(float(np.mean(done))) if done else None,
        "share_above_target": _num(sum(c >= target for c in done) / len(done)) if done else None,
    }


def drift(labels: Sequence[str], results: Sequence[Result], target: float) -> dict[str, Any]:
    """Per batch and per UTC day: the consensus label distribution, its
    Jensen-Shannon distance from the project's (the baseline), and the share
    of completed tasks below the confidence target."""
    done = [r for r in results if r.status == "completed" and r.label is not None]
    baseline = _distribution(labels, done)
    batches = _groups(done, lambda r: r.batch_id)
    days = _groups(done, lambda r: r.completed_at.date().isoformat() if r.completed_at else None)
    return {
        "baseline": dict(zip(labels, baseline, strict=True)),
        "batches": [_drift_row("batch_id", key, group, labels, baseline, target) for key, group in batches.items()],
        "days": [_drift_row("date", key, group, labels, baseline, target) for key, group in sorted(days.items())],
    }


def _drift_row(
    name: str, key: str, group: list[Result], labels: Sequence[str], baseline: list[float], target: float
) -> dict[str, Any]:
    shares = _distribution(labels, group)
    low = sum((r.confidence or 0.0) < target for r in group) / len(group)
    return {
        name: key,
        "tasks": len(group),
        "distribution": dict(zip(labels, shares, strict=True)),
        "js_distance": _num(jensen_shannon_distance(shares, baseline)),
        "low_confidence_share": _num(low),
    }


def _groups(results: Sequence[Result], key: Any) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = {}
    for r in results:
        if (k := key(r)) is not None:
            grouped.setdefault(k, []).append(r)
    return grouped


def _distribution(labels: Sequence[str], results: Sequence[Result]) -> list[float]:
    counts = Counter(r.label for r in results)
    total = sum(counts.values())
    return [round(counts.get(label, 0) / total, 6) if total else 0.0 for label in labels]


def worker_trends(rows: Sequence[tuple[str, bool | None, int, bool]]) -> list[dict[str, Any]]:
    """Per worker, over their latest answers: gold accuracy, median answer
    time, share of answers that were too fast."""
    per_worker: dict[str, list[tuple[bool | None, int, bool]]] = {}
    for worker, correct, ms, fast in rows:
        per_worker.setdefault(worker, []).append((correct, ms, fast))
    trends = []
    for worker, items in sorted(per_worker.items()):
        graded = [c for c, _, _ in items if c is not None]
        trends.append(
            {
                "worker_id": worker,
                "answers": len(items),
                "gold_accuracy": _num(sum(graded) / len(graded)) if graded else None,
                "gold_answers": len(graded),
                "median_seconds": _num(float(np.median([ms for _, ms, _ in items])) / 1000),
                "fast_share": _num(sum(f for _, _, f in items) / len(items)),
            }
        )
    return trends


def _interval(interval: Any) -> dict[str, float | None]:
    return {"estimate": _num(interval.estimate), "low": _num(interval.low), "high": _num(interval.high)}


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)
