"""Periodic jobs under a leader lock: the lock lasts as long as the job runs,
and a job whose lock is gone stops. Intervals are 50 ms of real time (the
runner sleeps between runs); the broker's own clock is moved by hand."""

from __future__ import annotations

import asyncio

from crowd.broker import InProcessBroker
from crowd.jobs import run_as_leader

INTERVAL = 0.05


async def test_the_leader_keeps_its_lock_for_as_long_as_its_job_runs() -> None:
    broker = InProcessBroker()
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def long_batch() -> None:  # a delivery batch waiting on slow endpoints
        started.set()
        await release.wait()
        finished.set()

    leader = asyncio.create_task(run_as_leader(broker, "webhooks", INTERVAL, long_batch))
    try:
        await started.wait()
        for _ in range(10):  # ten intervals, more than three times the lock's life
            await asyncio.sleep(INTERVAL)
            assert await broker.acquire_lock("job:webhooks", 1.0) is None
        release.set()
        await asyncio.wait_for(finished.wait(), 1.0)
    finally:
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)
    assert await broker.acquire_lock("job:webhooks", 1.0) is not None  # released on the way out


async def test_a_job_that_loses_its_lock_stops() -> None:
    now = [0.0]
    broker = InProcessBroker(clock=lambda: now[0])
    started = asyncio.Event()
    outcome: list[str] = []

    async def long_batch() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("stopped")
            raise

    leader = asyncio.create_task(run_as_leader(broker, "webhooks", INTERVAL, long_batch))
    try:
        await started.wait()
        now[0] += 3600  # the leader stalled: its lock ran out, and another process took it
        other = await broker.acquire_lock("job:webhooks", 3600)
        assert other is not None
        for _ in range(40):
            if outcome:
                break
            await asyncio.sleep(INTERVAL / 2)
        assert outcome == ["stopped"]
        assert not await broker.release_lock("job:webhooks", "someone else")
        assert await broker.extend_lock("job:webhooks", other, 3600)  # still the other's
    finally:
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)


async def test_a_leader_shut_down_mid_job_stops_the_job() -> None:
    broker = InProcessBroker()
    started = asyncio.Event()
    outcome: list[str] = []

    async def long_batch() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            outcome.append("stopped")
            raise

    leader = asyncio.create_task(run_as_leader(broker, "webhooks", INTERVAL, long_batch))
    await started.wait()
    leader.cancel()
    await asyncio.gather(leader, return_exceptions=True)
    assert outcome == ["stopped"]
    assert await broker.acquire_lock("job:webhooks", 1.0) is not None
