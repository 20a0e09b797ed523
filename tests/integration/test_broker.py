"""One contract suite over both brokers, plus the Redis-only failure modes.

Redis tests use ``CROWD_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
a random key prefix per test, and delete their own keys (the server is shared:
never FLUSHDB). Without a reachable Redis they skip, except under ``CI=true``
where they fail.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from crowd.assignment.signals import announce_work, organization_channel, project_channel
from crowd.broker import Broker, InProcessBroker, RedisBroker, open_broker
from crowd.errors import BrokerUnavailable
from crowd.ids import OrganizationId, ProjectId
from tests.support import private_services, services

REDIS_URL = os.environ.get("CROWD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Elapse = Callable[[float], Awaitable[None]]


class FakeMonotonic:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- Redis plumbing ---------------------------------------------------------


@asynccontextmanager
async def redis_admin() -> AsyncIterator[Redis]:
    """A plain client for inspection (CLIENT LIST/KILL) and cleanup. Skips the
    test when Redis is unreachable, unless CI must run it."""
    admin = Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        try:
            await admin.ping()
        except (RedisError, OSError) as exc:
            message = f"Redis at {REDIS_URL} unreachable: {exc!r}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        yield admin
    finally:
        await admin.aclose()


async def delete_keys(admin: Redis, prefix: str) -> None:
    keys = [key async for key in admin.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await admin.delete(*keys)


@asynccontextmanager
async def started_redis_broker(**options: Any) -> AsyncIterator[RedisBroker]:
    async with redis_admin() as admin:
        prefix = f"crowdtest:{uuid4().hex}:"
        broker = RedisBroker(REDIS_URL, prefix=prefix, **options)
        try:
            await broker.start()
            yield broker
        finally:
            await broker.close()
            await delete_keys(admin, prefix)


async def connections_named(admin: Redis, name: str) -> list[dict[str, Any]]:
    return [c for c in await admin.client_list() if c.get("name") == name]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


# --- fixtures ----------------------------------------------------------------


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture(params=["inprocess", "redis"])
async def broker(request: pytest.FixtureRequest, clock: FakeMonotonic) -> AsyncIterator[Broker]:
    if request.param == "inprocess":
        in_process = InProcessBroker(clock=clock)
        yield in_process
        await in_process.close()
        return
    async with started_redis_broker() as redis_broker:
        yield redis_broker


@pytest.fixture
def elapse(broker: Broker, clock: FakeMonotonic) -> Elapse:
    """Let ``seconds`` pass: on the fake clock in-process, for real on Redis
    (whose TTLs run on the server's clock); keep those waits short."""

    async def _elapse(seconds: float) -> None:
        if isinstance(broker, InProcessBroker):
            clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    return _elapse


# --- notifications -------------------------------------------------------------


async def test_publish_wakes_a_waiting_listener(broker: Broker) -> None:
    async with broker.listen(["work:1"]) as listener:
        waiting = asyncio.create_task(listener.wait(5.0))
        await asyncio.sleep(0)  # let it block
        started = time.monotonic()
        await broker.publish("work:1")
        assert await asyncio.wait_for(waiting, 2.0) is True
        assert time.monotonic() - started < 1.0


async def test_publish_between_listen_and_wait_is_not_lost(broker: Broker) -> None:
    async with broker.listen(["work:1"]) as listener:
        await broker.publish("work:1")
        assert await listener.wait(2.0) is True
        # the wake-up was consumed: nothing new, so the next wait times out
        assert await listener.wait(0.05) is False


async def test_other_channels_do_not_wake(broker: Broker) -> None:
    async with (
        broker.listen(["work:1"]) as quiet,
        broker.listen(["work:2"]) as witness,
    ):
        await broker.publish("work:2")
        assert await witness.wait(2.0) is True  # the publish was delivered...
        assert await quiet.wait(0) is False  # ...and not to work:1


async def test_every_listener_on_a_channel_wakes(broker: Broker) -> None:
    async with (
        broker.listen(["work:1"]) as first,
        broker.listen(["work:1"]) as second,
        broker.listen(["work:9", "work:1"]) as several,
    ):
        await broker.publish("work:1")
        woke = await asyncio.gather(*(w.wait(2.0) for w in (first, second, several)))
        assert woke == [True, True, True]


async def test_wait_times_out_with_false(broker: Broker) -> None:
    async with broker.listen(["work:1"]) as listener:
        started = time.monotonic()
        assert await listener.wait(0.05) is False
        assert time.monotonic() - started >= 0.04


async def test_many_listeners_share_one_pubsub_connection(broker: Broker) -> None:
    async with AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(broker.listen(["work:1"])) for _ in range(200)]
        waits = [asyncio.create_task(w.wait(5.0)) for w in listeners]
        await asyncio.sleep(0)
        await broker.publish("work:1")
        assert await asyncio.wait_for(asyncio.gather(*waits), 3.0) == [True] * 200
        assert isinstance(broker, InProcessBroker | RedisBroker)
        assert broker.listening == 200
        if isinstance(broker, RedisBroker):
            await assert_one_pubsub_connection(broker)
    assert broker.listening == 0


