"""Platform and operator endpoints: projects, batches, results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from crowd.api import label_studio, query, spec, views
from crowd.api.auth import api_key
from crowd.api.bodies import M, canonical_sha256, parse
from crowd.api.http import iso, reply
from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.api.models import BatchIn, ProjectCreate, ProjectPatch
from crowd.api.rows import idempotency_key, row_errors
from crowd.api.spec import documented
from crowd.api.web import SECURITY_HEADERS
from crowd.csvcells import Cell, csv_line
from crowd.errors import ValidationFailed
from crowd.identity.tokens import Role
from crowd.projects import service as projects
from crowd.projects.service import BatchSubmission, TaskRow
from crowd.results import service as results
from crowd.results import store as results_store

routes = web.RouteTableDef()

#: The media types of the result and answer exports, by ``format``.
EXPORTS = ("application/json", "application/x-ndjson", "text/csv")

PLATFORM = (Role.PLATFORM,)
ANY_KEY = (Role.PLATFORM, Role.OPERATOR)


@routes.post("/api/v1/projects")
@documented("platform", body=ProjectCreate, statuses=(201,))
async def create_project(request: web.Request) -> web.Response:
    key = await api_key(request, *PLATFORM)
    body = await parse(request, ProjectCreate)
    record = await projects.create_project(
        request.app[DATABASE], request.app[CLOCK], key.organization_id, body.values()
    )
    return reply(views.project_record(record), status=201)


@routes.get("/api/v1/projects")
@documented("platform", "operator")
async def list_projects(request: web.Request) -> web.Response:
    """The organization's projects, newest first, each with its progress."""
    key = await api_key(request, *ANY_KEY)
    found = await projects.list_projects(request.app[DATABASE], key.organization_id)
    return reply({"items": [views.project_progress(p, progress) for p, progress in found]})


