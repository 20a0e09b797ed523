"""Deactivation against the worker's claims in flight, on PostgreSQL with a
real pool: once the deactivation has answered, the worker holds no live
lease, however its claims and the deactivation interleaved."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from crowd.api.keys import DATABASE
from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from crowd.db.schema import assignments, tasks
from tests.support.crowd import Crowd, served

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROJECTS = 8
ROUNDS = 12


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
async def pooled(settings: Settings, clock: ManualClock) -> AsyncIterator[Crowd]:
    """The app with a pool of ten connections, so claims run at once."""
    app = create_app(settings.model_copy(update={"db_pool_size": 10}), clock=clock, rng=random.Random(7))
    async with served(app) as client:
        yield await Crowd.start(client, clock)


async def test_a_deactivation_racing_its_workers_claims_leaves_no_live_lease(pooled: Crowd) -> None:
    crowd = pooled
    pids = [
        (await crowd.new_project(name=f"p{i}", gold_rate=0.0, onboarding_gold_rate=0.0))["id"] for i in range(PROJECTS)
    ]
    for pid in pids:
        await crowd.submit(pid, ROUNDS + 1)
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    rng = random.Random(19)
    statuses: dict[int, int] = {}
    for round_ in range(ROUNDS):
        made = await crowd.ok("POST", "/api/v1/workers", crowd.operator, {"name": f"w{round_}"})
        token = made["token"]
        await crowd.ok("GET", "/api/v1/work/me", token)  # its token now cached: the claims pass auth

        async def claim(pid: str, token: str = token) -> int:
            await asyncio.sleep(rng.random() * 0.02)
            return (await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", token)).status

        async def deactivate(worker_id: str = made["id"]) -> int:
            await asyncio.sleep(0.005 + rng.random() * 0.01)
            return (await crowd.call("POST", f"/api/v1/workers/{worker_id}/deactivate", crowd.operator)).status

        *claimed, deactivated = await asyncio.gather(*(claim(pid) for pid in pids), deactivate())
        assert deactivated == 200
        for status in claimed:
            statuses[status] = statuses.get(status, 0) + 1
        async with db.read() as conn:
            live = select(func.count()).where(assignments.c.worker_id == made["id"], assignments.c.status == "leased")
            assert (await conn.execute(live)).scalar_one() == 0, f"round {round_}: a lease outlived the deactivation"
    assert set(statuses) <= {200, 401}, statuses
    assert statuses.get(200), statuses  # both sides of the race were run
    assert statuses.get(401), statuses
    async with db.read() as conn:  # every slot taken is a live lease (the leases released gave theirs back)
        held = select(func.coalesce(func.sum(tasks.c.lease_count), 0))
        leased = select(func.count()).where(assignments.c.status == "leased")
        assert (await conn.execute(held)).scalar_one() == (await conn.execute(leased)).scalar_one() == 0
