"""The broker port: cross-process wake-ups, leader locks, rate limits and hot
counters, behind one :class:`Broker` Protocol with two real implementations.

* :class:`InProcessBroker` serves the embedded single-process mode with plain
  asyncio primitives and an injectable monotonic clock.
* :class:`RedisBroker` serves any number of processes sharing one Redis.

Both are run by the same contract suite (``tests/integration/test_broker.py``).

Notifications are payload-free: ``publish("work:<project_id>")`` only says
"something may have changed, look again". A listener may therefore wake
spuriously (the Redis reader wakes every listener after it reconnects, since
messages sent while it was away are lost), but a publish made after the
listener was opened is never silently dropped while the broker is healthy.

Degrading is the caller's choice: every command raises
:class:`~crowd.errors.BrokerUnavailable` when Redis cannot be reached, except
:meth:`Listener.wait`, which never touches Redis and simply times out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from crowd.errors import BrokerUnavailable, describe

log = logging.getLogger(__name__)

__all__ = [
    "Broker",
    "InProcessBroker",
    "Listener",
    "RateDecision",
    "RedisBroker",
    "RedisKeys",
    "open_broker",
]


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after: float
    """Seconds until the window resets; 0.0 when allowed."""


class Listener(Protocol):
    async def wait(self, timeout: float) -> bool:
        """True as soon as one of the listener's channels was published since it
        was opened (or since the last wait that returned True); False on timeout."""
        ...


class Broker(Protocol):
    async def ping(self) -> None: ...
    async def publish(self, channel: str) -> None: ...
    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[Listener]: ...
    async def acquire_lock(self, name: str, ttl: float) -> str | None: ...
    async def extend_lock(self, name: str, token: str, ttl: float) -> bool: ...
    async def release_lock(self, name: str, token: str) -> bool: ...
    async def hit(self, key: str, limit: int, window: float) -> RateDecision: ...
    async def incr(self, key: str, amount: int = 1) -> int: ...
    async def counter(self, key: str) -> int: ...
    async def close(self) -> None: ...


# --- local fan-out, shared by both implementations -------------------------


class _Waiter:
    """One open listener: a sticky flag that publishes set and ``wait`` consumes."""

    def __init__(self, channels: frozenset[str]) -> None:
        self.channels = channels
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, timeout: float) -> bool:
        if not self._woken.is_set():
            try:
                async with asyncio.timeout(max(timeout, 0.0)):
                    await self._woken.wait()
            except TimeoutError:
                return False
        self._woken.clear()
        return True


class _Fanout:
    """Routes a channel name to the waiters currently listening on it."""

    def __init__(self) -> None:
        self._by_channel: defaultdict[str, set[_Waiter]] = defaultdict(set)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @asynccontextmanager
    async def listen(self, channels: Sequence[str]) -> AsyncIterator[Listener]:
        if isinstance(channels, str):
            raise TypeError("listen() takes a sequence of channel names, not a str")
        waiter = _Waiter(frozenset(channels))
        self._add(waiter)
        try:
            yield waiter
        finally:
            self._remove(waiter)

    def notify(self, channel: str) -> None:
        for waiter in self._by_channel.get(channel, ()):
            waiter.wake()

    def notify_all(self) -> None:
        for waiters in self._by_channel.values():
            for waiter in waiters:
                waiter.wake()

    def _add(self, waiter: _Waiter) -> None:
        for channel in waiter.channels:
            self._by_channel[channel].add(waiter)
        self._count += 1

    def _remove(self, waiter: _Waiter) -> None:
        for channel in waiter.channels:
            waiters = self._by_channel[channel]
            waiters.discard(waiter)
            if not waiters:
                del self._by_channel[channel]
        self._count -= 1


def _require_positive(what: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{what} must be positive, got {value!r}")


def _new_token() -> str:
    return secrets.token_hex(16)


# --- in-process ------------------------------------------------------------


@dataclass(slots=True)
class _Window:
    ends_at: float
    hits: int


class InProcessBroker:
    """The broker of a single process. Nothing here awaits between reading and
    writing its state, so every operation is atomic under asyncio."""

    _SWEEP_EVERY = 1024

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._fanout = _Fanout()
        self._locks: dict[str, tuple[str, float]] = {}
        self._windows: dict[str, _Window] = {}
        self._counters: dict[str, int] = {}
        self._hits_since_sweep = 0

    @property
    def listening(self) -> int:
        """How many listeners are open."""
        return len(self._fanout)

    async def ping(self) -> None:
        return None

    async def publish(self, channel: str) -> None:
        self._fanout.notify(channel)

    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[Listener]:
        return self._fanout.listen(channels)

    async def acquire_lock(self, name: str, ttl: float) -> str | None:
        _require_positive("ttl", ttl)
        if self._holder(name) is not None:
            return None
        token = _new_token()
        self._locks[name] = (token, self._clock() + ttl)
        return token

    async def extend_lock(self, name: str, token: str, ttl: float) -> bool:
        _require_positive("ttl", ttl)
        if self._holder(name) != token:
            return False
        self._locks[name] = (token, self._clock() + ttl)
        return True

    async def release_lock(self, name: str, token: str) -> bool:
        if self._holder(name) != token:
            return False
        del self._locks[name]
        return True

    def _holder(self, name: str) -> str | None:
        """The live owner token of ``name``; an expired lock is dropped."""
        held = self._locks.get(name)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._locks[name]
            return None
        return held[0]

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        _require_positive("window", window)
        now = self._clock()
        self._maybe_sweep(now)
        current = self._windows.get(key)
        if current is None or current.ends_at <= now:
            current = self._windows[key] = _Window(ends_at=now + window, hits=0)
        if current.hits >= limit:
            return RateDecision(False, 0, current.ends_at - now)
        current.hits += 1
        return RateDecision(True, limit - current.hits, 0.0)

    def _maybe_sweep(self, now: float) -> None:
        """Forget finished windows now and then, so idle keys do not pile up."""
        self._hits_since_sweep += 1
        if self._hits_since_sweep < self._SWEEP_EVERY:
            return
        self._hits_since_sweep = 0
        done = [key for key, w in self._windows.items() if w.ends_at <= now]
        for key in done:
            del self._windows[key]

    async def incr(self, key: str, amount: int = 1) -> int:
        value = self._counters.get(key, 0) + amount
        self._counters[key] = value
        return value

    async def counter(self, key: str) -> int:
        return self._counters.get(key, 0)

    async def close(self) -> None:
        return None


# --- Redis -----------------------------------------------------------------

_GLOB_SPECIALS = "\\*?[]^"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Every Redis key and channel the broker uses, built from one prefix.

    ==========================  =================================================
    ``{prefix}ch:{channel}``    pub/sub channel; ``publish`` sends an empty
                                message, the reader PSUBSCRIBEs ``{prefix}ch:*``
    ``{prefix}lock:{name}``     string: the owner token; ``PX`` = lock ttl
    ``{prefix}rate:{key}``      integer: hits in the current fixed window;
                                ``PX`` = time left in the window
    ``{prefix}count:{key}``     integer: hot counter, no expiry
    ==========================  =================================================

    Each operation touches one key, so keys carrying a ``{project}`` hash tag
    stay valid under Redis Cluster.
    """

    prefix: str

    def channel(self, name: str) -> str:
        return f"{self.prefix}ch:{name}"

    @property
    def channel_pattern(self) -> str:
        escaped = "".join(f"\\{c}" if c in _GLOB_SPECIALS else c for c in self.prefix)
        return f"{escaped}ch:*"

    def channel_name(self, raw: bytes) -> str | None:
        """The broker channel name of a Redis channel, or None if not ours."""
        full = raw.decode("utf-8", errors="replace")
        head = self.channel("")
        return full[len(head) :] if full.startswith(head) else None

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def rate(self, key: str) -> str:
        return f"{self.prefix}rate:{key}"

    def counter(self, key: str) -> str:
        return f"{self.prefix}count:{key}"


