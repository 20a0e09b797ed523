"""Periodic jobs that one server process at a time should run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from crowd.broker import Broker
from crowd.errors import BrokerUnavailable, ServiceUnavailable

log = logging.getLogger(__name__)


async def run_as_leader(broker: Broker, name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Every ``interval`` seconds, run ``job`` if this process holds the
    ``name`` lock. The lock lives three intervals, so a dead leader's job
    moves to another process within that time; while a job runs, however
    long, the lock is renewed every interval, and a job whose lock is lost
    (renewal refused, or the broker gone) is cancelled, so two processes
    never run it at once. Without a broker there is no leader: jobs pause
    (claims still count expiry live)."""
    token: str | None = None
    ttl = interval * 3
    try:
        while True:
            token = await _keep_lock(broker, name, token, ttl)
            if token is not None:
                token = await _run_holding(broker, name, token, ttl, job)
            await asyncio.sleep(interval)
    finally:
        if token is not None:
            await asyncio.shield(_release(broker, name, token))


async def _run_holding(
    broker: Broker, name: str, token: str, ttl: float, job: Callable[[], Awaitable[object]]
) -> str | None:
    """Run ``job`` while renewing the lock every third of its life; the
    token, or None when the lock was lost and the job stopped."""
    work = asyncio.ensure_future(_run(job, name))
    try:
        while not (await asyncio.wait({work}, timeout=ttl / 3))[0]:
            if not await _extend(broker, name, token, ttl):
                log.warning("periodic job stopped: its lock was lost", extra={"job": name})
                return None
        return token
    finally:
        if not work.done():
            work.cancel()
        await asyncio.gather(work, return_exceptions=True)


async def every(interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` every ``interval`` seconds in this process, logging failures."""
    while True:
        await asyncio.sleep(interval)
        await _run(job, "every")


async def _run(job: Callable[[], Awaitable[object]], name: str) -> None:
    try:
        await job()
    except ServiceUnavailable as exc:
        log.warning("periodic job skipped", extra={"job": name, "reason": exc.detail})
    except Exception:
        log.exception("periodic job failed", extra={"job": name})


async def _keep_lock(broker: Broker, name: str, token: str | None, ttl: float) -> str | None:
    try:
        if token is not None and await broker.extend_lock(f"job:{name}", token, ttl):
            return token
        return await broker.acquire_lock(f"job:{name}", ttl)
    except BrokerUnavailable:
        return None


async def _extend(broker: Broker, name: str, token: str, ttl: float) -> bool:
    try:
        return await broker.extend_lock(f"job:{name}", token, ttl)
    except BrokerUnavailable:
        return False  # another process may hold it by now: stop rather than run twice


async def _release(broker: Broker, name: str, token: str) -> None:
    with contextlib.suppress(BrokerUnavailable):
        await broker.release_lock(f"job:{name}", token)
