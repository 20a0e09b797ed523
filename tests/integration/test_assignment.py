"""The assignment engine through HTTP: overlap, leases, expiry, skips,
answers and their retries. Time moves with the injected clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from crowd.api.keys import DATABASE, ENGINE
from crowd.db.schema import answers, assignments
from crowd.identity import store as identity_store
from tests.support.crowd import Crowd


async def answer_count(crowd: Crowd) -> int:
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(answers))).scalar_one())


async def test_a_lease_shows_the_data_and_nothing_internal(crowd: Crowd) -> None:
    project = await crowd.new_project(instructions="Look closely.")
    await crowd.submit(project["id"], 1)
    lease = await crowd.next(await crowd.new_worker(), project["id"])
    assert lease is not None
    assert set(lease) == {"assignment_id", "expires_at", "data", "project"}
    assert lease["assignment_id"].startswith("asg_")
    assert lease["data"] == {"text": "task t-0"}
    assert lease["project"] == {
        "id": project["id"],
        "name": "Pets",
        "instructions": "Look closely.",
        "instructions_html": "<p>Look closely.</p>\n",
        "labels": ["cat", "dog", "other"],
        "reward": 0,
        "currency": "USD",
        "lease_seconds": 60,
    }
    assert lease["expires_at"].endswith("Z")


async def test_a_worker_holding_a_lease_gets_the_same_one_back(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 3)
    worker = await crowd.new_worker()
    first = await crowd.next(worker, pid)
    again = await crowd.next(worker, pid)
    anywhere = await crowd.next(worker)
    assert first == again == anywhere


async def test_concurrent_requests_of_one_worker_share_one_lease(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 10)
    worker = await crowd.new_worker()
    leases = await asyncio.gather(*(crowd.next(worker, pid) for _ in range(8)))
    assert len({lease["assignment_id"] for lease in leases if lease}) == 1


async def test_no_task_goes_past_its_overlap_or_twice_to_one_worker(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    await crowd.submit(pid, 3)
    workers = [await crowd.new_worker(f"w{i}") for i in range(4)]
    seen: dict[str, list[str]] = {}
    for _ in range(3):
        for worker in workers:
            lease = await crowd.next(worker, pid)
            if lease is None:
                continue
            seen.setdefault(lease["data"]["text"], []).append(worker)
            assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    assert sorted(len(ws) for ws in seen.values()) == [2, 2, 2]
    assert all(len(set(ws)) == len(ws) for ws in seen.values())
    assert all(r["status"] == "completed" for r in await crowd.results(pid))
    assert await answer_count(crowd) == 6


async def test_work_goes_by_priority_then_closest_to_completion_then_age(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    body = {
        "tasks": [
            {"external_id": "old", "data": {"n": "old"}},
            {"external_id": "new", "data": {"n": "new"}},
            {"external_id": "urgent", "data": {"n": "urgent"}, "priority": 5},
        ]
    }
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, body)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    order = []
    for _ in range(2):
        lease = await crowd.next(ann, pid)
        assert lease is not None
        order.append(lease["data"]["n"])
        await crowd.answer(ann, lease["assignment_id"], "cat")
    assert order == ["urgent", "old"]
    # "old" has an answer now: it is closer to completion than "new".
    lease = await crowd.next(ben, pid)
    assert lease is not None
    assert lease["data"]["n"] == "urgent"
    await crowd.answer(ben, lease["assignment_id"], "cat")
    lease = await crowd.next(ben, pid)
    assert lease is not None
    assert lease["data"]["n"] == "old"
    lease = await crowd.next(cid, pid)
    assert lease is not None
    assert lease["data"]["n"] == "new"


async def test_an_expired_lease_frees_its_slot_but_never_returns_to_its_worker(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1, lease_seconds=60))["id"]
    await crowd.submit(pid, 1)
    ann, ben = await crowd.new_worker("ann"), await crowd.new_worker("ben")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    assert await crowd.next(ben, pid) is None  # the only slot is leased
    crowd.clock.advance(61)
    taken = await crowd.next(ben, pid)
    assert taken is not None
    assert taken["data"] == lease["data"]
    assert await crowd.next(ann, pid) is None  # never the same task twice


async def test_a_workers_own_overdue_lease_is_released_even_between_expiry_rounds(crowd: Crowd) -> None:
    # Claims release overdue leases at most once per interval; a worker whose
    # own lease is overdue must not wait for the next round (their old lease
    # would still block a new one).
    app = crowd.client.server.app  # type: ignore[union-attr]
    app[ENGINE].expiry.interval = timedelta(days=1)
    pid = (await crowd.new_project(min_overlap=1, lease_seconds=60))["id"]
    await crowd.submit(pid, 2)
    ann, ben = await crowd.new_worker("ann"), await crowd.new_worker("ben")
    first = await crowd.next(ann, pid)  # the round of this interval runs here
    assert first is not None
    crowd.clock.advance(61)
    second = await crowd.next(ann, pid)
    assert second is not None
    assert second["assignment_id"] != first["assignment_id"]
    # ann's overdue lease was released, so its task is ben's to take
    taken = await crowd.next(ben, pid)
    assert taken is not None
    assert taken["data"] == first["data"]


async def test_a_late_answer_is_taken_while_its_lease_is_held_and_never_once_released(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, lease_seconds=60))["id"]
    await crowd.submit(pid, 1)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    late = await crowd.next(ann, pid)
    assert late is not None
    crowd.clock.advance(61)
    # Overdue but not yet released: the lease still holds its slot.
    assert (await crowd.answer(ann, late["assignment_id"], "dog")).status == 200

    lease_b = await crowd.next(ben, pid)
    assert lease_b is not None
    crowd.clock.advance(61)
    lease_c = await crowd.next(cid, pid)  # ben's lease is released, cid takes the slot
    assert lease_c is not None
    assert (await crowd.answer(cid, lease_c["assignment_id"], "dog")).status == 200
    reply = await crowd.answer(ben, lease_b["assignment_id"], "dog")
    assert (reply.status, reply.body["type"]) == (409, "lease-expired")
    assert await answer_count(crowd) == 2


async def test_a_released_lease_takes_no_answer_even_while_its_task_has_room(crowd: Crowd) -> None:
    """Taking it when the task had room would tell gold (no overlap, always
    room) from real work: tests/integration/test_gold_side_channels.py."""
    pid = (await crowd.new_project(min_overlap=2, lease_seconds=60))["id"]
    await crowd.submit(pid, 1)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    crowd.clock.advance(61)
    assert await crowd.next(ben, pid) is not None  # releases ann's lease, takes the other slot
    reply = await crowd.answer(ann, lease["assignment_id"], "cat")
    assert (reply.status, reply.body["type"]) == (409, "lease-expired")
    assert await crowd.next(cid, pid) is not None  # the slot ann's lease held is free for another
    assert await answer_count(crowd) == 0


async def test_skip_frees_the_slot_for_someone_else(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1))["id"]
    await crowd.submit(pid, 1)
    ann, ben = await crowd.new_worker("ann"), await crowd.new_worker("ben")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    assert await crowd.next(ben, pid) is None
    path = f"/api/v1/work/assignments/{lease['assignment_id']}/skip"
    skipped = await crowd.ok("POST", path, ann)
    assert skipped["status"] == "skipped"
    assert await crowd.ok("POST", path, ann) == skipped  # a retried skip
    assert await crowd.next(ann, pid) is None
    assert await crowd.next(ben, pid) is not None
    reply = await crowd.answer(ann, lease["assignment_id"], "cat")
    assert (reply.status, reply.body["type"]) == (409, "assignment-closed")


async def test_an_answer_retried_gets_the_same_reply_and_counts_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    first = await crowd.answer(worker, lease["assignment_id"], "dog")
    retries = await asyncio.gather(*(crowd.answer(worker, lease["assignment_id"], "dog") for _ in range(10)))
    assert first.status == 200
    assert first.body["status"] == "accepted"
    assert all((r.status, r.body) == (200, first.body) for r in retries)
    other = await crowd.answer(worker, lease["assignment_id"], "cat")
    assert (other.status, other.body["type"]) == (409, "already-answered")
    [result] = await crowd.results(pid)
    assert result["answers"] == 1
    assert await answer_count(crowd) == 1


async def test_parallel_first_answers_count_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    replies = await asyncio.gather(*(crowd.answer(worker, lease["assignment_id"], "dog") for _ in range(10)))
    assert {(r.status, r.text) for r in replies} == {(200, replies[0].text)}
    assert await answer_count(crowd) == 1


async def test_an_unknown_label_is_refused_and_the_lease_stays(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    reply = await crowd.answer(worker, lease["assignment_id"], "horse")
    assert (reply.status, reply.body["type"]) == (422, "unknown-label")
    assert await answer_count(crowd) == 0
    assert await crowd.next(worker, pid) == lease
    assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200


async def test_workers_cannot_touch_each_others_assignments(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1)
    ann, ben = await crowd.new_worker("ann"), await crowd.new_worker("ben")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    for action in ("answer", "skip"):
        reply = await crowd.call(
            "POST", f"/api/v1/work/assignments/{lease['assignment_id']}/{action}", ben, {"label": "cat"}
        )
        assert (reply.status, reply.body["type"]) == (404, "not-found")
    assert await answer_count(crowd) == 0


async def test_long_poll_wakes_when_work_arrives(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    worker = await crowd.new_worker()
    waiting = asyncio.create_task(crowd.next(worker, pid, wait=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    loop = asyncio.get_running_loop()
    submitted_at = loop.time()
    await crowd.submit(pid, 1)
    lease = await asyncio.wait_for(waiting, 10)
    assert lease is not None
    assert loop.time() - submitted_at < 5


async def test_long_poll_without_a_project_wakes_too(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    worker = await crowd.new_worker()
    waiting = asyncio.create_task(crowd.next(worker, wait=20))
    await asyncio.sleep(0.3)
    await crowd.submit(pid, 1)
    assert await asyncio.wait_for(waiting, 10) is not None


async def test_a_worker_blocked_while_busy_is_refused_once_the_cache_entry_ends(crowd: Crowd) -> None:
    """Using a token keeps it in the process's cache no longer than the TTL
    from when it was looked up: block a worker who calls every second, and
    within 5 s they are refused."""
    worker = await crowd.new_worker()
    me = await crowd.ok("GET", "/api/v1/work/me", worker)
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.transaction() as conn:
        assert await identity_store.set_worker_blocked(conn, me["id"], True)
    for _ in range(4):  # trusted from the cache meanwhile: 4 s after the lookup
        crowd.clock.advance(1)
        assert (await crowd.call("GET", "/api/v1/work/me", worker)).status == 200
    crowd.clock.advance(1.5)
    reply = await crowd.call("GET", "/api/v1/work/next", worker)
    assert (reply.status, reply.body["type"]) == (403, "worker-blocked")


async def test_no_work_is_204_at_once_and_wait_is_bounded(crowd: Crowd) -> None:
    worker = await crowd.new_worker()
    assert await crowd.next(worker) is None
    reply = await crowd.call("GET", "/api/v1/work/next?wait=31", worker)
    assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["query", "wait"])
    reply = await crowd.call("GET", "/api/v1/work/next?project_id=prj_missing", worker)
    assert reply.status == 404


async def test_a_blocked_worker_gets_403(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    me = await crowd.ok("GET", "/api/v1/work/me", worker)
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.transaction() as conn:
        assert await identity_store.set_worker_blocked(conn, me["id"], True)
    crowd.clock.advance(6)  # a process trusts a token it has seen for 5 s (CROWD_AUTH_CACHE_SECONDS)
    reply = await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", worker)
    assert (reply.status, reply.body["type"]) == (403, "worker-blocked")
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(assignments))).scalar_one() == 0
