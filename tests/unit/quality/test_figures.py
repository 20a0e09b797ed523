from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crowd.quality.figures import Answer, Result, agreement, confidence, drift, worker_trends

DAY = datetime(2026, 11, 27, 12, tzinfo=UTC)
LABELS = ["cat", "dog"]


def result(task: int, label: str | None, conf: float | None, batch: str = "b1", status: str = "completed") -> Result:
    return Result(task, batch, status, label, conf, None, DAY if status == "completed" else None)


def test_confidence_counts_and_shares() -> None:
    results = [result(1, "cat", 0.95), result(2, "dog", 0.7), result(3, None, None, status="open")]
    figures = confidence(results, target=0.9)
    assert figures["status_counts"] == {"open": 1, "completed": 2}
    assert figures["mean_confidence"] == pytest.approx(0.825)
    assert figures["share_above_target"] == 0.5


def test_drift_compares_each_batch_with_the_project() -> None:
    results = [result(i, "cat", 0.95, "cats") for i in range(4)] + [
        result(10 + i, "dog", 0.5, "dogs") for i in range(4)
    ]
    report = drift(LABELS, results, target=0.9)
    assert report["baseline"] == {"cat": 0.5, "dog": 0.5}
    rows = {row["batch_id"]: row for row in report["batches"]}
    assert rows["cats"]["distribution"] == {"cat": 1.0, "dog": 0.0}
    assert rows["cats"]["js_distance"] == pytest.approx(rows["dogs"]["js_distance"])
    assert 0.5 < rows["cats"]["js_distance"] < 0.6  # sqrt(1 - 0.5 * 2 * 0.5 * log2(...)) for a full shift to half
    assert (rows["cats"]["low_confidence_share"], rows["dogs"]["low_confidence_share"]) == (0.0, 1.0)
    assert [row["date"] for row in report["days"]] == ["2026-11-27"]


def test_agreement_of_a_perfect_crowd_is_one() -> None:
    results = [result(t, "cat" if t % 2 else "dog", 1.0) for t in range(12)]
    answers = [Answer(r.task, w, r.label or "", fast=False) for r in results for w in ("a", "b", "c")]
    figures = agreement(LABELS, answers, results, seed=1)
    assert figures["alpha"]["estimate"] == pytest.approx(1.0)
    assert figures["fleiss_kappa"]["estimate"] == pytest.approx(1.0)
    assert figures["cohen_kappa"]["pairs"] == 3
    assert {w["agreement_with_consensus"] for w in figures["workers"]} == {1.0}
    assert {w["agreement_with_peers"] for w in figures["workers"]} == {1.0}


def test_worker_trends_over_recent_answers() -> None:
    rows = [("w1", True, 1000, False), ("w1", False, 3000, True), ("w1", None, 2000, False), ("w2", None, 500, True)]
    trends = {t["worker_id"]: t for t in worker_trends(rows)}
    assert trends["w1"] == {
        "worker_id": "w1",
        "answers": 3,
        "gold_accuracy": 0.5,
        "gold_answers": 2,
        "median_seconds": 2.0,
        "fast_share": pytest.approx(1 / 3, abs=1e-6),
    }
    assert trends["w2"]["gold_accuracy"] is None
