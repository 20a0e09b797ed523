"""Batches: idempotent submission, all-or-nothing validation, progress."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crowd.api.keys import DATABASE
from crowd.db.schema import batches, tasks
from tests.support.crowd import Crowd


async def count_rows(crowd: Crowd) -> tuple[int, int]:
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        n_batches = (await conn.execute(select(func.count()).select_from(batches))).scalar_one()
        n_tasks = (await conn.execute(select(func.count()).select_from(tasks))).scalar_one()
    return n_batches, n_tasks


def rows(n: int, prefix: str = "t") -> list[dict[str, Any]]:
    return [{"external_id": f"{prefix}-{i}", "data": {"text": f"{prefix} {i}"}} for i in range(n)]


async def post(crowd: Crowd, pid: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, body, headers=headers)


async def test_the_same_batch_posted_twice_is_stored_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    body = {"external_id": "b-17", "tasks": rows(3)}
    first = await post(crowd, pid, body)
    again = await post(crowd, pid, body)
    assert (first.status, again.status) == (201, 200)
    assert first.body == again.body
    assert first.body["task_count"] == 3
    assert await count_rows(crowd) == (1, 3)


async def test_an_idempotency_key_replays_the_first_reply(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    body = {"tasks": rows(2)}
    first = await post(crowd, pid, body, key="k-1")
    again = await post(crowd, pid, body, key="k-1")
    assert (first.status, again.status) == (201, 200)
    assert first.body == again.body
    reused = await post(crowd, pid, {"tasks": rows(2, "other")}, key="k-1")
    assert (reused.status, reused.body["type"]) == (422, "idempotency-key-reused")
    assert await count_rows(crowd) == (1, 2)


async def test_a_batch_external_id_cannot_be_reused_for_other_tasks(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    assert (await post(crowd, pid, {"external_id": "b", "tasks": rows(2)})).status == 201
    reply = await post(crowd, pid, {"external_id": "b", "tasks": rows(2, "x")})
    assert (reply.status, reply.body["type"]) == (409, "conflict")
    assert await count_rows(crowd) == (1, 2)


async def test_concurrent_twins_store_one_batch(crowd: Crowd) -> None:
    import asyncio

    pid = (await crowd.new_project())["id"]
    body = {"external_id": "twin", "tasks": rows(50)}
    replies = await asyncio.gather(*(post(crowd, pid, body, key="same") for _ in range(6)))
    assert sorted(r.status for r in replies) == [200] * 5 + [201]
    assert len({r.body["id"] for r in replies}) == 1
    assert await count_rows(crowd) == (1, 50)


async def test_bad_rows_are_named_and_nothing_is_written(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await post(crowd, pid, {"tasks": rows(1, "taken")})
    tasks_in = rows(6)
    tasks_in[1]["data"] = "not an object"
    tasks_in[3] = {"external_id": "t-0", "data": {}}  # duplicates row 0
    tasks_in[4]["external_id"] = "taken-0"  # exists already
    tasks_in[5]["priority"] = "high"
    reply = await post(crowd, pid, {"tasks": tasks_in})
    assert reply.status == 422, reply.text
    assert reply.body["type"] == "validation-error"
    assert "nothing was stored" in reply.body["detail"]
    named = {(e["row"], e["field"]) for e in reply.body["errors"]}
    assert {(1, "data"), (5, "priority")} <= named
    assert await count_rows(crowd) == (1, 1)

    schema_ok = rows(6)
    schema_ok[3] = {"external_id": "t-0", "data": {}}
    schema_ok[4]["external_id"] = "taken-0"
    reply = await post(crowd, pid, {"tasks": schema_ok})
    assert reply.status == 422
    assert [(e["row"], e["field"]) for e in reply.body["errors"]] == [(3, "external_id"), (4, "external_id")]
    assert await count_rows(crowd) == (1, 1)


async def test_ten_thousand_tasks_go_in_one_request_and_one_more_is_refused(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    reply = await post(crowd, pid, {"tasks": rows(10_000)})
    assert reply.status == 201, reply.text
    assert reply.body["task_count"] == 10_000
    too_many = await post(crowd, pid, {"tasks": rows(10_001, "more")})
    assert too_many.status == 422
    assert too_many.body["errors"][0]["loc"] == ["tasks"]
    assert await count_rows(crowd) == (1, 10_000)


async def test_tasks_without_external_ids_get_generated_ones(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    batch = (await post(crowd, pid, {"tasks": [{"data": {"a": 1}}, {"data": {"a": 2}}]})).body
    ids = [r["external_id"] for r in await crowd.results(pid)]
    assert ids == [f"{batch['id']}-0", f"{batch['id']}-1"]


async def test_batch_progress_counts_answers_and_completed_tasks(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    batch = await crowd.submit(pid, 2)
    progress = await crowd.ok("GET", f"/api/v1/batches/{batch['id']}", crowd.platform)
    assert {k: progress[k] for k in ("task_count", "completed", "answers", "status")} == {
        "task_count": 2,
        "completed": 0,
        "answers": 0,
        "status": "open",
    }
    workers = [await crowd.new_worker(f"w{i}") for i in range(2)]
    for _ in range(2):
        for worker in workers:
            lease = await crowd.next(worker, pid)
            assert lease is not None
            assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    progress = await crowd.ok("GET", f"/api/v1/batches/{batch['id']}", crowd.platform)
    assert (progress["completed"], progress["answers"], progress["status"]) == (2, 4, "completed")
    missing = await crowd.call("GET", "/api/v1/batches/bat_nope", crowd.platform)
    assert missing.status == 404
