"""Requests at the same moment: a server whose pool lets them run in the
database side by side, and a burst of identical requests, each on its own
HTTP connection."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from tests.support.crowd import Crowd, served


@asynccontextmanager
async def pooled_crowd(settings: Settings, clock: ManualClock, connections: int = 6) -> AsyncIterator[Crowd]:
    """The server with ``connections`` database connections (the tests'
    default is one on PostgreSQL, which queues every request at the pool and
    would hide a race in the database)."""
    app = create_app(settings.model_copy(update={"db_pool_size": connections}), clock=clock, rng=random.Random(1))
    async with served(app) as client:
        yield await Crowd.start(client, clock)


async def at_once(
    client: TestClient[Any, Any], n: int, method: str, path: str, token: str, body: Any = None
) -> list[tuple[int, Any]]:
    """``n`` identical requests released together, each from its own HTTP
    client: ``(status, body)`` of each."""
    gate = asyncio.Event()

    async def one(session: aiohttp.ClientSession) -> tuple[int, Any]:
        await gate.wait()
        headers = {"Authorization": f"Bearer {token}"}
        async with session.request(method, client.make_url(path), json=body, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)

    sessions = [aiohttp.ClientSession() for _ in range(n)]
    try:
        pending = [asyncio.ensure_future(one(session)) for session in sessions]
        await asyncio.sleep(0)  # every request waits at the gate
        gate.set()
        return list(await asyncio.gather(*pending))
    finally:
        for session in sessions:
            await session.close()