# KEYS[1] lock key; ARGV[1] token; ARGV[2] ttl ms. 1 if the token owned it.
_EXTEND_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token. 1 if the token owned it and it is gone now.
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] window key; ARGV[1] limit; ARGV[2] window ms.
# Returns {allowed 0/1, remaining, retry_after ms}. A denied hit is not counted.
_RATE_HIT = """
local limit = tonumber(ARGV[1])
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits >= limit then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    left = tonumber(ARGV[2])
    if hits > 0 then redis.call('PEXPIRE', KEYS[1], left) end
  end
  return {0, 0, math.max(left, 1)}
end
hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, limit - hits, 0}
"""

_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


@contextmanager
def _unavailable(operation: str) -> Iterator[None]:
    """Turn "cannot reach Redis" into the domain's BrokerUnavailable."""
    try:
        yield
    except _DOWN_ERRORS as exc:
        raise BrokerUnavailable(f"broker {operation} failed: {describe(exc)}") from exc


def _jittered(low: float, high: float) -> Iterator[float]:
    """Delays doubling from ``low`` up to ``high``, each cut by up to half at random."""
    delay = low
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(delay * 2, high)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _default_client_name() -> str:
    return f"crowd-{os.getpid()}-{secrets.token_hex(3)}"


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it, without swallowing our own cancellation."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


