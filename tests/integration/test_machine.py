"""Machine predictions in the loop, model evaluation, and routing by
reliability."""

from __future__ import annotations

from typing import Any

from crowd.api.keys import DATABASE
from crowd.inference import store as stats
from tests.support.crowd import Crowd

LABELS = ["cat", "dog", "other"]


def tasks_with(n: int, prefix: str, predict: Any) -> list[dict[str, Any]]:
    return [
        {"external_id": f"{prefix}{i}", "data": {"truth": LABELS[i % 3]}, "predictions": predict(i)} for i in range(n)
    ]


async def answer_all(crowd: Crowd, pid: str, worker: str, choose: Any = lambda d: d["truth"]) -> int:
    answered = 0
    while (lease := await crowd.next(worker, pid)) is not None:
        assert (await crowd.answer(worker, lease["assignment_id"], choose(lease["data"]))).status == 200
        answered += 1
    return answered


async def result(crowd: Crowd, pid: str, external_id: str) -> dict[str, Any]:
    return next(r for r in await crowd.results(pid) if r["external_id"] == external_id)


async def test_a_model_vote_stands_in_for_a_human_one(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=3, gold_rate=0, onboarding_gold_rate=0))["id"]
    body = {"tasks": tasks_with(2, "t", lambda i: [{"model": "m1", "label": "cat", "score": 0.8}])}
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, body)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    await answer_all(crowd, pid, ann, lambda d: "cat" if d["truth"] == "cat" else "dog")
    agreed, disagreed = await result(crowd, pid, "t0"), await result(crowd, pid, "t1")
    assert (agreed["status"], agreed["label"], agreed["answers"]) == ("completed", "cat", 1)  # one human was enough
    assert (disagreed["status"], disagreed["answers"]) == ("open", 1)
    assert await answer_all(crowd, pid, ben, lambda d: "dog") == 1  # the split asks another human
    assert (await result(crowd, pid, "t1"))["status"] == "open"  # two humans against the model: not 90% sure
    assert await answer_all(crowd, pid, cid, lambda d: "dog") == 1
    final = await result(crowd, pid, "t1")
    assert (final["status"], final["label"], final["answers"]) == ("completed", "dog", 3)  # max_overlap humans


async def test_a_trusted_model_settles_easy_tasks_alone(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(min_overlap=1, max_overlap=3, min_human_answers=0, gold_rate=0, onboarding_gold_rate=0)
    )["id"]
    truth = lambda i: [{"model": "oracle", "label": LABELS[i % 3], "score": 0.99}]  # noqa: E731
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": tasks_with(30, "a", truth)})
    # Unknown at first, the model's vote alone is not enough: one human each.
    assert await answer_all(crowd, pid, await crowd.new_worker("ann")) == 30
    await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)  # now the model is known
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": tasks_with(6, "b", truth)})
    settled = [r for r in await crowd.results(pid) if r["external_id"].startswith("b")]
    assert all((r["status"], r["answers"]) == ("completed", 0) for r in settled), settled
    assert [r["label"] for r in settled] == [LABELS[i % 3] for i in range(6)]
    evaluation = await crowd.ok("GET", f"/api/v1/projects/{pid}/models", crowd.platform)
    [oracle] = evaluation["models"]
    assert oracle["model"] == "oracle"
    assert oracle["against_consensus"]["accuracy"] == 1.0
    assert oracle["human_answers_saved"] == 6
    assert oracle["against_consensus"]["calibration"]["ece"] < 0.05


async def test_predictions_in_bulk_are_checked_and_lower_targets(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=3, max_overlap=3, gold_rate=0, onboarding_gold_rate=0))["id"]
    await crowd.submit(pid, 2)
    path = f"/api/v1/projects/{pid}/predictions"
    good_row = {"external_id": "t-0", "model": "m", "label": "cat"}
    for bad_row, field in (
        ({"external_id": "nope", "model": "m", "label": "cat"}, "external_id"),  # no such task
        ({"external_id": "t-1", "model": "m", "label": "horse"}, "label"),  # no such label
        ({"external_id": "t-1", "model": "m", "label": "cat", "score": 1.5}, "score"),  # not a probability
    ):
        reply = await crowd.call("POST", path, crowd.platform, {"predictions": [good_row, bad_row]})
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), (bad_row, reply.body)
        assert [(e["row"], e["field"]) for e in reply.body["errors"]] == [(1, field)], reply.body
    twice = {"predictions": [good_row, {**good_row, "label": "dog"}]}  # one model, one task, two answers
    assert (await crowd.call("POST", path, crowd.platform, twice)).status == 422
    models = await crowd.ok("GET", f"/api/v1/projects/{pid}/models", crowd.platform)
    assert models["models"] == []  # all or nothing: not even the good first row was stored
    assert (await crowd.call("POST", path, crowd.operator, {"predictions": [good_row]})).status == 403
    good = {"predictions": [{"external_id": "t-0", "model": m, "label": "cat", "score": 0.9} for m in ("m1", "m2")]}
    assert (await crowd.ok("POST", path, crowd.platform, good)) == {"stored": 2}
    worker = await crowd.new_worker()
    await answer_all(crowd, pid, worker, lambda d: "cat")
    first = await result(crowd, pid, "t-0")
    assert (first["status"], first["answers"]) == ("completed", 1)  # two models + one human reach min_overlap 3
    assert (await result(crowd, pid, "t-1"))["status"] == "open"


