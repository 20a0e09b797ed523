"""Quality endpoints: agreement and drift reports, the expert review queue."""

from __future__ import annotations

from aiohttp import web

from crowd.api import query, spec
from crowd.api.auth import api_key
from crowd.api.bodies import parse
from crowd.api.http import iso, reply
from crowd.api.keys import CLOCK, DATABASE
from crowd.api.models import DecisionIn, ReviewSendIn
from crowd.api.spec import documented
from crowd.identity.tokens import Role
from crowd.quality import service as quality

routes = web.RouteTableDef()

READERS = (Role.PLATFORM, Role.OPERATOR)
REVIEWERS = (Role.OPERATOR, Role.REVIEWER)


@routes.get("/api/v1/projects/{project_id}/quality")
@documented("platform", "operator", query=[spec.text("batch_id")])
async def quality_report(request: web.Request) -> web.Response:
    """Krippendorff's alpha and Fleiss' kappa with 95% bootstrap intervals,
    Cohen's kappa per worker pair, each worker's agreement with consensus
    and peers, confidence figures and counts per status (``batch_id`` to
    look at one batch)."""
    key = await api_key(request, *READERS)
    batch_id = request.query.get("batch_id") or None
    body = await quality.quality_report(
        request.app[DATABASE], key.organization_id, request.match_info["project_id"], batch_id
    )
    return reply(body)


@routes.get("/api/v1/projects/{project_id}/drift")
@documented("platform", "operator")
async def drift(request: web.Request) -> web.Response:
    """Label distribution per batch and per day against the project's, with
    Jensen-Shannon distances; each worker's recent gold accuracy and speed."""
    key = await api_key(request, *READERS)
    return reply(
        await quality.drift_report(request.app[DATABASE], key.organization_id, request.match_info["project_id"])
    )


@routes.get("/api/v1/projects/{project_id}/review")
@documented("operator", "reviewer", query=[spec.integer("limit", 1, 500), spec.integer("cursor", 0, 2**62)])
async def queue(request: web.Request) -> web.Response:
    """Tasks waiting for an expert, with their data, answers, posterior and reports."""
    key = await api_key(request, *REVIEWERS)
    limit = query.integer(request, "limit", 50, 1, 500)
    after = query.integer(request, "cursor", 0, 0, 2**62)
    project, items = await quality.review_queue(
        request.app[DATABASE], key.organization_id, request.match_info["project_id"], after, limit + 1
    )
    page = items[:limit]
    return reply(
        {
            "labels": project.labels,
            "items": [
                {
                    "external_id": item.task.external_id,
                    "data": item.task.data,
                    "status": item.task.status,
                    "label": item.task.label,
                    "confidence": item.task.confidence,
                    "posterior": item.task.posterior,
                    "reason": item.task.review_reason,
                    "answers": [{"worker": w, "label": label, "created_at": iso(at)} for w, label, at in item.answers],
                    "reports": [{"reason": reason, "created_at": iso(at)} for reason, at in item.reports],
                }
                for item in page
            ],
            "next_cursor": str(page[-1].task.id) if len(items) > limit else None,
        }
    )


@routes.post("/api/v1/projects/{project_id}/review")
@documented("operator", body=ReviewSendIn)
async def send(request: web.Request) -> web.Response:
    """Send tasks (by external id) to the review queue."""
    key = await api_key(request, Role.OPERATOR)
    body = await parse(request, ReviewSendIn)
    queued = await quality.send_to_review(
        request.app[DATABASE], key.organization_id, request.match_info["project_id"], body.tasks
    )
    return reply({"queued": queued})


@routes.post("/api/v1/projects/{project_id}/review/{external_id}")
@documented("operator", "reviewer", body=DecisionIn)
async def decide(request: web.Request) -> web.Response:
    """An expert's final label for a task."""
    key = await api_key(request, *REVIEWERS)
    body = await parse(request, DecisionIn)
    result = await quality.decide(
        request.app[DATABASE],
        request.app[CLOCK],
        key,
        request.match_info["project_id"],
        request.match_info["external_id"],
        body.label,
        promote_to_gold=body.promote_to_gold,
        explanation=body.explanation,
    )
    return reply(result)
