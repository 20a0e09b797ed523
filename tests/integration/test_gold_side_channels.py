"""Gold stays indistinguishable: nothing a worker can observe (figures the
server publishes, what a lease carries, which tasks they get, what happens
to a late answer, their ledger) differs between gold and real work."""

from __future__ import annotations

import random
from typing import Any
from unittest.mock import ANY

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from crowd.api.keys import CLOCK, DATABASE
from crowd.app import metrics_app
from crowd.payments.service import approve_due
from tests.support.crowd import Crowd

LABELS = ["cat", "dog", "other"]
GOLD = [{"external_id": f"g-{i}", "data": {"text": f"gold {i}"}, "label": "cat"} for i in range(5)]


async def figures(crowd: Crowd) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    app = crowd.client.server.app
    assert app is not None
    async with TestClient(TestServer(metrics_app(app))) as listener:
        text = await (await listener.get("/metrics")).text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.startswith(("crowd_http", "python_", "process_"))  # about requests, not work
    }


def changes(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {key: delta for key in after.keys() | before.keys() if (delta := after.get(key, 0.0) - before.get(key, 0.0))}


async def lease_and_answer(crowd: Crowd, worker: str, pid: str) -> dict[str, Any]:
    lease = await crowd.next(worker, pid)
    assert lease is not None
    assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    return lease


async def test_no_published_figure_tells_a_gold_lease_from_a_real_one(crowd: Crowd) -> None:
    assert (await crowd.call("GET", "/metrics")).status == 404  # not on the API's port at all
    pid = (await crowd.new_project(min_overlap=3, gold_rate=1.0, onboarding_gold_rate=1.0))["id"]
    await crowd.submit(pid, 5)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": GOLD})
    worker = await crowd.new_worker()

    before = await figures(crowd)
    gold = await lease_and_answer(crowd, worker, pid)  # gold_rate 1: gold while real work is there too
    after_gold = await figures(crowd)
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"gold_rate": 0, "onboarding_gold_rate": 0})
    real = await lease_and_answer(crowd, worker, pid)
    after_real = await figures(crowd)

    assert gold["data"]["text"].startswith("gold")
    assert real["data"]["text"].startswith("task")
    assert changes(before, after_gold) == changes(after_gold, after_real)
    assert not any("kind" in dict(labels) for _, labels in after_real)


def said_by_a_model(rng: random.Random, truth: str) -> str:
    """A model right seven times in ten."""
    return truth if rng.random() < 0.7 else rng.choice([label for label in LABELS if label != truth])


async def test_a_suggestion_comes_with_gold_as_with_real_work_and_is_the_models_own(crowd: Crowd) -> None:
    rng = random.Random(7)
    pid = (
        await crowd.new_project(
            min_overlap=1, show_predictions=True, gold_rate=0.5, onboarding_gold_rate=0.5, min_gold_answers=10_000
        )
    )["id"]
    truth: dict[str, str] = {}
    said: dict[str, str] = {}
    real = []
    for i in range(40):
        text = f"task {i}"
        truth[text] = rng.choice(LABELS)
        said[text] = said_by_a_model(rng, truth[text])
        real.append(
            {"external_id": f"t-{i}", "data": {"text": text}, "predictions": [{"model": "m", "label": said[text]}]}
        )
    gold = []
    for i in range(40):
        text = f"gold {i}"
        truth[text] = rng.choice(LABELS)
        said[text] = said_by_a_model(rng, truth[text])
        gold.append(
            {
                "external_id": f"g-{i}",
                "data": {"text": text},
                "label": truth[text],
                "predictions": [{"model": "m", "label": said[text]}],
            }
        )
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": real})
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": gold})

    seen: list[dict[str, Any]] = []
    for worker in await crowd.new_workers(*(f"w{i}" for i in range(6))):
        for _ in range(12):
            lease = await crowd.next(worker, pid)
            if lease is None:
                break
            seen.append(lease)
            assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    gold_seen = [lease for lease in seen if lease["data"]["text"].startswith("gold")]
    real_seen = [lease for lease in seen if lease["data"]["text"].startswith("task")]
    assert len(gold_seen) >= 15
    assert len(real_seen) >= 15

    # the same fields, a suggestion on every lease, and always the model's word
    assert {frozenset(lease) for lease in gold_seen} == {frozenset(lease) for lease in real_seen}
    for lease in seen:
        assert lease["suggestion"] == {"label": said[lease["data"]["text"]]}

    # never the gold label for free: on gold the model is right as often as elsewhere
    def right(leases: list[dict[str, Any]]) -> float:
        return sum(lease["suggestion"]["label"] == truth[lease["data"]["text"]] for lease in leases) / len(leases)

    assert right(gold_seen) < 1
    assert abs(right(gold_seen) - right(real_seen)) < 0.25
    health = await crowd.ok("GET", f"/api/v1/projects/{pid}/gold", crowd.operator)
    assert health["suggestions"] == {"shown": True, "gold_with_prediction": 1.0, "real_with_prediction": 1.0}


