"""A server process killed with SIGKILL in the middle of the load, then
restarted: every acknowledged answer is stored exactly once, each with its
reward and no reward without its answer, the ledger balances, and the
leases of workers who vanished with the process expire so others finish
their tasks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.schema import answers, assignments, ledger_transactions, tasks
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from tests.support.servers import ServerProcess, running, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TASKS, OVERLAP, WORKERS, VANISHING = 120, 2, 30, 5


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[list[ServerProcess]]:
    async with running(server_env(settings, CROWD_SWEEP_INTERVAL_SECONDS="0.5"), 2) as procs:
        yield procs


class Crowd:
    """Simulated workers; each talks to its home server and fails over to
    the other one when a request dies, resending the same request."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str], project_id: str) -> None:
        self.session, self.urls, self.project_id = session, urls, project_id
        self.acknowledged: dict[str, str] = {}
        self.done = asyncio.Event()
        self.killed = asyncio.Event()

    async def request(self, home: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        for attempt in range(40):
            url = self.urls[(home + attempt) % 2]
            try:
                async with self.session.request(
                    method, url + path, json=body, headers={"Authorization": f"Bearer {token}"}
                ) as reply:
                    payload = await reply.json() if reply.status not in (204,) else None
                    if reply.status >= 500:
                        raise aiohttp.ClientError(f"{reply.status}")
                    return reply.status, payload
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.05)
        raise AssertionError(f"{method} {path} never went through")

    async def worker(self, index: int, token: str) -> None:
        rng = random.Random(index)
        home = index % 2
        vanishes = index < VANISHING  # these workers die with server 0
        while not self.done.is_set():
            status, lease = await self.request(
                home, "GET", f"/api/v1/work/next?project_id={self.project_id}&wait=1", token
            )
            if status == 204:
                continue
            assert status == 200, lease
            if vanishes and self.killed.is_set():
                return  # gone, holding a lease that must expire
            label = rng.choice(["cat", "dog"])
            path = f"/api/v1/work/assignments/{lease['assignment_id']}/answer"
            status, receipt = await self.request(home, "POST", path, token, {"label": label})
            assert status == 200, receipt
            self.acknowledged[lease["assignment_id"]] = label


async def count(conn: Any, table: Any, condition: Any) -> int:
    return int((await conn.execute(select(func.count()).select_from(table).where(condition))).scalar_one())


async def test_a_killed_process_loses_nothing(settings: Settings, servers: list[ServerProcess]) -> None:
    db = create_database(settings)
    clock = SystemClock()
    _, platform = await identity.create_api_key(db, clock, organization="acme", role=Role.PLATFORM, name="p")
    _, operator = await identity.create_api_key(db, clock, organization="acme", role=Role.OPERATOR, name="o")
    tokens = [(await identity.create_worker(db, clock, name=f"w{i}", organization="acme"))[1] for i in range(WORKERS)]
    urls = [server.url for server in servers]
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=100)) as session:
        auth = {"Authorization": f"Bearer {platform}"}
        body = {"name": "faults", "labels": ["cat", "dog"], "min_overlap": OVERLAP, "reward": 5, "lease_seconds": 2}
        async with session.post(f"{urls[1]}/api/v1/projects", json=body, headers=auth) as reply:
            project = await reply.json()
        batch = {"tasks": [{"external_id": f"t{i}", "data": {"i": i}} for i in range(TASKS)]}
        async with session.post(f"{urls[1]}/api/v1/projects/{project['id']}/batches", json=batch, headers=auth) as r:
            assert r.status == 201
        crowd = Crowd(session, urls, project["id"])
        workers = [asyncio.create_task(crowd.worker(i, t)) for i, t in enumerate(tokens)]

        # Kill once the crowd is under way but most of the work is left, so
        # the vanishing workers surely hold leases (a fixed delay let a fast
        # server finish nearly every task before the kill).
        for _ in range(300):
            if len(crowd.acknowledged) >= TASKS * OVERLAP // 6:
                break
            await asyncio.sleep(0.05)
        servers[0].kill()
        crowd.killed.set()
        await asyncio.sleep(1.0)
        await servers[0].start()

        async def finished() -> bool:
            async with db.read() as conn:
                query = select(func.count()).select_from(tasks).where(tasks.c.status != "completed")
                return (await conn.execute(query)).scalar_one() == 0

        for _ in range(600):
            if await finished():
                break
            await asyncio.sleep(0.1)
        crowd.done.set()
        await asyncio.gather(*workers)
        async with session.get(f"{urls[0]}/api/v1/ledger/audit", headers={"Authorization": f"Bearer {operator}"}) as r:
            audit = await r.json()

    answered = select(assignments.c.public_id, answers.c.label).join(
        answers, answers.c.assignment_id == assignments.c.id
    )
    rewards = select(ledger_transactions.c.answer_id).where(ledger_transactions.c.kind == "reward")
    async with db.read() as conn:
        stored = dict((await conn.execute(answered)).all())
        answer_ids = set((await conn.execute(select(answers.c.id))).scalars())
        rewarded = list((await conn.execute(rewards)).scalars())
        expired = await count(conn, assignments, assignments.c.status == "expired")
        open_tasks = await count(conn, tasks, tasks.c.status != "completed")
    await db.dispose()

    assert open_tasks == 0, "the vanished workers' tasks were finished by others"
    assert expired >= 1, "leases of workers who vanished expired"
    for assignment, label in crowd.acknowledged.items():
        assert stored.get(assignment) == label, "every acknowledged answer is stored, with its label"
    assert sorted(rewarded) == sorted(answer_ids), "no answer without its reward, no reward without its answer"
    assert len(rewarded) == len(set(rewarded))
    assert audit["balanced"], audit
    assert audit["totals"]["worker_pending"] + audit["totals"]["worker_available"] == 5 * len(answer_ids)
