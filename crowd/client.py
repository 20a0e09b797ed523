"""An async Python client for platforms and operators.

    async with CrowdClient("https://crowd.example.com", key) as crowd:
        project = await crowd.create_project(name="Pets", labels=["cat", "dog"], min_overlap=3)
        batches = await crowd.submit_tasks(project["id"], tasks, batch="pets-2026-11")
        await crowd.wait_for_batches([b["id"] for b in batches])
        async for result in crowd.results(project["id"]):
            ...

Batches go in chunks of at most 10,000 tasks, each with an external id and
Idempotency-Key derived from ``batch``, so a submission interrupted half-way
can simply be run again: chunks already stored come back unchanged.
Requests that are safe to repeat are retried on 429, 503 and lost
connections, with backoff.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from crowd.webhooks.policy import SIGNATURE_HEADER, verify

CHUNK = 10_000
RETRYABLE = {429, 502, 503, 504}


class CrowdAPIError(Exception):
    """A 4xx/5xx reply: ``status`` and the problem+json ``problem``."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = dict(problem)

    @property
    def type(self) -> str:
        return str(self.problem.get("type", ""))


class CrowdClient:
    def __init__(
        self,
        url: str,
        key: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 60.0,
        retries: int = 5,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}"}
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._retries = retries

    async def __aenter__(self) -> CrowdClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    # projects ---------------------------------------------------------------

    async def create_project(self, **settings: Any) -> dict[str, Any]:
        return await self._call("POST", "/api/v1/projects", settings, safe=False)

    async def project(self, project_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/v1/projects/{project_id}")

    async def update_project(self, project_id: str, **changes: Any) -> dict[str, Any]:
        return await self._call("PATCH", f"/api/v1/projects/{project_id}", changes)

    # tasks ------------------------------------------------------------------

    async def submit_tasks(
        self, project_id: str, tasks: Iterable[Mapping[str, Any]], *, batch: str, chunk_size: int = CHUNK
    ) -> list[dict[str, Any]]:
        """Submit ``tasks`` (``{"external_id", "data", "priority"}``) as
        batches ``<batch>-0``, ``<batch>-1``, …; safe to run again."""
        if not 0 < chunk_size <= CHUNK:
            raise ValueError(f"chunk_size must be 1..{CHUNK}")
        stored = []
        for index, chunk in enumerate(_chunks(tasks, chunk_size)):
            name = f"{batch}-{index}"
            body = {"external_id": name, "tasks": chunk}
            path = f"/api/v1/projects/{project_id}/batches"
            stored.append(await self._call("POST", path, body, headers={"Idempotency-Key": name}))
        return stored

    async def upload_gold(self, project_id: str, tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Gold tasks (``external_id``, ``data``, ``label``, ``explanation``); identical rows re-sent are kept."""
        return await self._call("POST", f"/api/v1/projects/{project_id}/gold", {"tasks": list(tasks)})

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/v1/batches/{batch_id}")

    async def wait_for_batches(
        self, batch_ids: Sequence[str], *, poll: float = 2.0, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Poll until every batch is completed; their final progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = [await self.batch(batch_id) for batch_id in batch_ids]
            if all(p["status"] == "completed" for p in progress):
                return progress
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"batches not completed after {timeout}s")
            await asyncio.sleep(poll)

    # results ----------------------------------------------------------------

    async def results(
        self, project_id: str, *, status: str | None = None, include_answers: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Every task's result, streamed (JSONL), never all in memory."""
        query = {"format": "jsonl"}
        if status:
            query["status"] = status
        if include_answers:
            query["include"] = "answers"
        async for item in self._lines(f"/api/v1/projects/{project_id}/results", query):
            yield item

    async def answers(self, project_id: str) -> AsyncIterator[dict[str, Any]]:
        """Every raw answer (task, worker, label, created_at), streamed."""
        async for item in self._lines(f"/api/v1/projects/{project_id}/answers", {"format": "jsonl"}):
            yield item

    async def events(self, project_id: str, *, after: str = "0") -> AsyncIterator[dict[str, Any]]:
        """Events after the cursor ``after``, in order, page by page."""
        while True:
            page = await self._call("GET", f"/api/v1/projects/{project_id}/events", params={"after": after})
            for item in page["items"]:
                yield item
            if not page["items"]:
                return
            after = page["next_cursor"]

    # consensus, workers and webhooks ---------------------------------------

    async def refit(self, project_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/v1/projects/{project_id}/consensus", None, safe=False)

    async def workers(self, project_id: str) -> list[dict[str, Any]]:
        page = await self._call("GET", f"/api/v1/projects/{project_id}/workers", params={"limit": "1000"})
        items: list[dict[str, Any]] = page["items"]
        while page["next_cursor"]:
            page = await self._call(
                "GET", f"/api/v1/projects/{project_id}/workers", params={"limit": "1000", "cursor": page["next_cursor"]}
            )
            items += page["items"]
        return items

    async def subscribe(
        self, project_id: str, url: str, events: Sequence[str], secret: str | None = None
    ) -> dict[str, Any]:
        """A webhook; the reply's ``secret`` signs every delivery (keep it)."""
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if secret is not None:
            body["secret"] = secret
        return await self._call("POST", f"/api/v1/projects/{project_id}/webhooks", body, safe=False)

    @staticmethod
    def verify_signature(secret: str, body: bytes, headers: Mapping[str, str], *, tolerance: int = 300) -> bool:
        """Whether a webhook delivery really comes from crowd (and is fresh)."""
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        return verify(secret, header, body, int(time.time()), tolerance)

    # plumbing ---------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        safe: bool = True,
    ) -> dict[str, Any]:
        """One request, retried with backoff when that is safe: reads,
        idempotent writes (PATCH, batches with an Idempotency-Key)."""
        attempts = self._retries + 1 if safe else 1
        for attempt in range(attempts):
            try:
                async with self._session.request(
                    method, self.url + path, json=body, params=params, headers={**self._headers, **(headers or {})}
                ) as reply:
                    if reply.status in RETRYABLE and attempt + 1 < attempts:
                        await asyncio.sleep(_backoff(attempt, reply.headers.get("Retry-After")))
                        continue
                    payload: dict[str, Any] = await reply.json(content_type=None) if reply.status != 204 else {}
                    if reply.status >= 400:
                        raise CrowdAPIError(reply.status, payload or {})
                    return payload
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(_backoff(attempt, None))
        raise AssertionError("unreachable")

    async def _lines(self, path: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        async with self._session.get(self.url + path, params=params, headers=self._headers) as reply:
            if reply.status >= 400:
                raise CrowdAPIError(reply.status, await reply.json(content_type=None))
            async for line in reply.content:
                if line.strip():
                    yield json.loads(line)


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after and retry_after.isdigit():
        return float(retry_after)
    return min(30.0, 0.5 * float(2**attempt))


def _chunks(items: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(dict(item))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
