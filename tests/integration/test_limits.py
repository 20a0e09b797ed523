"""Rate limits and a database that is not there: clear 4xx/5xx problems,
never a 500 or a hang."""

from __future__ import annotations

import asyncio

from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from tests.support.crowd import Crowd, served
from tests.support.servers import free_port


async def test_a_worker_over_the_rate_limit_gets_429(settings: Settings, clock: ManualClock) -> None:
    limited = settings.model_copy(update={"worker_rate_limit": 3})
    async with served(create_app(limited, clock=clock)) as client:
        crowd = await Crowd.start(client, clock)
        worker = await crowd.new_worker()
        replies = [await crowd.call("GET", "/api/v1/work/next", worker) for _ in range(6)]
        statuses = [reply.status for reply in replies]
        assert statuses.count(204) >= 3
        assert 429 in statuses
        limited_reply = next(reply for reply in replies if reply.status == 429)
        assert limited_reply.body["type"] == "rate-limited"
        assert int(limited_reply.headers["Retry-After"]) >= 1
        # Keys have their own budget: the platform is not slowed by the worker.
        assert (await crowd.call("GET", "/api/v1/projects/prj_x", crowd.platform)).status == 404


async def test_a_missing_database_is_a_fast_503() -> None:
    gone = Settings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none",
        db_timeout_seconds=2,
        sweep_interval_seconds=3600,
    )
    async with served(create_app(gone)) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["type"] == "database-unavailable"
        reply = await client.get("/api/v1/work/next", headers={"Authorization": "Bearer crowd_wt_" + "x" * 43})
        assert reply.status == 503
        assert reply.content_type == "application/problem+json"
        assert (await reply.json())["type"] == "database-unavailable"
        assert loop.time() - started < 10
