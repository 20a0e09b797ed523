"""Worker endpoints. Nothing here may reveal a task id, a gold flag or a gold
label (invariant 5): replies are built only from ``views.lease`` and
``views.receipt``."""

from __future__ import annotations

from aiohttp import web

from crowd.api import query, views
from crowd.api.auth import worker
from crowd.api.http import parse, reply
from crowd.api.keys import BROKER, CLOCK, DATABASE, SETTINGS
from crowd.api.models import AnswerIn
from crowd.assignment import service as assignment
from crowd.assignment.service import Engine

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Engine:
    app = request.app
    return Engine(app[DATABASE], app[BROKER], app[CLOCK])


@routes.get("/api/v1/work/next")
async def next_task(request: web.Request) -> web.Response:
    caller = await worker(request)
    wait = query.integer(request, "wait", 0, 0, request.app[SETTINGS].max_wait_seconds)
    project_id = request.query.get("project_id") or None
    lease = await assignment.next_assignment(_engine(request), caller, project_id, wait)
    if lease is None:
        return web.Response(status=204)
    return reply(views.lease(lease))


@routes.post("/api/v1/work/assignments/{assignment_id}/answer")
async def answer(request: web.Request) -> web.Response:
    caller = await worker(request)
    body = await parse(request, AnswerIn)
    receipt = await assignment.answer(_engine(request), caller, request.match_info["assignment_id"], body.label)
    return reply(views.receipt(receipt))


@routes.post("/api/v1/work/assignments/{assignment_id}/skip")
async def skip(request: web.Request) -> web.Response:
    caller = await worker(request)
    receipt = await assignment.skip(_engine(request), caller, request.match_info["assignment_id"])
    return reply(views.receipt(receipt))


@routes.get("/api/v1/work/me")
async def me(request: web.Request) -> web.Response:
    caller = await worker(request)
    return reply(views.worker(caller))
