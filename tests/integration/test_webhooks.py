"""The outbox, the event feed and signed webhook deliveries with retries."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crowd.api.keys import CLOCK, DATABASE, SEALER
from crowd.app import create_app
from crowd.config import Settings
from crowd.outbound import sender
from crowd.webhooks.policy import SIGNATURE_HEADER, verify
from crowd.webhooks.service import Delivery, deliver_due
from tests.support.crowd import Crowd, served


@dataclass
class Receiver:
    """A platform's webhook endpoint: fails the first ``failures`` calls."""

    failures: int = 0
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.failures:
            return web.Response(status=500)
        return web.Response(status=204)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    async with TestServer(app) as server:
        yield target, str(server.make_url("/hook"))


def delivery(crowd: Crowd, session: aiohttp.ClientSession) -> Delivery:
    app = crowd.client.server.app
    assert app is not None
    return Delivery(app[DATABASE], sender(session), app[SEALER], app[CLOCK], random.Random(3), True, 5.0)


async def finish_a_batch(crowd: Crowd, pid: str, n: int) -> None:
    await crowd.submit(pid, n)
    for worker in await crowd.new_workers("a", "b"):
        while (lease := await crowd.next(worker, pid)) is not None:
            await crowd.answer(worker, lease["assignment_id"], "cat")


async def test_completed_tasks_reach_the_feed_and_signed_webhooks(crowd: Crowd, receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    pid = (await crowd.new_project(min_overlap=2))["id"]
    created = await crowd.call(
        "POST",
        f"/api/v1/projects/{pid}/webhooks",
        crowd.platform,
        {"url": url, "events": ["task.completed", "batch.completed"], "secret": "s" * 24},
    )
    assert created.status == 201, created.text
    assert created.body["secret"] == "s" * 24
    await finish_a_batch(crowd, pid, 3)

    feed = await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.platform)
    assert [e["type"] for e in feed["items"]] == ["task.completed"] * 3 + ["batch.completed"]
    assert feed["items"][0]["data"]["label"] == "cat"
    later = await crowd.ok("GET", f"/api/v1/projects/{pid}/events?after={feed['items'][1]['cursor']}", crowd.platform)
    assert later["items"] == feed["items"][2:]

    async with aiohttp.ClientSession() as session:
        assert await deliver_due(delivery(crowd, session)) == 4
        assert await deliver_due(delivery(crowd, session)) == 0  # delivered once
    assert [e["id"] for e in target.events()] == [e["id"] for e in feed["items"]]
    now = int(crowd.clock.now().timestamp())
    for headers, body in target.calls:
        assert verify("s" * 24, headers[SIGNATURE_HEADER], body, now)
        assert not verify("wrong secret" * 2, headers[SIGNATURE_HEADER], body, now)
        assert not verify("s" * 24, headers[SIGNATURE_HEADER], body + b" ", now)
        assert headers["Crowd-Event-Type"] == json.loads(body)["type"]


async def test_a_webhook_gets_only_the_event_types_it_subscribed_to(
    crowd: Crowd, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    pid = (await crowd.new_project(min_overlap=2))["id"]
    body = {"url": url, "events": ["batch.completed"], "secret": "s" * 24}
    assert (await crowd.call("POST", f"/api/v1/projects/{pid}/webhooks", crowd.platform, body)).status == 201
    await finish_a_batch(crowd, pid, 3)
    async with aiohttp.ClientSession() as session:
        assert await deliver_due(delivery(crowd, session)) == 1  # three task.completed were not queued
    assert [json.loads(body)["type"] for _, body in target.calls] == ["batch.completed"]


async def test_failed_deliveries_are_retried_with_backoff(crowd: Crowd, receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    target.failures = 2
    pid = (await crowd.new_project(min_overlap=2))["id"]
    hook = await crowd.ok(
        "POST", f"/api/v1/projects/{pid}/webhooks", crowd.platform, {"url": url, "events": ["batch.completed"]}
    )
    assert len(hook["secret"]) >= 32  # made up when none was given
    await finish_a_batch(crowd, pid, 1)
    async with aiohttp.ClientSession() as session:
        assert await deliver_due(delivery(crowd, session)) == 0
        assert await deliver_due(delivery(crowd, session)) == 0  # not due yet: it waits
        crowd.clock.advance(11)
        assert await deliver_due(delivery(crowd, session)) == 0
        crowd.clock.advance(21)
        assert await deliver_due(delivery(crowd, session)) == 1
    assert len(target.calls) == 3
    assert len({json.loads(body)["id"] for _, body in target.calls}) == 1  # the same event each time
    log = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks/{hook['id']}/deliveries", crowd.platform)
    assert [a["status_code"] for a in log["items"]] == [204, 500, 500]
    assert log["webhook"]["failures"] == 0


async def test_an_endpoint_failing_for_a_day_is_disabled(crowd: Crowd, receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    target.failures = 10**6
    pid = (await crowd.new_project(min_overlap=2))["id"]
    hook = await crowd.ok(
        "POST", f"/api/v1/projects/{pid}/webhooks", crowd.platform, {"url": url, "events": ["task.completed"]}
    )
    await finish_a_batch(crowd, pid, 1)
    async with aiohttp.ClientSession() as session:
        for _ in range(40):
            await deliver_due(delivery(crowd, session))
            crowd.clock.advance(3600)
    hooks = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks", crowd.platform)
    assert hooks["items"][0]["status"] == "disabled"
    attempts = len(target.calls)
    assert 5 < attempts < 40  # backed off, then gave up
    log = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks/{hook['id']}/deliveries", crowd.platform)
    assert log["items"][0]["delivery_status"] == "failed"


async def test_blocks_and_budgets_are_events_too(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1, reward=5, budget=5))["id"]
    await crowd.submit(pid, 3)
    a, b = await crowd.new_workers("a", "b")
    assert await crowd.next(a, pid) is not None
    assert await crowd.next(b, pid) is None
    assert await crowd.next(b, pid) is None
    me = await crowd.ok("GET", "/api/v1/work/me", a)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/workers/{me['id']}/block", crowd.operator)
    feed = await crowd.ok("GET", f"/api/v1/projects/{pid}/events", crowd.operator)
    assert [e["type"] for e in feed["items"]] == ["budget.exhausted", "worker.blocked"]
    assert feed["items"][1]["data"] == {"worker_id": me["id"], "reason": "operator"}


async def test_webhook_urls_are_checked(crowd: Crowd, settings: Settings) -> None:
    pid = (await crowd.new_project())["id"]
    path = f"/api/v1/projects/{pid}/webhooks"
    for body in (
        {"url": "ftp://example.com/x", "events": ["task.completed"]},
        {"url": "https://example.com/x", "events": ["task.exploded"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["task.completed"], "secret": "short"},
    ):
        assert (await crowd.call("POST", path, crowd.platform, body)).status == 422, body
    assert (
        await crowd.call("POST", path, crowd.rival, {"url": "https://e.com/x", "events": ["task.completed"]})
    ).status == 404

    strict = settings.model_copy(update={"webhooks_allow_private": False})
    async with served(create_app(strict, clock=crowd.clock)) as client:
        guarded = Crowd(client, crowd.clock, crowd.platform, crowd.operator, crowd.rival)
        for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest"):
            reply = await guarded.call("POST", path, crowd.platform, {"url": url, "events": ["task.completed"]})
            assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["url"]), url
