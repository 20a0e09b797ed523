"""Gold endpoints: upload, health, and blocking workers by hand. Gold
labels only ever leave through API keys, never through worker endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crowd.api.auth import api_key
from crowd.api.http import reply
from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.api.models import GoldIn
from crowd.api.platform import parse_rows
from crowd.api.spec import documented
from crowd.gold import service as gold
from crowd.gold.service import GoldRow
from crowd.identity.tokens import Role

routes = web.RouteTableDef()

ANY_KEY = (Role.PLATFORM, Role.OPERATOR)


@routes.post("/api/v1/projects/{project_id}/gold")
@documented("platform", "operator", body=GoldIn, statuses=(201,), limit="bulk")
async def upload(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    body = await parse_rows(request, GoldIn)
    rows = [
        GoldRow(
            t.external_id, t.data, t.label, t.explanation, tuple((p.model, p.label, p.score) for p in t.predictions)
        )
        for t in body.tasks
    ]
    app = request.app
    result = await gold.upload(app[DATABASE], app[CLOCK], key.organization_id, request.match_info["project_id"], rows)
    status = 201 if result.created or not result.unchanged else 200
    return reply({"task_count": result.created, "unchanged": result.unchanged}, status=status)


@routes.get("/api/v1/projects/{project_id}/gold")
@documented("platform", "operator")
async def health(request: web.Request) -> web.Response:
    """Per gold task: times shown, answers, share correct, flags
    (``likely_wrong``, ``too_easy``); how many workers have seen every gold
    task (they keep working, on real tasks only); and the shares of gold and
    of real tasks with a model's prediction, which must match while the
    project shows predictions (else a suggestion's presence tells gold)."""
    key = await api_key(request, *ANY_KEY)
    report = await gold.report(request.app[DATABASE], key.organization_id, request.match_info["project_id"])
    items: list[dict[str, Any]] = [
        {
            "external_id": task.external_id,
            "label": task.label,
            "shown": task.shown,
            "answers": h.answers,
            "correct": h.correct,
            "share_correct": h.share_correct,
            "reliable_answers": h.reliable_answers,
            "reliable_correct": h.reliable_correct,
            "flags": list(h.flags),
        }
        for task, h in report.tasks
    ]
    return reply(
        {
            "gold_tasks": len(items),
            "workers_with_gold": report.workers_with_gold,
            "workers_exhausted": report.workers_exhausted,
            "flagged": sum(bool(item["flags"]) for item in items),
            "suggestions": {
                "shown": report.project.show_predictions,
                "gold_with_prediction": _share(*report.predicted[True]),
                "real_with_prediction": _share(*report.predicted[False]),
            },
            "items": items,
        }
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@routes.post("/api/v1/projects/{project_id}/workers/{worker_id}/block")
@documented("operator")
async def block(request: web.Request) -> web.Response:
    return await _set_blocked(request, True)


@routes.post("/api/v1/projects/{project_id}/workers/{worker_id}/unblock")
@documented("operator")
async def unblock(request: web.Request) -> web.Response:
    return await _set_blocked(request, False)


async def _set_blocked(request: web.Request, blocked: bool) -> web.Response:
    key = await api_key(request, Role.OPERATOR)
    app = request.app
    project_id = await gold.set_blocked(
        app[DATABASE],
        app[BROKER],
        app[CLOCK],
        key.organization_id,
        request.match_info["project_id"],
        request.match_info["worker_id"],
        blocked,
    )
    return reply({"project_id": project_id, "worker_id": request.match_info["worker_id"], "blocked": blocked})
