"""Consensus endpoints: refit now, and what the fits say of each worker."""

from __future__ import annotations

import re
from dataclasses import asdict

from aiohttp import web

from crowd.api import query, spec
from crowd.api.auth import api_key
from crowd.api.http import reply
from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.api.spec import documented
from crowd.errors import ValidationFailed
from crowd.identity.tokens import Role
from crowd.inference import service as inference
from crowd.payments import service as payments
from crowd.payments.store import Earnings

routes = web.RouteTableDef()

ANY_KEY = (Role.PLATFORM, Role.OPERATOR)
_WORKER_ID = re.compile(r"^[a-z]{3}_[0-9a-z]{1,40}$")


@routes.post("/api/v1/projects/{project_id}/consensus")
@documented("platform", "operator")
async def refit(request: web.Request) -> web.Response:
    """A full Dawid-Skene refit of the project, now; 409 if one is running."""
    key = await api_key(request, *ANY_KEY)
    app = request.app
    summary = await inference.refit(
        app[DATABASE], app[BROKER], app[CLOCK], request.match_info["project_id"], organization_id=key.organization_id
    )
    return reply(asdict(summary))


@routes.get("/api/v1/projects/{project_id}/workers")
@documented("operator", query=[spec.integer("limit", 1, 1000), spec.CURSOR])
async def workers(request: web.Request) -> web.Response:
    """Every worker who answered in the project, by id: counts, gold grades,
    reliability with its 95% interval, spammer score, confusion matrix
    (rows: true label, columns: answered label, in the project's label order),
    and what they earned here (null where the project never paid them)."""
    key = await api_key(request, Role.OPERATOR)
    limit = query.integer(request, "limit", 100, 1, 1000)
    after = request.query.get("cursor", "")
    if after and not _WORKER_ID.match(after):
        raise ValidationFailed("bad cursor", errors=[{"loc": ["query", "cursor"], "msg": "not a worker id"}])
    db = request.app[DATABASE]
    project, rows = await inference.worker_standings(
        db, key.organization_id, request.match_info["project_id"], after, limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    earned = await payments.earnings_in_project(db, project.id, [row.worker_id for row in page])
    items = [asdict(row) | {"earnings": _earnings(earned.get(row.worker_id))} for row in page]
    return reply(
        {
            "labels": project.labels,
            "items": items,
            "next_cursor": page[-1].worker_id if more else None,
        }
    )


def _earnings(earned: Earnings | None) -> dict[str, object] | None:
    return None if earned is None else asdict(earned)
