"""SIGTERM drains: the process stops taking connections, finishes the
requests it holds (a long-poll ends at once with "no work"), then exits
cleanly, so a rolling restart loses no acknowledged write."""

from __future__ import annotations

import asyncio
import io
import json
import time

import aiohttp
import pytest
from sqlalchemy import func, select

from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.schema import tasks
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from tests.support.servers import running, server_env

pytestmark = pytest.mark.slow

TASKS = 10_000  # the largest batch: the server takes a second or so to store it


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_sigterm_finishes_requests_in_flight_then_exits(settings: Settings) -> None:
    db = create_database(settings)
    clock = SystemClock()
    _, platform = await identity.create_api_key(db, clock, organization="acme", role=Role.PLATFORM, name="p")
    _, worker = await identity.create_worker(db, clock, name="w", organization="acme")
    platform_auth = {"Authorization": f"Bearer {platform}"}
    async with (
        running(server_env(settings), 1) as [server],
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        project_ids = []
        for name in ("quiet", "busy"):
            body = {"name": name, "labels": ["cat", "dog"]}
            async with session.post(f"{server.url}/api/v1/projects", json=body, headers=platform_auth) as reply:
                project_ids.append((await reply.json())["id"])
        quiet, busy = project_ids

        async def long_poll() -> tuple[int, float]:
            started = time.monotonic()
            path = f"/api/v1/work/next?project_id={quiet}&wait=25"
            async with session.get(server.url + path, headers={"Authorization": f"Bearer {worker}"}) as reply:
                return reply.status, time.monotonic() - started

        async def upload() -> int:
            batch = {"tasks": [{"external_id": f"t{i}", "data": {"text": f"item {i}"}} for i in range(TASKS)]}
            path = f"/api/v1/projects/{busy}/batches"
            headers = {**platform_auth, "Content-Type": "application/json"}
            raw = io.BytesIO(json.dumps(batch).encode())
            async with session.post(server.url + path, data=raw, headers=headers) as reply:
                return reply.status

        polling = asyncio.create_task(long_poll())
        await asyncio.sleep(0.5)  # the poll waits: its project has no tasks
        uploading = asyncio.create_task(upload())
        await asyncio.sleep(0.3)  # the batch is being stored
        assert server.process is not None
        server.process.terminate()

        assert await uploading == 201  # finished and acknowledged, not cut off
        status, waited = await polling
        assert status == 204  # "no work for now", told at the drain,
        assert waited < 20  # not held to its 25 s
        exit_code = await asyncio.to_thread(server.process.wait, 30)
        assert exit_code == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{server.url}/healthz"):
                pass
        assert not server.errors()

    async with db.read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(tasks).where(~tasks.c.is_gold))).scalar_one()
    assert stored == TASKS
    await db.dispose()
