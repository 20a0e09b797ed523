"""Health, readiness, request ids and logs."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from crowd.app import metrics_app
from crowd.logs import JsonFormatter
from tests.support.crowd import Crowd


async def test_health_and_readiness(crowd: Crowd) -> None:
    assert await crowd.ok("GET", "/healthz") == {"status": "ok"}
    assert await crowd.ok("GET", "/readyz") == {"status": "ready"}


async def test_every_reply_carries_a_request_id(crowd: Crowd) -> None:
    mine = await crowd.call("GET", "/healthz", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["X-Request-ID"] == "abc-123"
    made_up = await crowd.call("GET", "/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made_up.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made_up.headers["X-Request-ID"]) == 16
    error = await crowd.call("GET", "/api/v1/projects/x")
    assert error.headers["X-Request-ID"]


async def test_request_logs_are_json_with_the_request_id(crowd: Crowd, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="crowd.http"):
        await crowd.call("GET", "/healthz", headers={"X-Request-ID": "trace-me"})
    [record] = [r for r in caplog.records if r.name == "crowd.http"]
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "request"
    assert entry["path"] == "/healthz"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert entry["ms"] >= 0


def test_the_formatter_adds_the_request_id_in_context() -> None:
    from crowd.logs import request_id

    token = request_id.set("rid-1")
    try:
        record = logging.LogRecord("crowd", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert entry["request_id"] == "rid-1"
    assert entry["message"] == "hello you"
    assert entry["level"] == "warning"


async def test_every_reply_carries_the_security_headers(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    for path, token in [("/healthz", None), ("/api/v1/projects/nope", crowd.platform)]:
        reply = await crowd.call("GET", path, token)
        assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in reply.headers["Content-Security-Policy"]
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
    streamed = await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=csv", crowd.platform)
    assert streamed.headers["X-Content-Type-Options"] == "nosniff"


async def scrape(crowd: Crowd) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The figures, read where Prometheus reads them: the metrics listener."""
    app = crowd.client.server.app
    assert app is not None
    async with TestClient(TestServer(metrics_app(app))) as listener:
        reply = await listener.get("/metrics")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=")
        text = await reply.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def grew(before: dict, after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_requests_leases_answers_expiry_and_refits(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2, max_overlap=2, lease_seconds=60, gold_rate=0.0))["id"]
    await crowd.submit(pid, 3)
    before = await scrape(crowd)
    assert before[("crowd_open_tasks", ())] == 3

    ann, ben = await crowd.new_workers("ann", "ben")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    assert (await crowd.answer(ann, lease["assignment_id"], "cat")).status == 200
    assert (await crowd.answer(ann, lease["assignment_id"], "cat")).status == 200  # a retry counts once
    assert await crowd.next(ben, pid) is not None  # ben never answers: his lease runs out
    crowd.clock.advance(61)
    assert await crowd.next(ann, pid) is not None  # the claim releases ben's lease first
    await crowd.ok("POST", f"/api/v1/projects/{pid}/consensus", crowd.operator)
    after = await scrape(crowd)

    assert grew(before, after, "crowd_leases_granted_total") == 3
    assert grew(before, after, "crowd_leases_expired_total") == 1
    assert grew(before, after, "crowd_answers_total") == 1
    assert grew(before, after, "crowd_consensus_refit_seconds_count") == 1
    route = {"method": "GET", "route": "/api/v1/work/next"}
    assert grew(before, after, "crowd_http_requests_total", status="200", **route) == 3
    assert grew(before, after, "crowd_http_request_seconds_count", **route) == 3
    answer_route = {"method": "POST", "route": "/api/v1/work/assignments/{assignment_id}/answer", "status": "200"}
    assert grew(before, after, "crowd_http_requests_total", **answer_route) == 2
    # One series per route, not per id.
    assert not any(pid in str(labels) for _, labels in after)
    assert after[("crowd_open_tasks", ())] == 3
