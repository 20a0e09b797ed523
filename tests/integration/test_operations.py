"""Health, readiness, request ids and logs."""

from __future__ import annotations

import json
import logging

import pytest

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
