"""Consensus through the server: the online step and dynamic overlap on
every answer, full refits, worker reliability."""

from __future__ import annotations

import random
from typing import Any

import pytest

from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.inference import service as inference
from crowd.inference import store as inference_store
from tests.support.crowd import Crowd


async def answer_next(crowd: Crowd, worker: str, pid: str, choose: Any) -> dict[str, Any] | None:
    """Lease the worker's next task and answer it with ``choose(data)``."""
    lease = await crowd.next(worker, pid)
    if lease is None:
        return None
    reply = await crowd.answer(worker, lease["assignment_id"], choose(lease["data"]))
    assert reply.status == 200, reply.text
    return lease


async def result_of(crowd: Crowd, pid: str, external_id: str) -> dict[str, Any]:
    return next(r for r in await crowd.results(pid) if r["external_id"] == external_id)


async def test_agreement_completes_a_task_at_min_overlap(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=4, confidence_target=0.9))["id"]
    await crowd.submit(pid, 1)
    for worker in await crowd.new_workers("a", "b"):
        await answer_next(crowd, worker, pid, lambda _: "dog")
    result = await result_of(crowd, pid, "t-0")
    assert (result["status"], result["label"], result["answers"]) == ("completed", "dog", 2)
    assert result["confidence"] >= 0.9
    assert result["posterior"]["dog"] == result["confidence"]


async def test_with_evidence_half_a_task_completes_early_only_on_known_workers(crowd: Crowd) -> None:
    """Cold start (3 labels, newcomers 70% accurate): two agreeing answers give
    dog 0.916, enough for 0.8 in full. Weighted n / (n + 2), worker a's answers
    count 8/10 once a has labelled all 8 tasks, b's k-th answer k/(k+2):
    dog needs a weight sum of log 8 / log(0.7/0.15) = 1.35, which b's third
    answer (0.8 + 0.6) reaches and its second (0.8 + 0.5) does not."""
    pid = (await crowd.new_project(min_overlap=2, max_overlap=4, confidence_target=0.8, evidence_half=2))["id"]
    await crowd.submit(pid, 8)
    a, b, c = await crowd.new_workers("a", "b", "c")
    for worker in (a, b):
        for _ in range(8):
            assert await answer_next(crowd, worker, pid, lambda _: "dog") is not None
    results = {r["external_id"]: r for r in await crowd.results(pid)}
    assert [results[f"t-{i}"]["status"] for i in range(8)] == ["open"] * 2 + ["completed"] * 6
    early = results["t-0"]
    assert early["answers"] == 2
    assert early["posterior"]["dog"] == pytest.approx(0.49 / (0.49 + 2 * 0.15**2), abs=1e-6)  # shown in full
    assert await answer_next(crowd, c, pid, lambda _: "dog") is not None  # the open ones asked for a third
    assert [r["answers"] for r in await crowd.results(pid)] == [3, 2, 2, 2, 2, 2, 2, 2]


async def test_a_refit_that_changes_a_completed_label_announces_it(crowd: Crowd) -> None:
    """A 1-1 tie completes as cat (the first label); gold then shows that the
    dog voter is right every time and the cat voter never: the refit makes it
    dog and says so once, with the label it had."""
    pid = (
        await crowd.new_project(min_overlap=2, max_overlap=2, gold_rate=1.0, onboarding_gold_rate=1.0, min_accuracy=0.0)
    )["id"]
    await crowd.submit(pid, 1)
    keys = ["cat", "dog", "other"] * 2
    gold = [{"external_id": f"g-{i}", "data": {"key": key}, "label": key} for i, key in enumerate(keys)]
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": gold})).status == 201
    right, wrong = await crowd.new_workers("right", "wrong")

    def truthful(data: dict[str, Any]) -> str:  # this test's gold carries its key; the real task: dog
        return str(data.get("key", "dog"))

    def off_by_one(data: dict[str, Any]) -> str:  # every gold answer wrong; the real task: cat
        return {"cat": "dog", "dog": "other", "other": "cat"}[data["key"]] if "key" in data else "cat"

    for worker, choose in ((right, truthful), (wrong, off_by_one)):
        for _ in range(len(keys) + 1):  # every gold task first (gold rate 1), then the real one
            assert await answer_next(crowd, worker, pid, choose) is not None
    assert (await result_of(crowd, pid, "t-0"))["label"] == "cat"

    await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)
    result = await result_of(crowd, pid, "t-0")
    assert (result["status"], result["label"]) == ("completed", "dog")
    feed = await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.platform)
    relabels = [e["data"] for e in feed["items"] if e["type"] == "task.relabeled"]
    assert len(relabels) == 1
    assert {k: relabels[0][k] for k in ("task", "label", "previous_label", "answers")} == {
        "task": "t-0",
        "label": "dog",
        "previous_label": "cat",
        "answers": 2,
    }
    assert relabels[0]["confidence"] == result["confidence"]
    assert relabels[0]["posterior"] == result["posterior"]

    await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)  # the label stays: nothing new
    feed = await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.platform)
    assert [e["type"] for e in feed["items"]].count("task.relabeled") == 1


