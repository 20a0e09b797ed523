"""Bounded requests: each endpoint takes bodies up to its own limit, refused
before they are read; a large body is parsed without stopping the event loop;
failed authentication is rate limited per client address."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import Any

from crowd.api.bodies import SMALL_BODY_BYTES, WORKER_BODY_BYTES
from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from tests.support.crowd import Crowd, served


def assert_too_large(reply: Any) -> None:
    assert reply.status == 413, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.body["type"] == "payload-too-large"


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON with whitespace up to ``size`` bytes (still valid)."""
    raw = json.dumps(body).encode()
    return raw[:-1] + b" " * (size - len(raw)) + raw[-1:]


async def chunked(raw: bytes) -> Any:
    """The body sent in pieces, without a Content-Length."""

    async def pieces() -> Any:
        for start in range(0, len(raw), 8192):
            yield raw[start : start + 8192]

    return pieces()


async def test_worker_endpoints_take_at_most_64_kib(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    base = f"/api/v1/work/assignments/{lease['assignment_id']}"
    for action, body in (("answer", {"label": "cat"}), ("report", {"reason": "unclear"}), ("skip", {})):
        raw = padded(body, WORKER_BODY_BYTES + 1)
        assert_too_large(await crowd.call("POST", f"{base}/{action}", worker, raw=raw))
    for action, body in (("answer", {"label": "cat"}), ("report", {"reason": "unclear"})):
        # no Content-Length: counted as it is read (a skip reads no body: one sent along is discarded)
        streamed = await crowd.client.post(
            f"{base}/{action}",
            data=await chunked(padded(body, WORKER_BODY_BYTES + 1)),
            headers={"Authorization": f"Bearer {worker}", "Content-Type": "application/json"},
        )
        assert (streamed.status, (await streamed.json()).get("type")) == (413, "payload-too-large")
    reply = await crowd.call("POST", f"{base}/answer", worker, raw=padded({"label": "cat"}, WORKER_BODY_BYTES))
    assert reply.status == 200, reply.text  # exactly at the limit is fine


async def test_other_endpoints_take_a_small_body_and_bulk_uploads_a_large_one(crowd: Crowd) -> None:
    project = {"name": "Pets", "labels": ["cat", "dog"]}
    assert_too_large(
        await crowd.call("POST", "/api/v1/projects", crowd.platform, raw=padded(project, SMALL_BODY_BYTES + 1))
    )
    pid = (await crowd.ok("POST", "/api/v1/projects", crowd.platform, raw=padded(project, SMALL_BODY_BYTES)))["id"]
    rows = {"tasks": [{"external_id": "t-1", "data": {"text": "x" * (3 * SMALL_BODY_BYTES)}}]}
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, rows)).status == 201
    gold = {"tasks": [{"external_id": "g-1", "data": {"text": "x" * (3 * SMALL_BODY_BYTES)}, "label": "cat"}]}
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, gold)).status == 201
    hook = {"url": "https://example.com/" + "x" * SMALL_BODY_BYTES, "events": ["task.completed"]}
    assert_too_large(await crowd.call("POST", f"/api/v1/projects/{pid}/webhooks", crowd.platform, hook))


async def test_the_bulk_limit_is_crowd_max_body_bytes(settings: Settings, clock: ManualClock) -> None:
    async with served(create_app(settings.model_copy(update={"max_body_bytes": 1024 * 1024}), clock=clock)) as client:
        crowd = await Crowd.start(client, clock)
        pid = (await crowd.new_project())["id"]
        rows = {"tasks": [{"data": {"text": "x" * 1024 * 1024}}]}
        assert_too_large(await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, rows))


