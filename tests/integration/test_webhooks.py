"""The outbox, the event feed and signed webhook deliveries with retries."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from crowd.api.keys import CLOCK, DATABASE, RESOLVER, SEALER
from crowd.app import create_app
from crowd.config import Settings
from crowd.db.schema import webhooks
from crowd.events import store as events
from crowd.outbound import sender
from crowd.projects import store as projects
from crowd.webhooks.policy import MAX_WEBHOOKS_PER_PROJECT, SIGNATURE_HEADER, verify
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


@dataclass
class Names:
    """A DNS of the test's own: what each name resolves to, and every lookup."""

    table: dict[str, list[str]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def delivery(crowd: Crowd, *, allow_private: bool = True, timeout: float = 5.0) -> Delivery:
    app = crowd.client.server.app
    assert app is not None
    return Delivery(
        app[DATABASE], sender(), app[RESOLVER], app[SEALER], app[CLOCK], random.Random(3), allow_private, timeout
    )


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

    assert await deliver_due(delivery(crowd)) == 4
    assert await deliver_due(delivery(crowd)) == 0  # delivered once
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
    assert await deliver_due(delivery(crowd)) == 1  # three task.completed were not queued
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
    assert await deliver_due(delivery(crowd)) == 0
    assert await deliver_due(delivery(crowd)) == 0  # not due yet: it waits
    crowd.clock.advance(11)
    assert await deliver_due(delivery(crowd)) == 0
    crowd.clock.advance(21)
    assert await deliver_due(delivery(crowd)) == 1
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
    for _ in range(40):
        await deliver_due(delivery(crowd))
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


def strict(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": False})


@pytest.fixture
def names() -> Names:
    return Names(
        {
            "hooks.example": ["93.184.216.34"],
            "metadata.example": ["100.100.100.200"],
            "mapped.example": ["::ffff:127.0.0.1"],
            "sixtofour.example": ["2002:7f00:1::1"],
            "mixed.example": ["93.184.216.34", "10.0.0.1"],
        }
    )


@pytest.fixture
async def guarded(crowd: Crowd, settings: Settings, names: Names) -> AsyncIterator[Crowd]:
    """The same server with private addresses refused, resolving through ``names``."""
    async with served(create_app(strict(settings), clock=crowd.clock, resolver=names)) as client:
        yield Crowd(client, crowd.clock, crowd.platform, crowd.operator, crowd.rival)


async def subscribe(crowd: Crowd, pid: str, url: str, events: list[str] | None = None) -> Any:
    body = {"url": url, "events": events or ["task.completed", "batch.completed"]}
    return await crowd.call("POST", f"/api/v1/projects/{pid}/webhooks", crowd.platform, body)


async def test_webhook_urls_are_checked(crowd: Crowd, guarded: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    path = f"/api/v1/projects/{pid}/webhooks"
    for body in (
        {"url": "ftp://example.com/x", "events": ["task.completed"]},
        {"url": "https://example.com/x", "events": ["task.exploded"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["task.completed"], "secret": "short"},
        {"url": "https://example.com:99999/x", "events": ["task.completed"]},
    ):
        assert (await crowd.call("POST", path, crowd.platform, body)).status == 422, body
    assert (
        await crowd.call("POST", path, crowd.rival, {"url": "https://e.com/x", "events": ["task.completed"]})
    ).status == 404

    refused = []
    for url in (
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "http://100.100.100.200/latest/meta-data",
        "http://[::ffff:100.100.100.200]/x",
        "http://[64:ff9b::a9fe:a9fe]/x",
        "http://metadata.example/x",
        "http://mapped.example/x",
        "http://sixtofour.example/x",
        "http://mixed.example/x",
        "http://nowhere.example/x",
    ):
        reply = await subscribe(guarded, pid, url)
        assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["url"]), url
        refused.append(reply.body["detail"])
    # a name that does not resolve and one that resolves inside read the same:
    # the server's resolver tells nobody which internal names exist
    assert len(set(refused)) == 1
    assert (await subscribe(guarded, pid, "https://hooks.example/x")).status == 201


async def test_a_name_that_resolves_inside_at_delivery_is_refused(
    crowd: Crowd, guarded: Crowd, names: Names, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    port = url.split(":")[2].split("/")[0]
    pid = (await crowd.new_project(min_overlap=2))["id"]
    hook = await guarded.ok(
        "POST",
        f"/api/v1/projects/{pid}/webhooks",
        crowd.platform,
        {"url": f"http://hooks.example:{port}/hook", "events": ["task.completed"]},
    )
    await finish_a_batch(crowd, pid, 1)
    names.table["hooks.example"] = ["127.0.0.1"]  # where the receiver listens
    assert await deliver_due(delivery(guarded, allow_private=False)) == 0
    assert target.calls == []
    log = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks/{hook['id']}/deliveries", crowd.platform)
    assert [(a["status_code"], a["error"], a["duration_ms"]) for a in log["items"]] == [(None, "address-refused", None)]


async def test_a_delivery_resolves_once_and_connects_to_that_address(
    crowd: Crowd, settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    port = url.split(":")[2].split("/")[0]
    # receiver.test is no name the system knows: only a connection pinned to
    # what this resolver answered can reach the receiver
    names = Names({"receiver.test": ["127.0.0.1"]})
    async with served(create_app(settings, clock=crowd.clock, resolver=names)) as client:
        local = Crowd(client, crowd.clock, crowd.platform, crowd.operator, crowd.rival)
        pid = (await local.new_project(min_overlap=2))["id"]
        assert (await subscribe(local, pid, f"http://receiver.test:{port}/hook", ["task.completed"])).status == 201
        await finish_a_batch(local, pid, 2)
        assert await deliver_due(delivery(local)) == 2
    assert names.asked == ["receiver.test"] * 2  # once per delivery, and never by aiohttp itself
    assert {headers["Host"] for headers, _ in target.calls} == {f"receiver.test:{port}"}


async def test_a_delivery_reads_a_few_kib_of_the_reply_and_no_more(crowd: Crowd) -> None:
    written = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        reply = web.StreamResponse(status=200)
        await reply.prepare(request)
        chunk = b"x" * 65536
        while True:  # until the client hangs up
            await reply.write(chunk)
            written += len(chunk)

    app = web.Application()
    app.router.add_post("/hook", endless)
    async with TestServer(app) as server:
        pid = (await crowd.new_project(min_overlap=2))["id"]
        assert (await subscribe(crowd, pid, str(server.make_url("/hook")), ["task.completed"])).status == 201
        await finish_a_batch(crowd, pid, 1)
        assert await deliver_due(delivery(crowd, timeout=3.0)) == 1  # the status is enough
    assert written < 64 * 65536  # what the socket buffers held, not the endless body


async def black_hole() -> tuple[asyncio.Server, int]:
    """A port that takes connections and never answers: a filtered port, as a prober sees it."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def test_deliveries_do_not_tell_a_closed_port_from_a_filtered_one(crowd: Crowd) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused at once
    closed_port = closed.getsockname()[1]
    server, filtered_port = await black_hole()
    try:
        pid = (await crowd.new_project(min_overlap=2))["id"]
        hooks = [
            (await subscribe(crowd, pid, f"http://127.0.0.1:{port}/x", ["task.completed"])).body["id"]
            for port in (closed_port, filtered_port)
        ]
        await finish_a_batch(crowd, pid, 1)
        assert await deliver_due(delivery(crowd, timeout=0.5)) == 0
    finally:
        closed.close()
        server.close()
        await server.wait_closed()
    seen = []
    for hook in hooks:
        log = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks/{hook}/deliveries", crowd.platform)
        [attempt] = log["items"]
        seen.append({key: attempt[key] for key in ("attempted_at", "status_code", "error", "duration_ms")})
    assert (
        seen[0]
        == seen[1]
        == {
            "attempted_at": seen[0]["attempted_at"],
            "status_code": None,
            "error": "no-response",
            "duration_ms": None,
        }
    )


async def test_a_resolver_that_hangs_is_bounded_by_the_timeout(crowd: Crowd, settings: Settings) -> None:
    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with served(create_app(settings, clock=crowd.clock, resolver=hangs)) as client:
        local = Crowd(client, crowd.clock, crowd.platform, crowd.operator, crowd.rival)
        pid = (await local.new_project(min_overlap=2))["id"]
        hook = (await subscribe(local, pid, "http://slow.example/x", ["task.completed"])).body["id"]
        await finish_a_batch(local, pid, 1)
        started = asyncio.get_running_loop().time()
        assert await deliver_due(delivery(local, timeout=0.3)) == 0
        assert asyncio.get_running_loop().time() - started < 5
        log = await local.ok("GET", f"/api/v1/projects/{pid}/webhooks/{hook}/deliveries", crowd.platform)
    assert [a["error"] for a in log["items"]] == ["no-response"]


async def test_a_project_has_at_most_twenty_webhooks_and_a_deleted_one_frees_its_place(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    made = [
        (await subscribe(crowd, pid, f"http://127.0.0.1:9/{i}")).body["id"] for i in range(MAX_WEBHOOKS_PER_PROJECT)
    ]
    over = await subscribe(crowd, pid, "http://127.0.0.1:9/one-more")
    assert (over.status, over.body["type"]) == (409, "too-many-webhooks")
    assert (await crowd.call("DELETE", f"/api/v1/projects/{pid}/webhooks/{made[0]}", crowd.operator)).status == 204
    assert (await subscribe(crowd, pid, "http://127.0.0.1:9/one-more")).status == 201
    other = (await crowd.new_project())["id"]  # the limit is per project
    assert (await subscribe(crowd, other, "http://127.0.0.1:9/x")).status == 201


@pytest.mark.parametrize("backend", ["postgres"])
async def test_concurrent_subscriptions_never_pass_the_limit(settings: Settings, clock: Any) -> None:
    pooled = settings.model_copy(update={"db_pool_size": 8})
    async with served(create_app(pooled, clock=clock)) as client:
        crowd = await Crowd.start(client, clock)
        pid = (await crowd.new_project())["id"]
        for i in range(MAX_WEBHOOKS_PER_PROJECT - 5):
            assert (await subscribe(crowd, pid, f"http://127.0.0.1:9/{i}")).status == 201
        replies = await asyncio.gather(*(subscribe(crowd, pid, f"http://127.0.0.1:9/c{i}") for i in range(20)))
        assert sorted(r.status for r in replies) == [201] * 5 + [409] * 15
        listed = await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks", crowd.platform)
        assert len(listed["items"]) == MAX_WEBHOOKS_PER_PROJECT


async def test_a_deleted_webhook_gets_nothing_more_and_deleting_it_again_is_fine(
    crowd: Crowd, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    pid = (await crowd.new_project(min_overlap=2))["id"]
    hook = (await subscribe(crowd, pid, url, ["task.completed"])).body["id"]
    path = f"/api/v1/projects/{pid}/webhooks/{hook}"
    await finish_a_batch(crowd, pid, 1)  # one delivery waits

    other = (await crowd.new_project())["id"]
    assert (await crowd.call("DELETE", f"/api/v1/projects/{other}/webhooks/{hook}", crowd.platform)).status == 404
    assert (await crowd.call("DELETE", path, crowd.rival)).status == 404  # another organization's
    assert (await crowd.call("DELETE", f"/api/v1/projects/{pid}/webhooks/whk_nope", crowd.platform)).status == 404
    for caller in (crowd.platform, crowd.operator):
        reply = await crowd.call("DELETE", path, caller)
        assert (reply.status, reply.text) == (204, "")

    await emit_many(crowd, pid, 1)  # an event after the deletion
    assert await deliver_due(delivery(crowd)) == 0
    assert target.calls == []
    assert (await crowd.ok("GET", f"/api/v1/projects/{pid}/webhooks", crowd.platform))["items"] == []
    assert (await crowd.call("GET", f"{path}/deliveries", crowd.platform)).status == 404


async def emit_many(crowd: Crowd, pid: str, n: int) -> None:
    """``n`` events of the project, queued for its webhooks (quicker than finishing ``n`` tasks)."""
    app = crowd.client.server.app
    assert app is not None
    async with app[DATABASE].transaction() as conn:
        project = await projects.project_by_id(conn, pid)
        assert project is not None
        for i in range(n):
            await events.emit(conn, project.organization_id, pid, events.TASK_COMPLETED, {"i": i}, crowd.clock.now())


async def test_one_failing_webhook_never_stops_the_others(crowd: Crowd, receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    app = crowd.client.server.app
    assert app is not None
    mine = (await crowd.new_project())["id"]
    theirs_reply = await crowd.call(
        "POST", "/api/v1/projects", crowd.rival, {"name": "R", "labels": ["a", "b"], "min_overlap": 1}
    )
    theirs = theirs_reply.body["id"]
    broken = (await subscribe(crowd, mine, url, ["task.completed"])).body["id"]
    backlog = (await subscribe(crowd, mine, "http://127.0.0.1:9/dead", ["task.completed"])).body["id"]
    rival_hook = await crowd.call(
        "POST", f"/api/v1/projects/{theirs}/webhooks", crowd.rival, {"url": url, "events": ["task.completed"]}
    )
    assert rival_hook.status == 201
    async with app[DATABASE].transaction() as conn:  # the server's key changed: this secret cannot be unsealed
        await conn.execute(update(webhooks).where(webhooks.c.id == broken).values(sealed_secret="AAAA" * 10))
    await emit_many(crowd, mine, 80)  # both of mine get 80 deliveries: more than a batch
    crowd.clock.advance(1)
    await emit_many(crowd, theirs, 1)

    assert await deliver_due(delivery(crowd)) == 1  # the rival's one delivery, in the first batch
    assert [json.loads(body)["project_id"] for _, body in target.calls] == [theirs]
    log = await crowd.ok("GET", f"/api/v1/projects/{mine}/webhooks/{broken}/deliveries", crowd.platform)
    assert {a["error"] for a in log["items"]} == {"secret-unavailable"}
    dead = await crowd.ok("GET", f"/api/v1/projects/{mine}/webhooks/{backlog}/deliveries", crowd.platform)
    assert {a["error"] for a in dead["items"]} == {"no-response"}
