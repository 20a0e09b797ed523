"""The background sweeper releases expired leases, and only one process at
a time runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.assignment.service import Engine, sweep_expired
from crowd.broker import InProcessBroker
from crowd.db.schema import assignments, tasks
from crowd.jobs import run_as_leader
from tests.support.crowd import Crowd


async def test_the_sweeper_releases_overdue_leases(crowd: Crowd) -> None:
    app = crowd.client.server.app
    assert app is not None
    engine = Engine(app[DATABASE], app[BROKER], app[CLOCK])
    pid = (await crowd.new_project(min_overlap=1, lease_seconds=60))["id"]
    await crowd.submit(pid, 3)
    workers = await crowd.new_workers("a", "b", "c")
    leases = [await crowd.next(worker, pid) for worker in workers]
    assert all(leases)
    assert await sweep_expired(engine) == 0  # nothing is due yet

    crowd.clock.advance(61)
    async with app[BROKER].listen([f"work:{pid}"]) as listener:
        assert await sweep_expired(engine, batch=2) == 1
        assert await listener.wait(1.0)
    async with app[DATABASE].read() as conn:
        statuses = set((await conn.execute(select(assignments.c.status))).scalars())
        held = set((await conn.execute(select(tasks.c.lease_count))).scalars())
    assert statuses == {"expired"}
    assert held == {0}


async def test_only_one_process_leads_a_job() -> None:
    broker = InProcessBroker()
    runs: list[str] = []

    def job_of(name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            runs.append(name)

        return job

    leaders = [asyncio.create_task(run_as_leader(broker, "sweeper", 0.05, job_of(n))) for n in ("one", "two")]
    await asyncio.sleep(0.5)
    for task in leaders:
        task.cancel()
    await asyncio.gather(*leaders, return_exceptions=True)
    assert len(runs) >= 5
    assert len(set(runs)) == 1
    await broker.close()
