"""Model predictions in bulk, and how good each model is."""

from __future__ import annotations

from aiohttp import web

from crowd.api.auth import api_key
from crowd.api.http import reply
from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.api.models import PredictionsIn
from crowd.api.platform import parse_rows
from crowd.api.spec import documented
from crowd.identity.tokens import Role
from crowd.machine import service as machine

routes = web.RouteTableDef()


@routes.post("/api/v1/projects/{project_id}/predictions")
@documented("platform", body=PredictionsIn, statuses=(201,), limit="bulk")
async def predictions(request: web.Request) -> web.Response:
    """Predictions by task external id (a newer one of the same model
    replaces the older). They count in consensus as the votes of the model,
    a worker of its own; workers see them only if ``show_predictions``."""
    key = await api_key(request, Role.PLATFORM)
    body = await parse_rows(request, PredictionsIn)
    items = [machine.Prediction(p.external_id, p.model, p.label, p.score) for p in body.predictions]
    app = request.app
    stored = await machine.submit(
        app[DATABASE], app[CLOCK], app[BROKER], key.organization_id, request.match_info["project_id"], items
    )
    return reply({"stored": stored}, status=201)


@routes.get("/api/v1/projects/{project_id}/models")
@documented("platform", "operator")
async def models(request: web.Request) -> web.Response:
    """Per model: accuracy against gold, expert labels and consensus with
    95% Wilson intervals, per-class precision and recall, the confusion
    matrix, calibration (bins and ECE, when scores are given) and the human
    answers it saved; and how shown suggestions swayed workers."""
    key = await api_key(request, Role.PLATFORM, Role.OPERATOR)
    return reply(await machine.evaluation(request.app[DATABASE], key.organization_id, request.match_info["project_id"]))