async def test_suggestions_are_shown_only_when_asked_and_their_sway_is_measured(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, gold_rate=0, onboarding_gold_rate=0, show_predictions=True))["id"]
    body = {"tasks": tasks_with(4, "s", lambda i: [{"model": "m", "label": "dog", "score": 0.6}])}
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, body)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    assert lease["suggestion"] == {"label": "dog"}
    await crowd.answer(worker, lease["assignment_id"], "dog")
    await answer_all(crowd, pid, worker, lambda d: "cat")
    report = await crowd.ok("GET", f"/api/v1/projects/{pid}/models", crowd.operator)
    assert report["suggestions"]["answers"] == 4
    assert report["suggestions"]["agreed_with_suggestion"] == 0.25
    hidden = (await crowd.new_project(name="hidden"))["id"]
    await crowd.ok("POST", f"/api/v1/projects/{hidden}/batches", crowd.platform, body)
    lease = await crowd.next(await crowd.new_worker("w2"), hidden)
    assert lease is not None
    assert "suggestion" not in lease


async def set_reliability(crowd: Crowd, pid: str, worker: str, low: float, point: float) -> None:
    app = crowd.client.server.app
    assert app is not None
    me = await crowd.ok("GET", "/api/v1/work/me", worker)
    async with app[DATABASE].transaction() as conn:  # as a fit would have written it
        model = {"worker_id": me["id"], "reliability": point, "reliability_low": low, "reliability_high": point + 0.05}
        await stats.store_worker_models(conn, pid, [model], crowd.clock.now())


async def test_min_reliability_keeps_fitted_weak_workers_off(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_reliability=0.6))["id"]
    await crowd.submit(pid, 3)
    weak, fresh = await crowd.new_workers("weak", "fresh")
    await set_reliability(crowd, pid, weak, 0.3, 0.4)
    reply = await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", weak)
    assert (reply.status, reply.body["type"]) == (403, "not-qualified")
    assert await crowd.next(weak) is None  # no other project: nothing
    assert await crowd.next(fresh, pid) is not None  # not fitted yet: may start


async def test_uncertainty_routing_sends_contested_tasks_to_reliable_workers(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=3, max_overlap=3, routing="uncertainty", gold_rate=0, onboarding_gold_rate=0
        )
    )["id"]
    await crowd.submit(pid, 4)  # t-3 stays unanswered: not contested, only unstarted
    seeders = await crowd.new_workers("s1", "s2")
    for token, labels in zip(seeders, (("cat", "cat", "cat"), ("cat", "dog", "other")), strict=True):
        for label in labels:  # t-0: cat+cat (confident), t-1: cat+dog (contested), t-2: cat+other
            lease = await crowd.next(token, pid)
            assert lease is not None
            await crowd.answer(token, lease["assignment_id"], label)
    expert, novice = await crowd.new_workers("expert", "novice")
    await set_reliability(crowd, pid, expert, 0.9, 0.95)
    confident = await crowd.next(novice, pid)
    contested = await crowd.next(expert, pid)
    assert confident is not None
    assert contested is not None
    assert confident["data"] == {"text": "task t-0"}
    assert contested["data"] in ({"text": "task t-1"}, {"text": "task t-2"})
    other = (await crowd.new_workers("expert2"))[0]
    await set_reliability(crowd, pid, other, 0.9, 0.95)
    second = await crowd.next(other, pid)
    assert second is not None
    assert second["data"] in ({"text": "task t-1"}, {"text": "task t-2"}), "a contested task before a fresh one"
