"""A test's view of a running crowd server: keys, workers and short-hands
for the HTTP calls the tests make over and over."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from crowd.api.keys import DATABASE
from crowd.clock import ManualClock
from crowd.identity import service as identity
from crowd.identity.tokens import Role

LABELS = ["cat", "dog", "other"]


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[TestClient[Any, Any]]:
    """The app behind a real socket on localhost, with a client for it. Unlike
    ``async with TestClient(...)``, it closes the client's HTTP session when the
    app fails to start too (else the leak is reported against a later test)."""
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    try:
        await client.start_server()
        yield client
    finally:
        await client.close()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


@dataclass
class Crowd:
    client: TestClient[Any, Any]
    clock: ManualClock
    platform: str
    operator: str
    rival: str
    """A platform key of another organization."""

    @classmethod
    async def start(cls, client: TestClient[Any, Any], clock: ManualClock) -> Crowd:
        app: web.Application = client.server.app  # type: ignore[assignment]
        db = app[DATABASE]
        _, platform = await identity.create_api_key(db, clock, organization="acme", role=Role.PLATFORM, name="p")
        _, operator = await identity.create_api_key(db, clock, organization="acme", role=Role.OPERATOR, name="o")
        _, rival = await identity.create_api_key(db, clock, organization="rival", role=Role.PLATFORM, name="r")
        return cls(client, clock, platform, operator, rival)

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if raw is None and body is not None:
            raw = json.dumps(body)
        data = io.BytesIO(raw.encode() if isinstance(raw, str) else raw) if raw is not None else None
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, data=data, headers=sent) as response:
            text = await response.text()
            is_json = response.content_type in ("application/json", "application/problem+json")
            parsed = json.loads(text) if is_json and text else None
            return Reply(response.status, parsed, dict(response.headers), text)

    async def ok(self, method: str, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Any:
        reply = await self.call(method, path, token, body, **kw)
        assert 200 <= reply.status < 300, (reply.status, reply.text)
        return reply.body

    async def new_worker(self, name: str = "w") -> str:
        created = await self.ok("POST", "/api/v1/workers", self.operator, {"name": name})
        return str(created["token"])

    async def new_workers(self, *names: str) -> list[str]:
        return [await self.new_worker(name) for name in names]

    async def new_project(self, **settings: Any) -> dict[str, Any]:
        body = {"name": "Pets", "labels": LABELS, "min_overlap": 2, "lease_seconds": 60, **settings}
        reply = await self.call("POST", "/api/v1/projects", self.platform, body)
        assert reply.status == 201, reply.text
        return dict(reply.body)

    async def submit(self, project_id: str, n: int, *, prefix: str = "t", **batch: Any) -> dict[str, Any]:
        tasks = [{"external_id": f"{prefix}-{i}", "data": {"text": f"task {prefix}-{i}"}} for i in range(n)]
        reply = await self.call(
            "POST", f"/api/v1/projects/{project_id}/batches", self.platform, {"tasks": tasks, **batch}
        )
        assert reply.status == 201, reply.text
        return dict(reply.body)

    async def next(self, token: str, project_id: str | None = None, wait: int = 0) -> dict[str, Any] | None:
        query = f"?wait={wait}" + (f"&project_id={project_id}" if project_id else "")
        reply = await self.call("GET", f"/api/v1/work/next{query}", token)
        assert reply.status in (200, 204), reply.text
        return None if reply.status == 204 else dict(reply.body)

    async def answer(self, token: str, assignment_id: str, label: str) -> Reply:
        return await self.call("POST", f"/api/v1/work/assignments/{assignment_id}/answer", token, {"label": label})

    async def results(self, project_id: str, **query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            params = "&".join(f"{k}={v}" for k, v in {**query, "cursor": cursor}.items())
            page = await self.ok("GET", f"/api/v1/projects/{project_id}/results?{params}", self.platform)
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                return items
