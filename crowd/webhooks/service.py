"""Use cases of webhooks: subscribe, deliver due events, list attempts."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import NotFound, ValidationFailed
from crowd.events.store import EVENT_TYPES
from crowd.ids import OrganizationId, new_id
from crowd.projects.access import require_project
from crowd.webhooks import store
from crowd.webhooks.policy import GIVE_UP_AFTER, SIGNATURE_HEADER, forbidden_address, retry_delay, sign
from crowd.webhooks.sealing import Sealer

log = logging.getLogger(__name__)

BATCH = 50

Send = Callable[[str, bytes, dict[str, str], float], Awaitable[tuple[int | None, str | None]]]
"""``send(url, body, headers, timeout) -> (status, error)``, as made by
:func:`crowd.outbound.sender`: never raises for transport failures."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the delivery loop needs."""

    db: Database
    send: Send
    sealer: Sealer
    clock: Clock
    rng: random.Random
    allow_private: bool
    timeout: float


async def subscribe(
    db: Database,
    clock: Clock,
    sealer: Sealer,
    organization_id: OrganizationId,
    project_id: str,
    url: str,
    wanted: list[str],
    secret: str | None,
    *,
    allow_private: bool,
) -> tuple[store.Webhook, str]:
    """A new webhook; its signing secret (the one given, or a new one)."""
    unknown = sorted(set(wanted) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"unknown event types {unknown}", errors=[{"loc": ["events"], "msg": f"one of {list(EVENT_TYPES)}"}]
        )
    await check_url(url, allow_private=allow_private)
    secret = secret or secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        hook = await store.insert_webhook(
            conn,
            {
                "id": new_id("whk"),
                "organization_id": organization_id,
                "project_id": project.id,
                "url": url,
                "events": sorted(set(wanted)),
                "sealed_secret": sealer.seal(secret),
                "status": "active",
                "created_at": clock.now(),
            },
        )
    return hook, secret


async def check_url(url: str, *, allow_private: bool) -> None:
    """http(s) only, and unless allowed, no host that resolves to a
    loopback, private or otherwise non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad_url("must be an http(s) URL with a host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise _bad_url(f"host does not resolve: {exc}") from exc
    if any(forbidden_address(str(info[4][0])) for info in infos):
        raise _bad_url("resolves to a loopback or private address")


def _bad_url(reason: str) -> ValidationFailed:
    return ValidationFailed(f"webhook url {reason}", errors=[{"loc": ["url"], "msg": reason}])


async def deliver_due(delivery: Delivery) -> int:
    """Attempt every delivery that is due; how many succeeded."""
    async with delivery.db.read() as conn:
        due = await store.due(conn, delivery.clock.now(), BATCH)
    if not due:
        return 0
    outcomes = await asyncio.gather(*(_attempt(delivery, d) for d in due))
    now = delivery.clock.now()
    async with delivery.db.transaction() as conn:
        for item, (status, error, took) in zip(due, outcomes, strict=True):
            await store.record_attempt(conn, item, now, status, error, took)
            if status is not None and 200 <= status < 300:
                await store.delivered(conn, item, now)
            elif now - item.created_at >= GIVE_UP_AFTER:
                await store.failed(conn, item, None, now)
                await store.disable(conn, item.webhook_id, now)
                log.warning("webhook disabled after a day of failures", extra={"webhook_id": item.webhook_id})
            else:
                wait = retry_delay(item.attempts + 1, delivery.rng)
                await store.failed(conn, item, now + timedelta(seconds=wait), now)
    return sum(1 for status, _, _ in outcomes if status is not None and 200 <= status < 300)


def event_body(item: store.Due) -> bytes:
    return json.dumps(
        {
            "id": item.event_public_id,
            "type": item.event_type,
            "project_id": item.project_id,
            "created_at": item.event_created_at.isoformat(),
            "data": item.event_data,
        },
        separators=(",", ":"),
    ).encode()


async def _attempt(delivery: Delivery, item: store.Due) -> tuple[int | None, str | None, int]:
    """POST one event: ``(status, error, milliseconds)``."""
    started = time.perf_counter()
    body = event_body(item)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "crowd-webhooks",
        "Crowd-Event-Id": item.event_public_id,
        "Crowd-Event-Type": item.event_type,
        SIGNATURE_HEADER: sign(delivery.sealer.unseal(item.sealed_secret), int(delivery.clock.now().timestamp()), body),
    }
    try:
        await check_url(item.url, allow_private=delivery.allow_private)  # DNS may have changed since
    except ValidationFailed as exc:
        return None, exc.detail, _ms(started)
    status, error = await delivery.send(item.url, body, headers, delivery.timeout)
    return status, error, _ms(started)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def webhook_attempts(
    db: Database, organization_id: OrganizationId, webhook_id: str, limit: int
) -> tuple[store.Webhook, list[store.AttemptRow]]:
    async with db.read() as conn:
        hook = await store.webhook(conn, webhook_id, organization_id)
        if hook is None:
            raise NotFound(f"no webhook {webhook_id}")
        return hook, await store.attempts(conn, hook.id, limit)


async def list_webhooks(db: Database, organization_id: OrganizationId, project_id: str) -> list[store.Webhook]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        return await store.project_webhooks(conn, project.id)
