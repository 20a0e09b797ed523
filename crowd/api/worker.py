"""Worker endpoints. Nothing here may reveal a task id, a gold flag or a gold
label (invariant 5): replies are built only from ``views.lease`` and
``views.receipt``."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from crowd.api import query, spec, views
from crowd.api.auth import worker
from crowd.api.bodies import parse
from crowd.api.http import reply
from crowd.api.keys import ENGINE, SETTINGS
from crowd.api.models import AnswerIn, ReportIn
from crowd.api.spec import documented
from crowd.assignment import answering
from crowd.assignment import service as assignment
from crowd.payments import service as payments

routes = web.RouteTableDef()


@routes.get("/api/v1/work/next")
@documented(
    "worker",
    query=[
        spec.integer("wait", 0, 300, "seconds to hold the request for work, up to CROWD_MAX_WAIT_SECONDS (30)"),
        spec.text("project_id"),
    ],
    statuses=(200, 204),
)
async def next_task(request: web.Request) -> web.Response:
    caller = await worker(request)
    wait = query.integer(request, "wait", 0, 0, request.app[SETTINGS].max_wait_seconds)
    project_id = request.query.get("project_id") or None
    lease = await assignment.next_assignment(request.app[ENGINE], caller, project_id, wait)
    if lease is None:
        return web.Response(status=204)
    return reply(views.lease(lease))


@routes.post("/api/v1/work/assignments/{assignment_id}/answer")
@documented("worker", body=AnswerIn)
async def answer(request: web.Request) -> web.Response:
    caller = await worker(request)
    body = await parse(request, AnswerIn)
    receipt = await answering.answer(request.app[ENGINE], caller, request.match_info["assignment_id"], body.label)
    return reply(views.receipt(receipt))


@routes.post("/api/v1/work/assignments/{assignment_id}/skip")
@documented("worker")
async def skip(request: web.Request) -> web.Response:
    caller = await worker(request)
    receipt = await answering.skip(request.app[ENGINE], caller, request.match_info["assignment_id"])
    return reply(views.receipt(receipt))


@routes.post("/api/v1/work/assignments/{assignment_id}/report")
@documented("worker", body=ReportIn)
async def report_task(request: web.Request) -> web.Response:
    """Report a problem with the task (``{"reason": ...}``): a live lease is
    given back and the task goes to an expert."""
    caller = await worker(request)
    body = await parse(request, ReportIn)
    receipt = await answering.report(request.app[ENGINE], caller, request.match_info["assignment_id"], body.reason)
    return reply(views.receipt(receipt))


@routes.get("/api/v1/work/projects")
@documented("worker", query=[spec.integer("limit", 1, 100), spec.CURSOR])
async def open_projects(request: web.Request) -> web.Response:
    """The projects this worker may work on now, with reward and open tasks:
    its organization's active projects whose required groups it is all in,
    by priority, then oldest first; paged with ``cursor``."""
    caller = await worker(request)
    limit = query.integer(request, "limit", 50, 1, 100)
    after = query.id_cursor(request, "prj")
    found, next_cursor = await assignment.open_projects(request.app[ENGINE], caller, after, limit)
    return reply({"items": [views.open_project(o) for o in found], "next_cursor": next_cursor})


@routes.get("/api/v1/work/me")
@documented("worker")
async def me(request: web.Request) -> web.Response:
    """The worker's own record: answers and standing per project."""
    caller = await worker(request)
    standings = await assignment.standings(request.app[ENGINE], caller)
    balances = await payments.balances(request.app[ENGINE].db, caller.id)
    main = balances[0] if balances else None
    return reply(
        {
            **views.worker(caller),
            "balance": {
                "pending": main.pending if main else 0,
                "available": main.available if main else 0,
                "currency": main.currency if main else None,
            },
            "balances": [asdict(b) for b in balances],
            "answers": sum(s.answers for s in standings),
            "projects": [views.standing(s) for s in standings],
        }
    )