async def assert_one_pubsub_connection(broker: RedisBroker) -> None:
    async with redis_admin() as admin:
        clients = await admin.client_list()
    mine = [c for c in clients if c.get("name", "").startswith(broker.client_name)]
    subs = [c for c in mine if c["name"] == f"{broker.client_name}.sub"]
    assert len(subs) == 1
    assert int(subs[0]["psub"]) == 1
    # 200 waiting listeners cost no command connections either: one publish
    # needed one pooled connection.
    assert len(mine) == 2


# --- locks ---------------------------------------------------------------------


async def test_lock_is_mutually_exclusive(broker: Broker) -> None:
    tokens = await asyncio.gather(*(broker.acquire_lock("sweeper", 5.0) for _ in range(20)))
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1
    assert await broker.acquire_lock("sweeper", 5.0) is None
    assert await broker.acquire_lock("refit:7", 5.0) is not None  # other name


async def test_only_the_owner_extends_or_releases(broker: Broker) -> None:
    token = await broker.acquire_lock("sweeper", 5.0)
    assert token is not None
    assert await broker.extend_lock("sweeper", "not-the-token", 5.0) is False
    assert await broker.release_lock("sweeper", "not-the-token") is False
    assert await broker.acquire_lock("sweeper", 5.0) is None
    assert await broker.extend_lock("sweeper", token, 5.0) is True
    assert await broker.release_lock("sweeper", token) is True
    assert await broker.release_lock("sweeper", token) is False  # already gone
    again = await broker.acquire_lock("sweeper", 5.0)
    assert again is not None
    assert again != token


async def test_lock_expires_after_ttl(broker: Broker, elapse: Elapse) -> None:
    stale = await broker.acquire_lock("sweeper", 0.1)
    assert stale is not None
    await elapse(0.15)
    fresh = await broker.acquire_lock("sweeper", 5.0)
    assert fresh is not None
    assert await broker.extend_lock("sweeper", stale, 5.0) is False
    assert await broker.release_lock("sweeper", stale) is False
    assert await broker.release_lock("sweeper", fresh) is True


async def test_extend_pushes_expiry_back(broker: Broker, elapse: Elapse) -> None:
    token = await broker.acquire_lock("sweeper", 0.1)
    assert token is not None
    assert await broker.extend_lock("sweeper", token, 5.0) is True
    await elapse(0.15)
    assert await broker.acquire_lock("sweeper", 5.0) is None
    assert await broker.release_lock("sweeper", token) is True


# --- rate limits -----------------------------------------------------------------


async def test_rate_limit_allows_limit_then_denies_then_recovers(broker: Broker, elapse: Elapse) -> None:
    decisions = [await broker.hit("worker:1", 3, 0.3) for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in decisions] == [
        (True, 2),
        (True, 1),
        (True, 0),
    ]
    denied = await broker.hit("worker:1", 3, 0.3)
    assert (denied.allowed, denied.remaining) == (False, 0)
    assert 0 < denied.retry_after <= 0.3
    assert (await broker.hit("worker:2", 3, 0.3)).allowed  # keys are separate
    await elapse(denied.retry_after + 0.03)
    recovered = await broker.hit("worker:1", 3, 0.3)
    assert (recovered.allowed, recovered.remaining) == (True, 2)


async def test_a_hit_that_costs_nothing_asks_without_counting(broker: Broker, elapse: Elapse) -> None:
    for _ in range(5):
        asked = await broker.hit("fail:a", 2, 0.3, cost=0)
        assert (asked.allowed, asked.remaining) == (True, 2)
    assert (await broker.hit("fail:a", 2, 0.3)).remaining == 1
    assert (await broker.hit("fail:a", 2, 0.3, cost=0)).remaining == 1
    assert (await broker.hit("fail:a", 2, 0.3)).allowed
    asked = await broker.hit("fail:a", 2, 0.3, cost=0)
    assert not asked.allowed
    assert 0 < asked.retry_after <= 0.3
    await elapse(0.35)
    assert (await broker.hit("fail:a", 2, 0.3, cost=0)).allowed


async def test_zero_limit_denies_everything(broker: Broker) -> None:
    decision = await broker.hit("key:off", 0, 1.0)
    assert not decision.allowed
    assert 0 < decision.retry_after <= 1.0


