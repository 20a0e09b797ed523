"""Hostile and clumsy requests: every one a 4xx problem+json, none a 500,
none leaving a partial write behind."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from crowd.api.keys import DATABASE
from crowd.db import schema
from tests.support.crowd import LABELS, Crowd


async def table_sizes(crowd: Crowd) -> dict[str, int]:
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in schema.metadata.sorted_tables
        }


def assert_problem(reply: Any, status: int, kind: str) -> None:
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.body["type"] == kind
    assert reply.body["status"] == status
    assert reply.body["title"]
    assert reply.body["detail"]


@pytest.mark.parametrize("raw", ["{", "not json", '{"name": "x",}', "\xff\xfe", "[1, 2"])
async def test_malformed_json_is_400(crowd: Crowd, raw: str) -> None:
    before = await table_sizes(crowd)
    reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, raw=raw.encode("latin-1"))
    assert_problem(reply, 400, "invalid-json")
    assert await table_sizes(crowd) == before


@pytest.mark.parametrize("body", [[], "a string", 42, None, {"name": 1, "labels": "cat,dog"}])
async def test_wrong_shapes_are_422(crowd: Crowd, body: Any) -> None:
    before = await table_sizes(crowd)
    reply = await crowd.call(
        "POST", "/api/v1/projects", crowd.platform, raw="null" if body is None else None, body=body
    )
    assert_problem(reply, 422, "validation-error")
    assert reply.body["errors"]
    assert await table_sizes(crowd) == before


@pytest.mark.parametrize("levels", [65, 200_000])
async def test_a_body_nested_too_deeply_is_400(crowd: Crowd, levels: int) -> None:
    pid = (await crowd.new_project())["id"]
    before = await table_sizes(crowd)
    data = "[" * levels + "]" * levels
    raw = '{"tasks": [{"data": {"nested": ' + data + "}}]}"
    reply = await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, raw=raw)
    assert_problem(reply, 400, "json-too-deep")
    assert await table_sizes(crowd) == before
    # Nesting up to the limit is fine, and brackets inside strings are text.
    fine = '{"tasks": [{"data": {"nested": ' + "[" * 60 + '"]]]]]]]]"' + "]" * 60 + "}}]}"
    reply = await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, raw=fine)
    assert reply.status == 201, reply.text


async def test_an_oversized_body_is_413(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    before = await table_sizes(crowd)
    huge = '{"tasks": [{"data": {"text": "' + "x" * (17 * 1024 * 1024) + '"}}]}'
    reply = await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, raw=huge)
    assert_problem(reply, 413, "payload-too-large")
    assert await table_sizes(crowd) == before


async def test_unknown_ids_are_404(crowd: Crowd) -> None:
    worker = await crowd.new_worker()
    for method, path, token, body in [
        ("GET", "/api/v1/projects/prj_nope", crowd.platform, None),
        ("PATCH", "/api/v1/projects/prj_nope", crowd.platform, {"reward": 1}),
        ("POST", "/api/v1/projects/prj_nope/batches", crowd.platform, {"tasks": [{"data": {}}]}),
        ("GET", "/api/v1/batches/bat_nope", crowd.platform, None),
        ("GET", "/api/v1/projects/prj_nope/results", crowd.platform, None),
        ("POST", "/api/v1/work/assignments/asg_nope/answer", worker, {"label": "cat"}),
        ("POST", "/api/v1/work/assignments/asg_nope/skip", worker, None),
        ("GET", "/api/v1/nothing/here", crowd.platform, None),
    ]:
        assert_problem(await crowd.call(method, path, token, body), 404, "not-found")


async def test_a_wrong_method_is_405(crowd: Crowd) -> None:
    assert_problem(await crowd.call("DELETE", "/api/v1/projects", crowd.platform), 405, "method-not-allowed")


async def test_an_answer_body_must_be_a_label(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    path = f"/api/v1/work/assignments/{lease['assignment_id']}/answer"
    before = await table_sizes(crowd)
    for body in [{}, {"label": 3}, {"label": ""}, {"label": "cat", "extra": 1}, ["cat"]]:
        assert_problem(await crowd.call("POST", path, worker, body), 422, "validation-error")
    assert_problem(await crowd.call("POST", path, worker, raw="{"), 400, "invalid-json")
    assert await table_sizes(crowd) == before


async def test_an_overlong_idempotency_key_is_422(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    reply = await crowd.call(
        "POST",
        f"/api/v1/projects/{pid}/batches",
        crowd.platform,
        {"tasks": [{"data": {}}]},
        headers={"Idempotency-Key": "k" * 201},
    )
    assert_problem(reply, 422, "validation-error")


async def test_a_client_that_leaves_mid_body_is_no_server_error(crowd: Crowd, caplog: pytest.LogCaptureFixture) -> None:
    """A worker whose connection drops while its answer is still arriving:
    the access log says 499 (client closed request), nothing is logged as
    an error, and the answer can still be sent."""
    server = crowd.client.server
    project = await crowd.new_project()
    await crowd.submit(project["id"], 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, project["id"])
    assert lease is not None
    with caplog.at_level(logging.INFO, logger="crowd.http"):
        _, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            f"POST /api/v1/work/assignments/{lease['assignment_id']}/answer HTTP/1.1\r\n"
            f"Host: {server.host}\r\nAuthorization: Bearer {worker}\r\n"
            'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"label": '.encode()
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(200):  # the server notices the closed socket on its next read
            if [r for r in caplog.records if r.getMessage() == "request"]:
                break
            await asyncio.sleep(0.01)
    [logged] = [r for r in caplog.records if r.getMessage() == "request"]
    assert logged.status == 499  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert (await crowd.answer(worker, lease["assignment_id"], LABELS[0])).status == 200