class RedisBroker:
    """The broker of many processes sharing one Redis.

    Commands go through a bounded pool with short timeouts, so a dead Redis
    fails fast (a refused connection at once, a silent host within the
    timeouts). The connect timeout is no shorter than the operation's: a
    burst that opens the pool's connections at once on a busy process can
    take over a second to get them (seen in the tests on a loaded machine,
    at 1 s). Notifications arrive on ONE pub/sub connection per broker,
    read by a background task that fans them out to local listeners; the
    task reconnects by itself with jittered exponential backoff, pings an idle
    connection every ``keepalive`` seconds and drops it after two silent ones.
    Its connections are named ``{client_name}.cmd`` and ``{client_name}.sub``
    in ``CLIENT LIST``.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "crowd:",
        client_name: str | None = None,
        connect_timeout: float = 2.0,
        op_timeout: float = 2.0,
        max_connections: int = 32,
        keepalive: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self.keys = RedisKeys(prefix)
        self.client_name = client_name or _default_client_name()
        self._ready_timeout = connect_timeout + op_timeout
        self._keepalive = keepalive
        self._backoff = backoff
        common: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": op_timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._cmd_pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=op_timeout,
            client_name=f"{self.client_name}.cmd",
            **common,
        )
        self._sub_pool = ConnectionPool.from_url(
            url,
            max_connections=1,
            socket_keepalive=True,
            client_name=f"{self.client_name}.sub",
            **common,
        )
        self._redis = Redis(connection_pool=self._cmd_pool)
        self._sub_redis = Redis(connection_pool=self._sub_pool)
        self._extend_script = self._redis.register_script(_EXTEND_LOCK)
        self._release_script = self._redis.register_script(_RELEASE_LOCK)
        self._hit_script = self._redis.register_script(_RATE_HIT)
        self._fanout = _Fanout()
        self._subscribed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.subscriptions = 0
        """How many times the reader has (re)subscribed; more than 1 means reconnects."""

    @property
    def listening(self) -> int:
        """How many listeners are open."""
        return len(self._fanout)

    async def start(self, wait: float = 0.0) -> None:
        """Check Redis answers, then start the pub/sub reader and wait until it
        is subscribed. A Redis that does not answer is asked again, with
        jittered backoff, for up to ``wait`` seconds (a process starting beside
        a Redis that is still starting or restarting); after that, or if the
        subscription does not follow, raises BrokerUnavailable."""
        deadline = time.monotonic() + wait
        await self._ping_until(deadline)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="crowd-broker-reader")
        if not await self.wait_subscribed(max(self._ready_timeout, deadline - time.monotonic())):
            raise BrokerUnavailable("broker subscribe timed out")

    async def _ping_until(self, deadline: float) -> None:
        """Ping until Redis answers; the last BrokerUnavailable once the
        monotonic ``deadline`` has passed."""
        delays = _jittered(*self._backoff)
        while True:
            try:
                return await self.ping()
            except BrokerUnavailable as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                log.warning("%s; asking again for up to %.0f s", exc, left)
                await asyncio.sleep(min(left, next(delays)))

    async def wait_subscribed(self, timeout: float) -> bool:
        """True once the reader holds a live subscription, False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._subscribed.wait()
        except TimeoutError:
            return False
        return True

    async def ping(self) -> None:
        with _unavailable("ping"):
            await self._redis.ping()

    async def publish(self, channel: str) -> None:
        with _unavailable("publish"):
            await self._redis.publish(self.keys.channel(channel), b"")

    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[Listener]:
        return self._fanout.listen(channels)

    async def acquire_lock(self, name: str, ttl: float) -> str | None:
        _require_positive("ttl", ttl)
        token = _new_token()
        with _unavailable("lock"):
            won = await self._redis.set(self.keys.lock(name), token, nx=True, px=_ms(ttl))
        return token if won else None

    async def extend_lock(self, name: str, token: str, ttl: float) -> bool:
        _require_positive("ttl", ttl)
        with _unavailable("lock"):
            done = await self._extend_script(keys=[self.keys.lock(name)], args=[token, _ms(ttl)])
        return bool(done)

    async def release_lock(self, name: str, token: str) -> bool:
        with _unavailable("lock"):
            done = await self._release_script(keys=[self.keys.lock(name)], args=[token])
        return bool(done)

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        _require_positive("window", window)
        with _unavailable("rate limit"):
            allowed, remaining, left_ms = await self._hit_script(keys=[self.keys.rate(key)], args=[limit, _ms(window)])
        return RateDecision(bool(allowed), int(remaining), int(left_ms) / 1000)

    async def incr(self, key: str, amount: int = 1) -> int:
        with _unavailable("incr"):
            return int(await self._redis.incrby(self.keys.counter(key), amount))

    async def counter(self, key: str) -> int:
        with _unavailable("counter"):
            value = await self._redis.get(self.keys.counter(key))
        return int(value) if value is not None else 0

    async def close(self) -> None:
        if self._reader is not None:
            await _stop(self._reader)
            self._reader = None
        self._subscribed.clear()
        await self._sub_redis.aclose()
        await self._redis.aclose()
        await self._sub_pool.aclose()
        await self._cmd_pool.aclose()

    # --- the pub/sub reader ---

    async def _read_forever(self) -> None:
        delays = _jittered(*self._backoff)
        while True:
            try:
                await self._read_session()
            except Exception as exc:
                _log_reader_failure(exc)
            if self._subscribed.is_set():  # it had been working: start low again
                delays = _jittered(*self._backoff)
            self._subscribed.clear()
            await asyncio.sleep(next(delays))

    async def _read_session(self) -> None:
        pubsub = self._sub_redis.pubsub()
        try:
            await pubsub.psubscribe(self.keys.channel_pattern)
            await self._pump(pubsub)
        finally:
            await pubsub.aclose()

    async def _pump(self, pubsub: PubSub) -> None:
        """Dispatch messages until the connection fails or falls silent."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self._keepalive)
            if message is not None:
                last_heard = loop.time()
                self._dispatch(message)
            elif loop.time() - last_heard > 2 * self._keepalive:
                raise RedisTimeoutError("pub/sub connection went silent")
            else:
                await pubsub.ping()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pmessage":
            name = self.keys.channel_name(message["channel"])
            if name is not None:
                self._fanout.notify(name)
        elif kind == "psubscribe":
            # Anything published while we were not subscribed is lost: wake
            # every listener so that each looks again.
            self._fanout.notify_all()
            self.subscriptions += 1
            self._subscribed.set()


def _log_reader_failure(exc: Exception) -> None:
    if isinstance(exc, _DOWN_ERRORS):
        log.warning("broker pub/sub connection lost: %s; reconnecting", exc)
    else:
        log.exception("broker pub/sub reader failed; reconnecting", exc_info=exc)


async def open_broker(redis_url: str | None, *, prefix: str = "crowd:", wait: float = 0.0) -> Broker:
    """The in-process broker when ``redis_url`` is None, else a started
    RedisBroker. Raises BrokerUnavailable if Redis cannot be reached within
    ``wait`` seconds."""
    if redis_url is None:
        return InProcessBroker()
    broker = RedisBroker(redis_url, prefix=prefix)
    try:
        await broker.start(wait)
    except BaseException:
        await broker.close()
        raise
    return broker