async def test_a_body_over_the_limit_is_refused_before_it_is_read(crowd: Crowd) -> None:
    """Content-Length says 1 GiB and only a few bytes follow: the 413 comes
    at once, it does not wait for the rest."""
    port = crowd.client.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/work/assignments/asg_x/answer HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def big_batch(size: int) -> bytes:
    """A batch of 10,000 tasks of about ``size`` bytes in all."""
    text = "lorem ipsum " * max(1, (size // 10_000 - 120) // 12)
    tasks = [
        {"external_id": f"t-{i}", "data": {"text": text, "n": i, "tags": ["a", {"k": [1, 2]}]}} for i in range(10_000)
    ]
    return json.dumps({"tasks": tasks}).encode()


async def test_the_event_loop_keeps_serving_while_a_16_mib_batch_is_parsed(crowd: Crowd) -> None:
    """A probe task sleeps 5 ms over and over while the batch is posted, and
    notes how late it wakes: the longest stretch the loop was held. /healthz
    is asked every 20 ms meanwhile. (The client and the server share the
    loop here, as they share nothing else.)"""
    pid = (await crowd.new_project())["id"]
    raw = big_batch(16 * 1024 * 1024 - 64 * 1024)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    health: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    async def healthz() -> None:
        before = loop.time()
        assert (await crowd.call("GET", "/healthz")).status == 200
        health.append(loop.time() - before)

    async def ask_for_health() -> None:
        asks = []
        while not done.is_set():
            asks.append(asyncio.create_task(healthz()))
            await asyncio.sleep(0.02)
        await asyncio.gather(*asks)

    gc.freeze()  # as `crowd serve` does once started: collections skip what the server was made of
    try:
        watchers = [asyncio.create_task(probe()), asyncio.create_task(ask_for_health())]
        started = time.perf_counter()
        reply = await crowd.call("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, raw=raw)
        took = time.perf_counter() - started
        done.set()
        await asyncio.gather(*watchers)
    finally:
        gc.unfreeze()
    assert reply.status == 201, reply.text
    print(
        f"\n{len(raw) / 2**20:.1f} MiB batch in {took:.2f} s: loop held at most {max(lags) * 1000:.0f} ms "
        f"(p99 {sorted(lags)[int(len(lags) * 0.99)] * 1000:.0f} ms, {len(lags)} probes), "
        f"/healthz at most {max(health) * 1000:.0f} ms ({len(health)} asked)"
    )
    # Generous, and relative: the machine may be slow, but no single stretch
    # may hold the loop for a fifth of the request (in one go, parsing did).
    assert max(lags) < max(0.25, took / 5)
    assert len(health) >= took / 0.05


GUESS = "crowd_wt_" + "x" * 43


async def test_failed_authentication_is_limited_per_client_address(settings: Settings, clock: ManualClock) -> None:
    limited = settings.model_copy(update={"auth_failure_limit": 3, "auth_failure_window_seconds": 60})
    async with served(create_app(limited, clock=clock)) as client:
        crowd = await Crowd.start(client, clock)
        worker = await crowd.new_worker()  # the operator key is known to the process from here on
        statuses = [(await crowd.call("GET", "/api/v1/work/me", GUESS)).status for _ in range(3)]
        assert statuses == [401] * 3
        refused = await crowd.call("GET", "/api/v1/work/me", GUESS)
        assert (refused.status, refused.body["type"]) == (429, "rate-limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert (await crowd.call("GET", "/api/v1/work/me")).status == 429  # no credentials at all: the same
        # Guessing gets nowhere: even a valid token this process has not just
        # seen is refused before it is looked up...
        assert (await crowd.call("GET", "/api/v1/work/me", worker)).status == 429
        # ...while a key it knows keeps working from the same address.
        assert (await crowd.call("GET", "/api/v1/projects", crowd.operator)).status == 200
        # X-Forwarded-For is anyone's to send: without trusted proxies it changes nothing.
        spoofed = {"X-Forwarded-For": "198.51.100.1"}
        assert (await crowd.call("GET", "/api/v1/work/me", GUESS, headers=spoofed)).status == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(settings: Settings, clock: ManualClock) -> None:
    behind = settings.model_copy(
        update={"auth_failure_limit": 2, "auth_failure_window_seconds": 60, "trusted_proxies": "127.0.0.1"}
    )
    async with served(create_app(behind, clock=clock)) as client:
        crowd = await Crowd.start(client, clock)

        async def guess(chain: str) -> int:
            return (await crowd.call("GET", "/api/v1/work/me", GUESS, headers={"X-Forwarded-For": chain})).status

        assert [await guess("198.51.100.1") for _ in range(3)] == [401, 401, 429]
        assert await guess("198.51.100.2") == 401  # another client behind the same proxy
        # the client cannot pick its own address: the proxy appends the one it saw
        assert await guess("198.51.100.2, 198.51.100.1") == 429
        assert (await crowd.call("GET", "/api/v1/work/me", GUESS)).status == 401  # the proxy itself, unforwarded
