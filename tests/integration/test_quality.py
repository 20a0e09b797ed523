"""Quality through the server: agreement figures, the review queue, fast
answers, drift and its alerts."""

from __future__ import annotations

import random
from typing import Any

import pytest

from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from crowd.inference.service import refit_due
from tests.support.crowd import Crowd

LABELS = ["cat", "dog", "other"]


async def label_all(crowd: Crowd, pid: str, workers: dict[str, Any], seconds: float = 0) -> None:
    """Each worker (name -> chooser of a label from the task data) answers everything it is offered."""
    for name, choose in workers.items():
        token = await crowd.new_worker(name)
        while (lease := await crowd.next(token, pid)) is not None:
            crowd.clock.advance(seconds)
            assert (await crowd.answer(token, lease["assignment_id"], choose(lease["data"]))).status == 200


def truth_of(data: dict[str, Any]) -> str:
    return LABELS[int(data["text"].split("-")[-1]) % 3]


async def test_agreement_figures_tell_good_workers_from_a_spammer(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=4, max_overlap=4, gold_rate=0, onboarding_gold_rate=0))["id"]
    await crowd.submit(pid, 30)
    rng = random.Random(5)
    await label_all(
        crowd,
        pid,
        {"ann": truth_of, "ben": truth_of, "cid": lambda d: truth_of(d) if rng.random() < 0.9 else "other",
         "spam": lambda d: rng.choice(LABELS)},
    )  # fmt: skip
    report = await crowd.ok("GET", f"/api/v1/projects/{pid}/quality", crowd.platform)
    alpha = report["alpha"]
    assert 0.4 < alpha["estimate"] < 0.95
    assert alpha["low"] <= alpha["estimate"] <= alpha["high"]
    assert report["fleiss_kappa"]["low"] <= report["fleiss_kappa"]["estimate"] <= report["fleiss_kappa"]["high"]
    assert report["tasks_compared"] == 30
    assert report["status_counts"] == {"open": 0, "completed": 30}
    assert 0 < report["share_above_target"] <= 1
    assert len(report["workers"]) == 4
    shares = sorted(w["agreement_with_consensus"] for w in report["workers"])
    assert shares[0] < 0.6 < shares[1]  # the spammer stands out
    assert report["cohen_kappa"]["pairs"] == 6
    assert -1 <= report["cohen_kappa"]["mean"] <= 1


async def reviewer_key(crowd: Crowd) -> str:
    app = crowd.client.server.app
    assert app is not None
    _, key = await identity.create_api_key(
        app[DATABASE], crowd.clock, organization="acme", role=Role.REVIEWER, name="r"
    )
    return key


async def test_the_review_queue_from_low_confidence_reports_and_operators(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(min_overlap=2, max_overlap=2, review_threshold=0.8, gold_rate=0, onboarding_gold_rate=0)
    )["id"]
    await crowd.submit(pid, 4)
    a, b = await crowd.new_workers("a", "b")
    for token, label in ((a, "cat"), (b, "dog")):  # every task ends in a 1-1 split: low confidence
        for _ in range(3):
            lease = await crowd.next(token, pid)
            assert lease is not None
            await crowd.answer(token, lease["assignment_id"], label)
    lease = await crowd.next(a, pid)
    assert lease is not None
    reported = await crowd.ok(
        "POST", f"/api/v1/work/assignments/{lease['assignment_id']}/report", a, {"reason": "blurry"}
    )
    assert reported["status"] == "reported"
    await crowd.ok("POST", f"/api/v1/projects/{pid}/review", crowd.operator, {"tasks": ["t-3"]})

    reviewer = await reviewer_key(crowd)
    queue = await crowd.ok("GET", f"/api/v1/projects/{pid}/review", reviewer)
    reasons = {item["external_id"]: item["reason"] for item in queue["items"]}
    assert reasons == {"t-0": "low_confidence", "t-1": "low_confidence", "t-2": "low_confidence", "t-3": "reported"}
    reported_item = next(item for item in queue["items"] if item["external_id"] == "t-3")
    assert [r["reason"] for r in reported_item["reports"]] == ["blurry"]
    first = queue["items"][0]
    assert first["data"] == {"text": "task t-0"}
    assert sorted(x["label"] for x in first["answers"]) == ["cat", "dog"]

    decided = await crowd.ok(
        "POST",
        f"/api/v1/projects/{pid}/review/t-0",
        reviewer,
        {"label": "dog", "promote_to_gold": True, "explanation": "x"},
    )
    assert decided == {"external_id": "t-0", "label": "dog", "decided_by": "expert", "promoted_to_gold": True}
    result = next(r for r in await crowd.results(pid) if r["external_id"] == "t-0")
    assert (result["label"], result["confidence"], result["decided_by"]) == ("dog", 1.0, "expert")
    health = await crowd.ok("GET", f"/api/v1/projects/{pid}/gold", crowd.operator)
    assert [g["external_id"] for g in health["items"]] == ["t-0:gold"]
    queue = await crowd.ok("GET", f"/api/v1/projects/{pid}/review", crowd.operator)
    assert "t-0" not in {item["external_id"] for item in queue["items"]}

    refit = await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)
    assert refit["version"] == 1
    after = next(r for r in await crowd.results(pid) if r["external_id"] == "t-0")
    assert (after["label"], after["posterior"]["dog"]) == ("dog", 1.0)  # clamped truth

    for token, status in ((crowd.platform, 403), (a, 403)):
        assert (await crowd.call("GET", f"/api/v1/projects/{pid}/review", token)).status == status
    bad = await crowd.call("POST", f"/api/v1/projects/{pid}/review/t-1", reviewer, {"label": "horse"})
    assert (bad.status, bad.body["type"]) == (422, "unknown-label")
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/review/nope", reviewer, {"label": "cat"})).status == 404
    assert (
        await crowd.call("POST", f"/api/v1/projects/{pid}/review", crowd.operator, {"tasks": ["nope"]})
    ).status == 404