@routes.get("/api/v1/projects/{project_id}")
@documented("platform", "operator")
async def get_project(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    record = await projects.describe_project(
        request.app[DATABASE], key.organization_id, request.match_info["project_id"]
    )
    return reply(views.project_record(record))


@routes.patch("/api/v1/projects/{project_id}")
@documented("platform", "operator", body=ProjectPatch)
async def patch_project(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    body = await parse(request, ProjectPatch)
    app = request.app
    record = await projects.update_project(
        app[DATABASE], app[CLOCK], app[BROKER], key.organization_id, request.match_info["project_id"], body.given()
    )
    return reply(views.project_record(record))


@routes.post("/api/v1/projects/{project_id}/batches")
@documented(
    "platform",
    body=BatchIn,
    statuses=(201, 200),
    limit="bulk",
    headers=[spec.text("Idempotency-Key", "a retry with the same key and body returns the first batch")],
)
async def post_batch(request: web.Request) -> web.Response:
    key = await api_key(request, *PLATFORM)
    body = await _parse_batch(request)
    app = request.app
    batch, created = await projects.submit_batch(
        app[DATABASE], app[CLOCK], app[BROKER], key.organization_id, request.match_info["project_id"], body
    )
    return reply(views.batch(batch), status=201 if created else 200)


async def _parse_batch(request: web.Request) -> BatchSubmission:
    key = idempotency_key(request)
    body = await parse_rows(request, BatchIn)
    return BatchSubmission(
        external_id=body.external_id,
        idempotency_key=key,
        request_hash=await canonical_sha256(body),
        tasks=[
            TaskRow(t.external_id, t.data, t.priority, tuple((p.model, p.label, p.score) for p in t.predictions))
            for t in body.tasks
        ],
    )


async def parse_rows(request: web.Request, model: type[M]) -> M:
    """Parse a body of task rows; a validation error names each bad row."""
    try:
        return await parse(request, model)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail + "; nothing was stored", errors=row_errors(exc.extra["errors"])) from exc


@routes.get("/api/v1/batches/{batch_id}")
@documented("platform", "operator")
async def get_batch(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    progress = await projects.get_batch(request.app[DATABASE], key.organization_id, request.match_info["batch_id"])
    return reply(views.batch_progress(progress))


@routes.get("/api/v1/projects/{project_id}/results")
@documented(
    "platform",
    "operator",
    query=[
        spec.choice("status", ["open", "completed"]),
        spec.choice("include", ["answers"], "each result with its answers"),
        spec.choice("format", ["json", "jsonl", "csv", "label-studio"]),
        spec.integer("limit", 1, 1000),
        spec.CURSOR,
    ],
    media=EXPORTS,
)
async def get_results(request: web.Request) -> web.StreamResponse:
    key = await api_key(request, *ANY_KEY)
    db = request.app[DATABASE]
    project = await projects.get_project(db, key.organization_id, request.match_info["project_id"])
    status = query.choice(request, "status", None, {"open", "completed"})
    include = frozenset(filter(None, [query.choice(request, "include", None, {"answers"})]))
    if request.query.get("format") == "label-studio":
        return await label_studio.export(request, project, status)
    page_query = results.for_project(project.id, results_store.task_results, status=status, include=include)
    posterior_columns = [f"posterior_{label}" for label in project.labels]

    def csv_row(r: results_store.TaskResult) -> list[Cell]:
        posterior = r.posterior or {}
        return [r.external_id, r.status, r.label, _num(r.confidence), r.answers] + [
            _num(posterior.get(label)) for label in project.labels
        ]

    header = ["external_id", "status", "label", "confidence", "answers", *posterior_columns]
    return await _export(request, page_query, views.task_result, header, csv_row)


@routes.get("/api/v1/projects/{project_id}/answers")
@documented(
    "platform",
    "operator",
    query=[spec.choice("format", ["json", "jsonl", "csv"]), spec.integer("limit", 1, 1000), spec.CURSOR],
    media=EXPORTS,
)
async def get_answers(request: web.Request) -> web.StreamResponse:
    key = await api_key(request, *ANY_KEY)
    project = await projects.get_project(request.app[DATABASE], key.organization_id, request.match_info["project_id"])
    page_query = results.for_project(project.id, results_store.answer_rows)

    def csv_row(a: results_store.AnswerRow) -> list[Cell]:
        return [a.task, a.worker, a.label, iso(a.created_at)]

    return await _export(request, page_query, views.answer_row, ["task", "worker", "label", "created_at"], csv_row)


async def _export(
    request: web.Request,
    page_query: results.PageQuery[Any],
    view: Callable[[Any], dict[str, Any]],
    header: list[str],
    csv_row: Callable[[Any], list[Cell]],
) -> web.StreamResponse:
    """``format=json``: one page with ``next_cursor``; ``jsonl`` and ``csv``:
    everything after the cursor, streamed."""
    db = request.app[DATABASE]
    fmt = query.choice(request, "format", "json", {"json", "jsonl", "csv"})
    cursor = request.query.get("cursor")
    if fmt == "json":
        limit = query.integer(request, "limit", 100, 1, 1000)
        rows, next_cursor = await results.page(db, page_query, cursor, limit)
        return reply({"items": [view(row) for row in rows], "next_cursor": next_cursor})
    results.decode_cursor(cursor)  # a bad cursor is a 400 before the stream starts
    rows_iter = results.stream(db, page_query, cursor)
    if fmt == "jsonl":
        lines = _jsonl(rows_iter, view)
        return await _stream(request, "application/x-ndjson", lines)
    return await _stream(request, "text/csv", _csv(rows_iter, header, csv_row))


async def _jsonl(rows: AsyncIterator[Any], view: Callable[[Any], dict[str, Any]]) -> AsyncIterator[str]:
    async for row in rows:
        yield json.dumps(view(row), separators=(",", ":")) + "\n"


async def _csv(rows: AsyncIterator[Any], header: list[str], csv_row: Callable[[Any], list[Cell]]) -> AsyncIterator[str]:
    """The export as CSV lines, each cell spreadsheet-safe (:mod:`crowd.csvcells`)."""
    yield csv_line(header)
    async for row in rows:
        yield csv_line(csv_row(row))


async def _stream(request: web.Request, content_type: str, chunks: AsyncIterator[str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": f"{content_type}; charset=utf-8", **SECURITY_HEADERS})
    await response.prepare(request)
    pending: list[str] = []
    async for chunk in chunks:
        pending.append(chunk)
        if len(pending) >= 500:
            await response.write("".join(pending).encode())
            pending.clear()
    await response.write("".join(pending).encode())
    await response.write_eof()
    return response


def _num(value: float | None) -> float | None:
    """A confidence or probability, a number in the CSV (never neutralized)."""
    return None if value is None else round(value, 6)