async def test_disagreement_asks_for_more_answers_up_to_max_overlap(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=4, confidence_target=0.95))["id"]
    await crowd.submit(pid, 1)
    a, b, c, d, e = await crowd.new_workers("a", "b", "c", "d", "e")
    await answer_next(crowd, a, pid, lambda _: "cat")
    await answer_next(crowd, b, pid, lambda _: "dog")
    open_task = await result_of(crowd, pid, "t-0")
    assert (open_task["status"], open_task["answers"]) == ("open", 2)
    assert open_task["posterior"]["cat"] == open_task["posterior"]["dog"]
    assert await answer_next(crowd, c, pid, lambda _: "cat") is not None  # the target rose to 3
    assert (await result_of(crowd, pid, "t-0"))["status"] == "open"  # 2-1 is not 95% sure
    assert await answer_next(crowd, d, pid, lambda _: "dog") is not None  # rose to 4 = max
    done = await result_of(crowd, pid, "t-0")
    assert (done["status"], done["answers"]) == ("completed", 4)
    assert await crowd.next(e, pid) is None


async def test_a_confident_answer_stream_saves_answers(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=5, confidence_target=0.9))["id"]
    await crowd.submit(pid, 10)
    workers = await crowd.new_workers(*"abcdef")
    for worker in workers:
        while await answer_next(crowd, worker, pid, lambda _: "other"):
            pass
    results = await crowd.results(pid)
    assert all(r["status"] == "completed" and r["answers"] == 2 for r in results)


async def simulate_crowd(crowd: Crowd, pid: str, truth: dict[str, str], behaviour: dict[str, float]) -> dict[str, str]:
    """Workers label every task they are offered: right with the given
    probability, otherwise a random wrong label."""
    rng = random.Random(7)
    labels = ["cat", "dog", "other"]

    def chooser(accuracy: float) -> Any:
        def choose(data: dict[str, Any]) -> str:
            right = truth[data["text"]]
            return right if rng.random() < accuracy else rng.choice([x for x in labels if x != right])

        return choose

    tokens = {name: await crowd.new_worker(name) for name in behaviour}
    for name, token in tokens.items():
        while await answer_next(crowd, token, pid, chooser(behaviour[name])):
            pass
    return tokens


async def test_a_refit_learns_who_is_reliable(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=4, max_overlap=4))["id"]
    batch = await crowd.submit(pid, 60)
    rng = random.Random(1)
    truth = {f"task t-{i}": rng.choice(["cat", "dog", "other"]) for i in range(batch["task_count"])}
    await simulate_crowd(crowd, pid, truth, {"ann": 0.95, "ben": 0.9, "cid": 0.9, "spam": 0.34})

    summary = await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)
    assert summary["version"] == 1
    assert (summary["answers"], summary["tasks"], summary["workers"]) == (240, 60, 4)
    assert summary["iterations"] >= 1
    assert summary["posteriors_written"] == 60

    listing = await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator)
    assert listing["labels"] == ["cat", "dog", "other"]
    by_name = {item["name"]: item for item in listing["items"]}
    assert set(by_name) == {"ann", "ben", "cid", "spam"}
    for name in ("ann", "ben", "cid"):
        good = by_name[name]
        assert good["reliability"] > by_name["spam"]["reliability"] + 0.3
        assert good["spammer_score"] > by_name["spam"]["spammer_score"]
        assert good["reliability_low"] <= good["reliability"] <= good["reliability_high"]
        assert good["answers"] == 60
        assert len(good["confusion"]) == 3
        assert all(sum(row) == pytest.approx(1, abs=1e-4) for row in good["confusion"])

    results = await crowd.results(pid)
    accuracy = sum(r["label"] == truth[f"task {r['external_id']}"] for r in results) / len(results)
    assert accuracy >= 0.95


