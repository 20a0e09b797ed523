"""The event feed and webhook subscriptions (platform and operator keys)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crowd.api import query, spec
from crowd.api.auth import api_key
from crowd.api.bodies import parse
from crowd.api.http import iso, reply
from crowd.api.keys import CLOCK, DATABASE, RESOLVER, SEALER, SETTINGS
from crowd.api.models import WebhookIn
from crowd.api.spec import documented
from crowd.events import service as events
from crowd.identity.tokens import Role
from crowd.webhooks import service as webhooks
from crowd.webhooks.store import Webhook

routes = web.RouteTableDef()

ANY_KEY = (Role.PLATFORM, Role.OPERATOR)


@routes.get("/api/v1/projects/{project_id}/events")
@documented("platform", "operator", query=[spec.integer("after", 0, 2**62), spec.integer("limit", 1, 1000)])
async def feed(request: web.Request) -> web.Response:
    """The project's events in order; ``after`` is the ``cursor`` of the
    last event seen (a platform that missed webhooks replays from here)."""
    key = await api_key(request, *ANY_KEY)
    after = query.integer(request, "after", 0, 0, 2**62)
    limit = query.integer(request, "limit", 100, 1, 1000)
    found = await events.feed(
        request.app[DATABASE], key.organization_id, request.match_info["project_id"], after, limit
    )
    items = [
        {"id": e.public_id, "cursor": str(e.id), "type": e.type, "created_at": iso(e.created_at), "data": e.data}
        for e in found
    ]
    return reply({"items": items, "next_cursor": items[-1]["cursor"] if items else str(after)})


@routes.post("/api/v1/projects/{project_id}/webhooks")
@documented("platform", "operator", body=WebhookIn, statuses=(201,))
async def subscribe(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    body = await parse(request, WebhookIn)
    app = request.app
    hook, secret = await webhooks.subscribe(
        app[DATABASE],
        app[CLOCK],
        app[SEALER],
        app[RESOLVER],
        key.organization_id,
        request.match_info["project_id"],
        body.url,
        body.events,
        body.secret,
        allow_private=app[SETTINGS].webhooks_allow_private,
    )
    return reply({**_webhook(hook), "secret": secret}, status=201)


@routes.get("/api/v1/projects/{project_id}/webhooks")
@documented("platform", "operator")
async def list_webhooks(request: web.Request) -> web.Response:
    key = await api_key(request, *ANY_KEY)
    hooks = await webhooks.list_webhooks(request.app[DATABASE], key.organization_id, request.match_info["project_id"])
    return reply({"items": [_webhook(h) for h in hooks]})


@routes.delete("/api/v1/projects/{project_id}/webhooks/{webhook_id}")
@documented("platform", "operator", statuses=(204,))
async def delete_webhook(request: web.Request) -> web.Response:
    """Delete the webhook: no more deliveries. Deleting it again is a 204 too."""
    key = await api_key(request, *ANY_KEY)
    app = request.app
    await webhooks.delete(
        app[DATABASE],
        app[CLOCK],
        key.organization_id,
        request.match_info["project_id"],
        request.match_info["webhook_id"],
    )
    return web.Response(status=204)


@routes.get("/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries")
@documented("platform", "operator", query=[spec.integer("limit", 1, 1000)])
async def deliveries(request: web.Request) -> web.Response:
    """Delivery attempts of the webhook, newest first. A failed attempt says
    only how it failed (``error``: ``address-refused``, ``no-response``,
    ``secret-unavailable``, ``internal-error``); ``duration_ms`` only comes
    with a reply."""
    key = await api_key(request, *ANY_KEY)
    limit = query.integer(request, "limit", 100, 1, 1000)
    hook, rows = await webhooks.webhook_attempts(
        request.app[DATABASE],
        key.organization_id,
        request.match_info["project_id"],
        request.match_info["webhook_id"],
        limit,
    )
    return reply(
        {
            "webhook": _webhook(hook),
            "items": [
                {
                    "event_id": r.event_id,
                    "event_type": r.event_type,
                    "delivery_status": r.delivery_status,
                    "attempted_at": iso(r.attempted_at),
                    "status_code": r.status_code,
                    "error": r.error,
                    "duration_ms": r.duration_ms,
                }
                for r in rows
            ],
        }
    )


def _webhook(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "project_id": hook.project_id,
        "url": hook.url,
        "events": hook.events,
        "status": hook.status,
        "failures": hook.failures,
        "created_at": iso(hook.created_at),
    }
