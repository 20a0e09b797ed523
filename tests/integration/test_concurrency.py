"""Two server processes on one PostgreSQL and one Redis, a hundred workers
at once, until the batch is done: no task over its overlap, no task twice to
one worker, every acknowledged answer stored exactly once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.schema import answers, assignments, tasks
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from tests.support.servers import ServerProcess, running, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

WORKERS = 100
TASKS = 300
OVERLAP = 3


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[list[ServerProcess]]:
    async with running(server_env(settings, CROWD_DB_POOL_SIZE="20"), 2) as procs:
        yield procs


@dataclass
class Ledger:
    """What the simulated crowd was told: every acknowledged answer."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    def note(self, url: str, status: int) -> None:
        self.served_by[url] = self.served_by.get(url, 0) + 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def send(
    session: aiohttp.ClientSession, method: str, url: str, ledger: Ledger, **kw: Any
) -> tuple[int, dict[str, Any] | None]:
    """One request as a well-behaved client sends it: a 503 ``database-busy``
    (every connection of the process in use, on a loaded machine) is sent
    again after its Retry-After, as the Python client does. Anything else
    comes back as it is."""
    for _ in range(30):
        async with session.request(method, url, **kw) as reply:
            ledger.note(url.split("/api/")[0], reply.status)
            body = await reply.json() if reply.status != 204 else None
            if reply.status != 503:
                return reply.status, body
            assert body is not None
            assert body["type"] == "database-busy", body
            retry_after = float(reply.headers["Retry-After"])
        await asyncio.sleep(retry_after)
    raise AssertionError(f"{url} stayed busy")


async def simulated_worker(
    session: aiohttp.ClientSession, urls: list[str], token: str, project_id: str, done: asyncio.Event, ledger: Ledger
) -> None:
    rng = random.Random(token)
    headers = {"Authorization": f"Bearer {token}"}
    while not done.is_set():
        url = rng.choice(urls)
        status, lease = await send(
            session, "GET", f"{url}/api/v1/work/next?project_id={project_id}&wait=1", ledger, headers=headers
        )
        assert status in (200, 204), lease
        if lease is None:
            continue
        assignment = lease["assignment_id"]
        if rng.random() < 0.05:
            path = f"{url}/api/v1/work/assignments/{assignment}/skip"
            status, body = await send(session, "POST", path, ledger, headers=headers)
            assert status == 200, body
            continue
        label = rng.choice(["cat", "dog", "other"])
        for _ in range(1 + (rng.random() < 0.2)):  # some workers resend their answer
            path = f"{rng.choice(urls)}/api/v1/work/assignments/{assignment}/answer"
            status, body = await send(session, "POST", path, ledger, json={"label": label}, headers=headers)
            assert status == 200, body
            assert body is not None
            assert body["label"] == label
            ledger.acknowledged[assignment] = label


async def watch_batch(session: aiohttp.ClientSession, url: str, key: str, batch_id: str, done: asyncio.Event) -> None:
    while True:
        async with session.get(f"{url}/api/v1/batches/{batch_id}", headers={"Authorization": f"Bearer {key}"}) as r:
            progress = await r.json()
        if progress["status"] == "completed":
            done.set()
            return
        await asyncio.sleep(0.2)


async def test_a_hundred_workers_on_two_processes(settings: Settings, servers: list[ServerProcess]) -> None:
    db = create_database(settings)
    clock = SystemClock()
    _, platform = await identity.create_api_key(db, clock, organization="acme", role=Role.PLATFORM, name="p")
    tokens = [(await identity.create_worker(db, clock, name=f"w{i}", organization="acme"))[1] for i in range(WORKERS)]
    urls = [server.url for server in servers]
    ledger = Ledger()
    auth = {"Authorization": f"Bearer {platform}"}
    connector = aiohttp.TCPConnector(limit=WORKERS * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        project_body = {"name": "load", "labels": ["cat", "dog", "other"], "min_overlap": OVERLAP}
        async with session.post(f"{urls[0]}/api/v1/projects", json=project_body, headers=auth) as reply:
            project: dict[str, Any] = await reply.json()
        batch_body = {"tasks": [{"external_id": f"t{i}", "data": {"i": i}} for i in range(TASKS)]}
        async with session.post(
            f"{urls[1]}/api/v1/projects/{project['id']}/batches", json=batch_body, headers=auth
        ) as r:
            batch = await r.json()
        done = asyncio.Event()
        crowd = [simulated_worker(session, urls, token, project["id"], done, ledger) for token in tokens]
        await asyncio.wait_for(asyncio.gather(watch_batch(session, urls[0], platform, batch["id"], done), *crowd), 240)

    async with db.read() as conn:
        over = await conn.execute(
            select(func.count()).select_from(tasks).where(tasks.c.answer_count + tasks.c.lease_count > OVERLAP)
        )
        assert over.scalar_one() == 0
        counts = dict((await conn.execute(select(tasks.c.external_id, tasks.c.answer_count))).all())
        stored = dict(
            (
                await conn.execute(
                    select(assignments.c.public_id, answers.c.label).join(
                        answers, answers.c.assignment_id == assignments.c.id
                    )
                )
            ).all()
        )
        per_task_worker = (
            await conn.execute(
                select(answers.c.task_id, answers.c.worker_id, func.count())
                .group_by(answers.c.task_id, answers.c.worker_id)
                .having(func.count() > 1)
            )
        ).all()
        total_answers = (await conn.execute(select(func.count()).select_from(answers))).scalar_one()
    await db.dispose()

    assert set(counts.values()) == {OVERLAP}, "every task got exactly its overlap"
    assert per_task_worker == []
    assert stored == ledger.acknowledged, "every acknowledged answer is stored once, with its label"
    assert total_answers == TASKS * OVERLAP == len(ledger.acknowledged)
    assert all(count > 100 for count in ledger.served_by.values()), ledger.served_by
    assert set(ledger.statuses) <= {200, 204, 503}, ledger.statuses  # 503: busy, sent again
    assert [line for server in servers for line in server.errors()] == []
