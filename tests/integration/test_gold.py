"""Gold through the server: upload, mixing, grading, blocking, recollection,
health, feedback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crowd.api.keys import DATABASE
from crowd.db.schema import assignments, tasks
from tests.support.crowd import Crowd

GOLD_KEY = {"g-cat": "cat", "g-dog": "dog", "g-other": "other"}


def gold_rows(n: int, prefix: str = "g") -> list[dict[str, Any]]:
    labels = ["cat", "dog", "other"]
    return [
        {
            "external_id": f"{prefix}-{i}",
            "data": {"text": f"{prefix} {i}", "key": labels[i % 3]},
            "label": labels[i % 3],
            "explanation": f"because {i}",
        }
        for i in range(n)
    ]


async def upload(crowd: Crowd, pid: str, rows: list[dict[str, Any]], token: str | None = None) -> Any:
    return await crowd.call("POST", f"/api/v1/projects/{pid}/gold", token or crowd.platform, {"tasks": rows})


async def gold_of(crowd: Crowd, assignment_id: str) -> bool:
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        query = select(assignments.c.is_gold).where(assignments.c.public_id == assignment_id)
        return bool((await conn.execute(query)).scalar_one())


async def task_count(crowd: Crowd) -> int:
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(tasks))).scalar_one())


def right_answer(data: dict[str, Any]) -> str:
    """Gold data carries its key in this test (a platform would not); real tasks: cat."""
    return str(data.get("key", "cat"))


async def test_gold_upload_is_validated_like_a_batch_and_retry_safe(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1, prefix="real")
    first = await upload(crowd, pid, gold_rows(3))
    assert (first.status, first.body) == (201, {"task_count": 3, "unchanged": 0})
    again = await upload(crowd, pid, gold_rows(3))
    assert (again.status, again.body) == (200, {"task_count": 0, "unchanged": 3})
    before = await task_count(crowd)

    bad = gold_rows(4, prefix="h")
    bad[1]["label"] = "horse"
    bad[2]["external_id"] = "h-0"
    bad[3]["external_id"] = "real-0"
    reply = await upload(crowd, pid, bad)
    assert reply.status == 422
    assert [(e["row"], e["field"]) for e in reply.body["errors"]] == [
        (1, "label"),
        (2, "external_id"),
        (3, "external_id"),
    ]
    changed = gold_rows(1)
    changed[0]["label"] = "dog"
    assert (await upload(crowd, pid, changed)).status == 422
    assert (await upload(crowd, pid, [{"external_id": "x", "data": {}}])).status == 422  # no label
    assert await task_count(crowd) == before
    worker = await crowd.new_worker()
    assert (await upload(crowd, pid, gold_rows(1, "w"), token=worker)).status == 403
    assert (await upload(crowd, pid, gold_rows(1, "w"), token=crowd.rival)).status == 404


async def test_gold_share_follows_onboarding_then_settles_at_the_rate(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=1, gold_rate=0.2, onboarding_tasks=100, onboarding_gold_rate=0.5, lease_seconds=600
        )
    )["id"]
    await crowd.submit(pid, 700)
    assert (await upload(crowd, pid, gold_rows(400))).status == 201
    worker = await crowd.new_worker()
    flags: list[bool] = []
    seen_gold: list[str] = []
    for _ in range(600):
        lease = await crowd.next(worker, pid)
        assert lease is not None
        gold = await gold_of(crowd, lease["assignment_id"])
        flags.append(gold)
        if gold:
            seen_gold.append(lease["data"]["text"])
        assert (await crowd.answer(worker, lease["assignment_id"], right_answer(lease["data"]))).status == 200
    onboarding = sum(flags[:100]) / 100
    steady = sum(flags[400:]) / 200
    assert 0.35 <= onboarding <= 0.65, onboarding  # 0.5 ± 3 sd
    assert 0.12 <= steady <= 0.29, steady  # 0.2 ± 3 sd
    assert len(seen_gold) == len(set(seen_gold))  # never the same gold twice


async def test_a_worker_who_saw_every_gold_task_keeps_working(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1, gold_rate=1.0, onboarding_gold_rate=1.0))["id"]
    await crowd.submit(pid, 10)
    await upload(crowd, pid, gold_rows(3))
    worker = await crowd.new_worker()
    kinds = []
    while (lease := await crowd.next(worker, pid)) is not None:
        kinds.append(await gold_of(crowd, lease["assignment_id"]))
        await crowd.answer(worker, lease["assignment_id"], right_answer(lease["data"]))
    assert kinds == [True] * 3 + [False] * 10
    health = await crowd.ok("GET", f"/api/v1/projects/{pid}/gold", crowd.operator)
    assert (health["gold_tasks"], health["workers_exhausted"], health["workers_with_gold"]) == (3, 1, 1)


async def test_each_worker_meets_the_gold_in_an_order_of_its_own(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, gold_rate=1.0, onboarding_gold_rate=1.0))["id"]
    await crowd.submit(pid, 10)
    await upload(crowd, pid, gold_rows(8))
    orders = []
    for worker in await crowd.new_workers("ann", "ben"):
        order = []
        for _ in range(8):
            lease = await crowd.next(worker, pid)
            assert lease is not None
            assert await gold_of(crowd, lease["assignment_id"])
            order.append(lease["data"]["text"])
            await crowd.answer(worker, lease["assignment_id"], right_answer(lease["data"]))
        assert sorted(order) == sorted(f"g {i}" for i in range(8))
        orders.append(order)
    # the draws are seeded (tests/conftest.py), so this is not luck: 1 in 40,320 orders
    assert orders[0] != orders[1]
    assert orders[0] != sorted(orders[0], key=lambda text: int(text.split()[1]))


async def test_no_gold_when_there_is_no_real_work(crowd: Crowd) -> None:
    pid = (await crowd.new_project(gold_rate=1.0, onboarding_gold_rate=1.0))["id"]
    await upload(crowd, pid, gold_rows(5))
    worker = await crowd.new_worker()
    assert await crowd.next(worker, pid) is None
    assert await crowd.next(worker) is None


async def test_a_spammer_is_blocked_by_gold_and_a_good_worker_is_not(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=1, gold_rate=1.0, onboarding_gold_rate=1.0, min_gold_answers=5, min_accuracy=0.7
        )
    )["id"]
    await crowd.submit(pid, 40)
    await upload(crowd, pid, gold_rows(30))
    spammer, good = await crowd.new_workers("spammer", "good")
    wrong = {"cat": "dog", "dog": "other", "other": "cat"}
    answered = 0
    while (reply := await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", spammer)).status == 200:
        lease = reply.body
        assert (await crowd.answer(spammer, lease["assignment_id"], wrong[right_answer(lease["data"])])).status == 200
        answered += 1
    assert (reply.status, reply.body["type"]) == (403, "worker-blocked")
    assert answered == 5  # blocked by its fifth gold answer: Beta(1, 6) puts 97.5% below 0.41
    assert await crowd.next(spammer) is None  # other projects (none here) stay open

    for i in range(30):
        lease = await crowd.next(good, pid)
        assert lease is not None
        label = right_answer(lease["data"]) if i % 10 else wrong[right_answer(lease["data"])]  # 90% right
        assert (await crowd.answer(good, lease["assignment_id"], label)).status == 200
    listing = {
        w["name"]: w for w in (await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator))["items"]
    }
    assert (listing["spammer"]["blocked"], listing["spammer"]["blocked_reason"]) == (True, "gold")
    assert (listing["spammer"]["gold_answers"], listing["spammer"]["gold_correct"]) == (5, 0)
    assert (listing["good"]["blocked"], listing["good"]["gold_answers"], listing["good"]["gold_correct"]) == (
        False,
        30,
        27,
    )


async def test_operators_block_and_unblock_and_recollection_replaces_answers(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=2, max_overlap=3, gold_rate=0.0, onboarding_gold_rate=0.0, recollect_blocked=True
        )
    )["id"]
    await crowd.submit(pid, 3)
    spam, ann, ben = await crowd.new_workers("spam", "ann", "ben")
    for worker in (spam, ann):
        while (lease := await crowd.next(worker, pid)) is not None:
            await crowd.answer(worker, lease["assignment_id"], "cat")
    assert all(r["status"] == "completed" for r in await crowd.results(pid))

    me = await crowd.ok("GET", "/api/v1/work/me", spam)
    blocked = await crowd.ok("POST", f"/api/v1/projects/{pid}/workers/{me['id']}/block", crowd.operator)
    assert blocked == {"project_id": pid, "worker_id": me["id"], "blocked": True}
    reopened = await crowd.results(pid)
    assert all(r["status"] == "open" and r["label"] is None for r in reopened)

    while (lease := await crowd.next(ben, pid)) is not None:  # ben replaces the spammer everywhere
        await crowd.answer(ben, lease["assignment_id"], "cat")
    final = await crowd.results(pid)
    assert all((r["status"], r["label"], r["answers"]) == ("completed", "cat", 3) for r in final)
    # Two votes count, not three: the spammer's answer no longer does (three
    # agreeing answers would give 0.98, two give 0.92).
    assert all(0.9 < r["posterior"]["cat"] < 0.95 for r in final)

    await crowd.ok("POST", f"/api/v1/projects/{pid}/workers/{me['id']}/unblock", crowd.operator)
    assert (await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", spam)).status == 204
    for path, token, status in [
        (f"/api/v1/projects/{pid}/workers/wrk_unknown/block", crowd.operator, 404),
        (f"/api/v1/projects/{pid}/workers/{me['id']}/block", crowd.platform, 403),
        (f"/api/v1/projects/{pid}/workers/{me['id']}/block", spam, 403),
    ]:
        assert (await crowd.call("POST", path, token)).status == status


async def test_gold_feedback_comes_after_the_answer_when_the_project_wants_it(crowd: Crowd) -> None:
    pid = (
        await crowd.new_project(
            min_overlap=1, gold_rate=0.5, onboarding_gold_rate=0.5, gold_feedback=True, min_accuracy=0
        )
    )["id"]
    await crowd.submit(pid, 30)
    await upload(crowd, pid, gold_rows(30))
    worker = await crowd.new_worker()
    feedback_seen = 0
    for _ in range(20):
        lease = await crowd.next(worker, pid)
        assert lease is not None
        gold = await gold_of(crowd, lease["assignment_id"])
        reply = await crowd.answer(worker, lease["assignment_id"], "dog")
        if gold:
            key = lease["data"]["key"]
            assert reply.body["feedback"] == {
                "correct": key == "dog",
                "label": key,
                "explanation": f"because {lease['data']['text'].split()[-1]}",
            }
            retry = await crowd.answer(worker, lease["assignment_id"], "dog")
            assert retry.body == reply.body
            feedback_seen += 1
        else:
            assert "feedback" not in reply.body
    assert feedback_seen > 0


async def test_gold_health_flags_a_wrong_key(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1, gold_rate=1.0, onboarding_gold_rate=1.0, min_accuracy=0.0))["id"]
    await crowd.submit(pid, 200)
    rows = gold_rows(9)
    rows.append({"external_id": "g-wrong", "data": {"text": "g wrong", "key": "cat"}, "label": "dog"})
    await upload(crowd, pid, rows)
    for worker in await crowd.new_workers(*(f"w{i}" for i in range(4))):
        for _ in range(10):
            lease = await crowd.next(worker, pid)
            assert lease is not None
            await crowd.answer(worker, lease["assignment_id"], right_answer(lease["data"]))
    health = await crowd.ok("GET", f"/api/v1/projects/{pid}/gold", crowd.platform)
    by_id = {item["external_id"]: item for item in health["items"]}
    assert by_id["g-wrong"]["flags"] == ["likely_wrong"]
    assert by_id["g-wrong"]["share_correct"] == 0.0
    assert (by_id["g-wrong"]["shown"], by_id["g-wrong"]["answers"]) == (4, 4)
    assert by_id["g-0"]["flags"] == []
    assert health["flagged"] == 1