# --- counters ---------------------------------------------------------------------


async def test_incr_is_atomic_under_concurrency(broker: Broker) -> None:
    values = await asyncio.gather(*(broker.incr("answers") for _ in range(100)))
    assert sorted(values) == list(range(1, 101))
    assert await broker.counter("answers") == 100
    assert await broker.incr("answers", 5) == 105
    assert await broker.counter("never-touched") == 0


# --- open_broker and Redis failure modes ------------------------------------------


async def test_open_broker_without_url_is_in_process() -> None:
    broker = await open_broker(None)
    assert isinstance(broker, InProcessBroker)
    await broker.ping()
    await broker.close()


async def test_open_broker_fails_fast_on_a_closed_port() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="ping failed: ConnectionError"):
        await open_broker(closed_port_url())
    assert time.monotonic() - started < 3.0


async def test_open_broker_asks_again_until_its_wait_is_over() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await open_broker(closed_port_url(), wait=1.0)
    assert 1.0 <= time.monotonic() - started < 4.0


@pytest.mark.redis
async def test_open_broker_waits_for_a_redis_that_starts_late() -> None:
    if (why := private_services.available()) is not None:
        services.unavailable("a private Redis", why)
    late = private_services.PrivateRedis()
    opening = asyncio.create_task(open_broker(late.url, prefix=f"crowdtest:{uuid4().hex}:", wait=20.0))
    try:
        await asyncio.sleep(0.5)
        assert not opening.done()
        await asyncio.to_thread(late.start)
        broker = await opening
        try:
            await broker.ping()
            async with broker.listen(["work:1"]) as listener:
                await broker.publish("work:1")
                assert await listener.wait(2.0) is True
        finally:
            await broker.close()
    finally:
        opening.cancel()  # nothing to cancel once it has opened
        await asyncio.gather(opening, return_exceptions=True)
        late.stop()


async def test_commands_raise_broker_unavailable_but_wait_times_out() -> None:
    broker = RedisBroker(closed_port_url())
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            broker.ping,
            lambda: broker.publish("work:1"),
            lambda: broker.acquire_lock("sweeper", 1.0),
            lambda: broker.extend_lock("sweeper", "t", 1.0),
            lambda: broker.release_lock("sweeper", "t"),
            lambda: broker.hit("worker:1", 3, 1.0),
            lambda: broker.incr("answers"),
            lambda: broker.counter("answers"),
        ]
        for call in calls:
            with pytest.raises(BrokerUnavailable):
                await call()
        async with broker.listen(["work:1"]) as listener:
            assert await listener.wait(0.05) is False
    finally:
        await broker.close()


async def test_listener_outlives_a_killed_pubsub_connection() -> None:
    async with (
        started_redis_broker(backoff=(0.5, 1.0)) as broker,
        redis_admin() as admin,
    ):
        sub_name = f"{broker.client_name}.sub"
        [killed] = await connections_named(admin, sub_name)
        async with broker.listen(["work:1"]) as listener:
            await admin.client_kill_filter(_id=killed["id"])
            assert await listener.wait(0.1) is False  # no raise, just a timeout
            await broker.publish("work:1")  # sent while nobody is subscribed
            # the reader reconnects and wakes everyone: nothing is lost
            assert await listener.wait(5.0) is True
        await eventually(lambda: broker.subscriptions == 2)
        [revived] = await connections_named(admin, sub_name)
        assert revived["id"] != killed["id"]
        async with broker.listen(["work:1"]) as later:
            await broker.publish("work:1")
            assert await later.wait(2.0) is True


async def test_idle_pubsub_connection_is_kept_alive_by_pings() -> None:
    async with started_redis_broker(keepalive=0.05) as broker:
        await asyncio.sleep(0.3)  # six keepalive periods without traffic
        assert broker.subscriptions == 1
        async with broker.listen(["work:1"]) as listener:
            await broker.publish("work:1")
            assert await listener.wait(2.0) is True


async def test_work_wakes_only_its_own_organizations_long_polls(broker: Broker) -> None:
    """A worker that waits for any project listens on its organization's
    channel: work announced in another organization's project never wakes it."""
    acme, evil = OrganizationId("org_acme"), OrganizationId("org_evil")
    async with (
        broker.listen([organization_channel(evil)]) as evils,
        broker.listen([organization_channel(acme)]) as acmes,
        broker.listen([project_channel(ProjectId("prj_a"))]) as projects,
    ):
        await announce_work(broker, acme, ProjectId("prj_a"))
        assert await acmes.wait(2.0) is True
        assert await projects.wait(2.0) is True
        assert await evils.wait(0.05) is False