@pytest.mark.parametrize("policy", ["flag", "block"])
async def test_fast_answers_are_counted_and_can_block(crowd: Crowd, policy: str) -> None:
    settings = {"min_seconds": 5, "fast_policy": policy, "fast_limit": 3, "fast_window": 5}
    pid = (await crowd.new_project(min_overlap=1, gold_rate=0, onboarding_gold_rate=0, **settings))["id"]
    await crowd.submit(pid, 6)
    hasty = await crowd.new_worker("hasty")
    answered = 0
    while (reply := await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", hasty)).status == 200:
        await crowd.answer(hasty, reply.body["assignment_id"], "cat")  # no time passes: too fast
        answered += 1
    report = await crowd.ok("GET", f"/api/v1/projects/{pid}/quality", crowd.operator)
    assert report["workers"][0]["fast_answers"] == answered
    if policy == "block":
        assert (answered, reply.status, reply.body["type"]) == (3, 403, "worker-blocked")
        listing = (await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator))["items"]
        assert (listing[0]["blocked"], listing[0]["blocked_reason"]) == (True, "fast")
    else:
        assert answered == 6


async def test_excluded_fast_answers_leave_consensus(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=3, min_seconds=5, fast_policy="exclude"))["id"]
    await crowd.submit(pid, 1)
    hasty, careful = await crowd.new_workers("hasty", "careful")
    lease = await crowd.next(hasty, pid)
    assert lease is not None
    await crowd.answer(hasty, lease["assignment_id"], "dog")
    lease = await crowd.next(careful, pid)
    assert lease is not None
    crowd.clock.advance(10)
    await crowd.answer(careful, lease["assignment_id"], "cat")
    [result] = await crowd.results(pid)
    assert result["answers"] == 2
    assert result["posterior"]["cat"] > 0.6 > result["posterior"]["dog"]  # only the careful answer counts


async def test_drift_is_reported_and_alerted_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=2, drift_threshold=0.3))["id"]
    await crowd.ok(
        "POST",
        f"/api/v1/projects/{pid}/batches",
        crowd.platform,
        {"external_id": "cats", "tasks": [{"external_id": f"c{i}", "data": {"kind": "cat"}} for i in range(6)]},
    )
    await crowd.ok(
        "POST",
        f"/api/v1/projects/{pid}/batches",
        crowd.platform,
        {"external_id": "dogs", "tasks": [{"external_id": f"d{i}", "data": {"kind": "dog"}} for i in range(6)]},
    )
    await label_all(crowd, pid, {"a": lambda d: d["kind"], "b": lambda d: d["kind"]}, seconds=3)
    drift = await crowd.ok("GET", f"/api/v1/projects/{pid}/drift", crowd.operator)
    assert drift["baseline"] == {"cat": 0.5, "dog": 0.5, "other": 0.0}
    assert [row["js_distance"] for row in drift["batches"]] == [pytest.approx(0.5579, abs=1e-3)] * 2
    assert len(drift["workers"]) == 2
    assert drift["workers"][0]["median_seconds"] == 3.0
    app = crowd.client.server.app
    assert app is not None
    assert await refit_due(app[DATABASE], app[BROKER], app[CLOCK]) == 1
    events = (await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.platform))["items"]
    alerts = [e["data"] for e in events if e["type"] == "quality.alert"]
    assert sorted((a["kind"], a["batch_id"] is not None) for a in alerts) == [
        ("label_drift", True),
        ("label_drift", True),
    ]
    await crowd.submit(pid, 1, prefix="more")
    await label_all(crowd, pid, {"c": lambda d: "cat", "e": lambda d: "cat"}, seconds=3)
    await refit_due(app[DATABASE], app[BROKER], app[CLOCK])
    events = (await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.platform))["items"]
    batches = [e["data"]["batch_id"] for e in events if e["type"] == "quality.alert"]
    assert len(batches) == len(set(batches)) == 3  # the new one-task batch drifts too; none alerted twice
