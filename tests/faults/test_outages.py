"""The database or the broker goes away under load and comes back: requests
fail fast with a 503 problem (never a 500, never a hang), no acknowledged
answer is lost, and the server recovers by itself. Each test runs its own
throw-away PostgreSQL or Redis, so stopping them disturbs nothing else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.schema import answers, assignments
from tests.support import private_services, services
from tests.support.private_services import PrivatePostgres, PrivateRedis
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

WORKERS = 10


def _needed() -> None:
    if (why := private_services.available()) is not None:
        services.unavailable("private PostgreSQL/Redis servers", why)


@dataclass
class Observed:
    statuses: dict[int, int] = field(default_factory=dict)
    problem_types: set[str] = field(default_factory=set)
    slowest: float = 0.0
    acknowledged: dict[str, str] = field(default_factory=dict)
    bad_bodies: list[str] = field(default_factory=list)

    def note(self, status: int, elapsed: float, content_type: str, body: Any) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.slowest = max(self.slowest, elapsed)
        if status >= 400:
            if content_type != "application/problem+json" or not isinstance(body, dict):
                self.bad_bodies.append(f"{status} {content_type} {body!r}")
            else:
                self.problem_types.add(body["type"])


async def call(
    session: aiohttp.ClientSession, seen: Observed, method: str, url: str, token: str, body: Any = None
) -> tuple[int, Any]:
    started = time.monotonic()
    try:
        async with session.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as reply:
            payload = await reply.json(content_type=None) if reply.status != 204 else None
            seen.note(reply.status, time.monotonic() - started, reply.content_type, payload)
            return reply.status, payload
    except aiohttp.ClientError:
        seen.note(0, time.monotonic() - started, "", None)
        return 0, None


async def worker_loop(
    session: aiohttp.ClientSession, url: str, token: str, project_id: str, stop: asyncio.Event, seen: Observed
) -> None:
    pending: tuple[str, str] | None = None  # an answer to send (again) until it is acknowledged
    while not stop.is_set():
        if pending is None:
            status, lease = await call(session, seen, "GET", f"{url}/api/v1/work/next?project_id={project_id}", token)
            if status != 200:
                await asyncio.sleep(0.05)
                continue
            pending = (lease["assignment_id"], "cat")
        assignment, label = pending
        status, _ = await call(
            session, seen, "POST", f"{url}/api/v1/work/assignments/{assignment}/answer", token, {"label": label}
        )
        if status == 200:
            seen.acknowledged[assignment] = label
            pending = None
        else:
            await asyncio.sleep(0.05)


async def run_load(server: ServerProcess, keys: dict[str, Any], outage: Any, restore: Any) -> Observed:
    seen = Observed()
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        loops = [
            asyncio.create_task(worker_loop(session, server.url, t, keys["project"], stop, seen))
            for t in keys["workers"]
        ]
        await asyncio.sleep(1.5)
        await asyncio.to_thread(outage)
        await asyncio.sleep(2.5)
        await asyncio.to_thread(restore)
        await asyncio.sleep(4.0)
        stop.set()
        await asyncio.gather(*loops)
    return seen


def crowd_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "crowd", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def seed(server: ServerProcess, env: dict[str, str], tasks: int = 400) -> dict[str, Any]:
    platform = crowd_cli(env, "keys", "create", "--role", "platform", "--name", "p")
    workers = [crowd_cli(env, "workers", "create", "--name", f"w{i}") for i in range(WORKERS)]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {platform}"}) as session:
        async with session.post(
            f"{server.url}/api/v1/projects", json={"name": "outage", "labels": ["cat", "dog"], "min_overlap": 3}
        ) as r:
            project = await r.json()
        body = {"tasks": [{"data": {"i": i}} for i in range(tasks)]}
        async with session.post(f"{server.url}/api/v1/projects/{project['id']}/batches", json=body) as r:
            assert r.status == 201
    return {"project": project["id"], "workers": workers, "platform": platform}


async def stored_answers(database_url: str) -> dict[str, str]:
    db = create_database(Settings(database_url=database_url))
    try:
        query = select(assignments.c.public_id, answers.c.label).join(
            answers, answers.c.assignment_id == assignments.c.id
        )
        async with db.read() as conn:
            return dict((await conn.execute(query)).all())
    finally:
        await db.dispose()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    _needed()
    pg = PrivatePostgres()
    pg.init()
    try:
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    _needed()
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_postgres_restarting_under_load(private_postgres: PrivatePostgres) -> None:
    env = {
        "CROWD_DATABASE_URL": private_postgres.url,
        "CROWD_DB_TIMEOUT_SECONDS": "2",
        "CROWD_WORKER_RATE_LIMIT": "0",
        "CROWD_KEY_RATE_LIMIT": "0",
        "CROWD_LOG_LEVEL": "WARNING",
    }
    crowd_cli(env, "migrate")
    server = ServerProcess(env)
    await server.start()
    try:
        keys = await seed(server, env)
        seen = await run_load(server, keys, private_postgres.stop, private_postgres.start)
    finally:
        server.stop()
    assert seen.bad_bodies == []
    assert 500 not in seen.statuses, seen.statuses
    assert seen.statuses.get(503, 0) > 0, "the outage was seen"
    assert seen.problem_types <= {"database-unavailable", "service-unavailable"}, seen.problem_types
    assert seen.slowest < 10, "failed fast, never hung"
    assert seen.statuses.get(200, 0) > 3 * WORKERS, "served before and after"
    stored = await stored_answers(private_postgres.url)
    assert {a: stored.get(a) for a in seen.acknowledged} == seen.acknowledged, "no acknowledged answer lost"
    server.log_path.unlink(missing_ok=True)


@pytest.fixture
def backend() -> str:
    return "postgres"


async def test_redis_stopping_under_load(settings: Settings, private_redis: PrivateRedis) -> None:
    env = {
        "CROWD_DATABASE_URL": settings.database_url,
        "CROWD_REDIS_URL": private_redis.url,
        "CROWD_WORKER_RATE_LIMIT": "0",
        "CROWD_KEY_RATE_LIMIT": "0",
        "CROWD_LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env)
    await server.start()
    try:
        keys = await seed(server, env)
        seen = await run_load(server, keys, private_redis.stop, private_redis.start)
        woken = await long_poll_wakes(server, keys)
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)
    assert seen.bad_bodies == []
    assert 500 not in seen.statuses, seen.statuses
    assert seen.problem_types <= {"broker-unavailable"}, seen.problem_types
    assert seen.slowest < 10
    stored = await stored_answers(settings.database_url)
    assert {a: stored.get(a) for a in seen.acknowledged} == seen.acknowledged
    assert woken < 5, "long-polls are woken through Redis again once it is back"


async def long_poll_wakes(server: ServerProcess, keys: dict[str, Any]) -> float:
    """Seconds a waiting worker takes to get work submitted after it started waiting."""
    async with aiohttp.ClientSession() as session:
        platform = {"Authorization": f"Bearer {keys['platform']}"}
        async with session.post(
            f"{server.url}/api/v1/projects", json={"name": "fresh", "labels": ["a", "b"]}, headers=platform
        ) as r:
            project = (await r.json())["id"]
        waiter = {"Authorization": f"Bearer {keys['workers'][0]}"}
        started = time.monotonic()
        waiting = asyncio.create_task(
            session.get(f"{server.url}/api/v1/work/next?project_id={project}&wait=20", headers=waiter)
        )
        await asyncio.sleep(0.5)
        async with session.post(
            f"{server.url}/api/v1/projects/{project}/batches", json={"tasks": [{"data": {}}]}, headers=platform
        ) as r:
            assert r.status == 201
        async with await waiting as reply:
            assert reply.status == 200
        return time.monotonic() - started