async def test_promoted_gold_never_goes_to_a_worker_who_was_given_its_original(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=2, max_overlap=2, gold_rate=1.0, onboarding_gold_rate=1.0, min_gold_answers=10_000
        )
    )["id"]
    await crowd.submit(pid, 4)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    first = await lease_and_answer(crowd, ann, pid)  # no gold yet: real work
    assert await lease_and_answer(crowd, ben, pid) == {**first, "assignment_id": ANY, "expires_at": ANY}
    original = first["data"]["text"]
    external_id = "t-" + original.split("-")[-1]
    decided = await crowd.ok(
        "POST",
        f"/api/v1/projects/{pid}/review/{external_id}",
        crowd.operator,
        {"label": "dog", "promote_to_gold": True},
    )
    assert decided["promoted_to_gold"] is True

    # cid never saw the original: gold_rate 1, so the copy is what he gets
    assert (await lease_and_answer(crowd, cid, pid))["data"]["text"] == original
    # ann and ben were given the original: they never get its copy, only real work
    for worker in (ann, ben):
        while (lease := await crowd.next(worker, pid)) is not None:
            assert lease["data"]["text"] != original
            assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200


async def late_answer(crowd: Crowd, worker: str, rival: str, pid: str, *, released: bool) -> tuple[str, int, Any]:
    """Lease, let the lease run out (and, with ``released``, another worker's
    claim release it and take what it can), then answer."""
    lease = await crowd.next(worker, pid)
    assert lease is not None
    crowd.clock.advance(61)
    if released:
        await crowd.next(rival, pid)
    reply = await crowd.answer(worker, lease["assignment_id"], "cat")
    return lease["data"]["text"].split(" ")[0], reply.status, reply.body.get("type")


async def test_a_late_answer_fares_the_same_on_gold_and_real_work(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=1, lease_seconds=60, gold_rate=1.0, onboarding_gold_rate=1.0, min_gold_answers=10_000
        )
    )["id"]
    await crowd.submit(pid, 6)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": GOLD})
    ann, ben = await crowd.new_workers("ann", "ben")
    settings = f"/api/v1/projects/{pid}"
    outcomes = []
    for released in (False, True):
        outcomes.append(await late_answer(crowd, ann, ben, pid, released=released))  # gold_rate 1: gold
        await crowd.ok("PATCH", settings, crowd.operator, {"gold_rate": 0, "onboarding_gold_rate": 0})
        outcomes.append(await late_answer(crowd, ann, ben, pid, released=released))  # real
        await crowd.ok("PATCH", settings, crowd.operator, {"gold_rate": 1, "onboarding_gold_rate": 1})
    assert outcomes == [
        ("gold", 200, None),  # past due, not yet released: taken
        ("task", 200, None),
        ("gold", 409, "lease-expired"),  # released: refused, gold or not, room or not
        ("task", 409, "lease-expired"),
    ]


async def test_gold_and_real_work_are_paid_alike_in_the_ledger(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=2,
            max_overlap=2,
            reward=5,
            bonus=10,
            review_seconds=3600,
            gold_rate=1.0,
            onboarding_gold_rate=1.0,
            min_gold_answers=10_000,
        )
    )["id"]
    await crowd.submit(pid, 3)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": GOLD})
    ann, ben = await crowd.new_workers("ann", "ben")
    gold = await lease_and_answer(crowd, ann, pid)  # right, as gold goes ("cat")
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"gold_rate": 0, "onboarding_gold_rate": 0})
    real = await lease_and_answer(crowd, ann, pid)
    assert gold["data"]["text"].startswith("gold")
    assert real["data"]["text"].startswith("task")
    while (lease := await crowd.next(ben, pid)) is not None and lease["data"] != real["data"]:
        await crowd.ok("POST", f"/api/v1/work/assignments/{lease['assignment_id']}/skip", ben)
    assert lease is not None
    await crowd.answer(ben, lease["assignment_id"], "cat")  # the real task completes, agreeing with ann
    assert next(r for r in await crowd.results(pid) if r["status"] == "completed")["label"] == "cat"

    async def lines() -> list[tuple[Any, ...]]:
        items = (await crowd.ok("GET", "/api/v1/work/ledger", ann))["items"]
        return sorted((i["kind"], i["pending"], i["available"], i["project"], i["at"]) for i in items)

    # the real task completed and the gold one never does: ann sees no difference
    first = await lines()
    assert [line[0] for line in first] == ["reward", "reward"]
    assert first[0] == first[1]
    app = crowd.client.server.app
    assert app is not None
    crowd.clock.advance(3601)
    assert await approve_due(app[DATABASE], app[CLOCK]) == 3  # ann's two, ben's one
    after = await lines()
    assert [line[0] for line in after] == ["approval"] * 2 + ["bonus"] * 2 + ["reward"] * 2
    assert after[0] == after[1]  # approved at the same moment, the same amount
    assert after[2] == after[3]  # a bonus for each: gold answered right, real agreeing with consensus
    assert (await crowd.ok("GET", "/api/v1/work/me", ann))["balance"]["available"] == 2 * (5 + 7)