async def test_after_a_refit_a_spammer_no_longer_sways_a_task(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=4, max_overlap=4))["id"]
    await crowd.submit(pid, 60)
    rng = random.Random(2)
    truth = {f"task t-{i}": rng.choice(["cat", "dog", "other"]) for i in range(60)}
    tokens = await simulate_crowd(crowd, pid, truth, {"ann": 0.95, "ben": 0.95, "cid": 0.95, "spam": 0.2})
    await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)

    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"min_overlap": 2, "max_overlap": 3})
    await crowd.submit(pid, 1, prefix="new")
    await answer_next(crowd, tokens["ann"], pid, lambda _: "cat")
    await answer_next(crowd, tokens["spam"], pid, lambda _: "dog")
    swayed = await result_of(crowd, pid, "new-0")
    assert swayed["posterior"]["cat"] > 0.8 > 0.1 > swayed["posterior"]["dog"]


async def test_refitted_posteriors_never_overwrite_newer_answers(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=3, max_overlap=3))["id"]
    await crowd.submit(pid, 1)
    a, b = await crowd.new_workers("a", "b")
    await answer_next(crowd, a, pid, lambda _: "cat")
    app = crowd.client.server.app
    assert app is not None
    async with app[DATABASE].read() as conn:
        [row] = await inference_store.answer_rows(conn, pid)  # what a refit would have read
    await answer_next(crowd, b, pid, lambda _: "dog")  # an answer lands meanwhile
    before = await result_of(crowd, pid, "t-0")
    async with app[DATABASE].transaction() as conn:
        stale = {"task_id": row.task_id, "answers": 1, "posterior": {"cat": 1.0, "dog": 0, "other": 0}, "label": None}
        assert await inference_store.store_posteriors(conn, [{**stale, "confidence": None}]) == 0
    assert await result_of(crowd, pid, "t-0") == before


async def test_one_refit_at_a_time(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    app = crowd.client.server.app
    assert app is not None
    token = await app[BROKER].acquire_lock(f"refit:{pid}", 60)
    assert token is not None
    reply = await crowd.call("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)
    assert (reply.status, reply.body["type"]) == (409, "conflict")
    await app[BROKER].release_lock(f"refit:{pid}", token)
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)).status == 200


async def test_the_periodic_refit_takes_projects_with_new_answers(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    idle = (await crowd.new_project(name="idle"))["id"]
    await crowd.submit(pid, 3)
    await crowd.submit(idle, 3)
    for worker in await crowd.new_workers("a", "b"):
        while await answer_next(crowd, worker, pid, lambda _: "cat"):
            pass
    app = crowd.client.server.app
    assert app is not None
    db, broker, clock = app[DATABASE], app[BROKER], app[CLOCK]
    assert await inference.refit_due(db, broker, clock) == 1
    assert await inference.refit_due(db, broker, clock) == 0  # nothing new since
    async with db.read() as conn:
        fit = await inference_store.latest_fit(conn, pid)
        assert await inference_store.latest_fit(conn, idle) is None
    assert fit is not None
    assert fit.version == 1


async def test_consensus_endpoints_respect_roles_and_organizations(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    worker = await crowd.new_worker()
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/consensus", worker)).status == 403
    assert (await crowd.call("GET", f"/api/v1/projects/{pid}/workers", crowd.platform)).status == 403
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/consensus", crowd.rival)).status == 404
    reply = await crowd.call("GET", f"/api/v1/projects/{pid}/workers?cursor=x%20y", crowd.operator)
    assert reply.status == 422
