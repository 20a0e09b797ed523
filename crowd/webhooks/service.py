"""Use cases of webhooks: subscribe, delete, deliver due events, list attempts."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import NotFound, TooManyWebhooks, ValidationFailed
from crowd.events.store import EVENT_TYPES
from crowd.ids import OrganizationId, new_id
from crowd.projects.access import require_project
from crowd.webhooks import store
from crowd.webhooks.policy import (
    ADDRESS_REFUSED,
    GIVE_UP_AFTER,
    INTERNAL_ERROR,
    MAX_WEBHOOKS_PER_PROJECT,
    NO_RESPONSE,
    PER_WEBHOOK,
    REPLY_BYTES,
    SECRET_UNAVAILABLE,
    SIGNATURE_HEADER,
    public_address,
    retry_delay,
    sign,
)
from crowd.webhooks.ports import NoResponse, Resolve, Send
from crowd.webhooks.sealing import Sealer

log = logging.getLogger(__name__)

BATCH = 50


class RefusedAddress(Exception):
    """The URL's host does not resolve to public addresses only."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the delivery loop needs."""

    db: Database
    send: Send
    resolve: Resolve
    sealer: Sealer
    clock: Clock
    rng: random.Random
    allow_private: bool
    timeout: float
    """Seconds for all of one attempt: resolving the name, connecting, sending, the reply."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: the reply's status, or the class of failure; its time only with a reply."""

    status: int | None
    failure: str | None = None
    duration_ms: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def subscribe(
    db: Database,
    clock: Clock,
    sealer: Sealer,
    resolve: Resolve,
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
    await check_url(url, resolve, allow_private=allow_private)
    secret = secret or secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        if await store.lock_project_webhooks(conn, project.id) >= MAX_WEBHOOKS_PER_PROJECT:
            raise TooManyWebhooks(f"a project has at most {MAX_WEBHOOKS_PER_PROJECT} webhooks; delete one first")
        hook = await store.insert_webhook(
            conn,
            {
                "id": new_id("whk"),
                "organization_id": organization_id,
                "project_id": project.id,
                "url": url,
                "events": sorted(set(wanted)),
                "sealed_secret": sealer.seal(secret),
                "status": store.ACTIVE,
                "created_at": clock.now(),
            },
        )
    return hook, secret


async def check_url(url: str, resolve: Resolve, *, allow_private: bool) -> None:
    """http(s) only, and unless allowed, a host that resolves to public
    addresses only. Whether a name does not resolve or resolves inside is
    not told apart: the server's resolver must not become a way to learn
    which internal names exist."""
    try:
        _host_and_port(url)
    except ValueError as exc:
        raise _bad_url("must be an http(s) URL with a host") from exc
    if allow_private:
        return
    try:
        await resolve_public(url, resolve, allow_private=False)
    except RefusedAddress as exc:
        raise _bad_url("must name a host that resolves to public addresses only") from exc


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def resolve_public(url: str, resolve: Resolve, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``url``, resolved once; every one
    public unless ``allow_private``."""
    try:
        host, port = _host_and_port(url)
    except ValueError as exc:
        raise RefusedAddress(url) from exc
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise RefusedAddress(host) from exc
    if not addresses or not (allow_private or all(public_address(a) for a in addresses)):
        raise RefusedAddress(host)
    return addresses


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bad_url(reason: str) -> ValidationFailed:
    return ValidationFailed(f"webhook url {reason}", errors=[{"loc": ["url"], "msg": reason}])


async def delete(db: Database, clock: Clock, organization_id: OrganizationId, project_id: str, webhook_id: str) -> None:
    """Delete the webhook; deleting it again does nothing. Another
    organization's webhook, or one of another project, is not found."""
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        hook = await store.webhook(conn, webhook_id, organization_id)
        if hook is None or hook.project_id != project.id:
            raise NotFound(f"no webhook {webhook_id}")
        await store.delete_webhook(conn, hook.id, clock.now())


async def deliver_due(delivery: Delivery) -> int:
    """Attempt every delivery that is due; how many succeeded. Each attempt
    fails on its own (a dead endpoint, a secret that cannot be unsealed):
    the others are made and recorded all the same."""
    started = delivery.clock.now()
    async with delivery.db.read() as conn:
        due = await store.due(conn, started, BATCH, PER_WEBHOOK, 1)
    if not due:
        return 0
    outcomes = await asyncio.gather(*(_attempt(delivery, item) for item in due))
    async with delivery.db.transaction() as conn:
        for item, outcome in zip(due, outcomes, strict=True):
            await _record(conn, delivery, item, outcome, started)
    return sum(outcome.delivered for outcome in outcomes)


async def _record(conn: AsyncConnection, delivery: Delivery, item: store.Due, outcome: Outcome, at: datetime) -> None:
    """Store the attempt as made at the batch's start (the moment it ended
    would tell how long it took) and schedule what follows."""
    await store.record_attempt(conn, item, at, outcome.status, outcome.failure, outcome.duration_ms)
    if outcome.delivered:
        await store.delivered(conn, item, at)
    elif at - item.created_at >= GIVE_UP_AFTER:
        await store.failed(conn, item, None, at)
        await store.disable(conn, item.webhook_id, at)
        log.warning("webhook disabled after a day of failures", extra={"webhook_id": item.webhook_id})
    else:
        wait = retry_delay(item.attempts + 1, delivery.rng)
        await store.failed(conn, item, at + timedelta(seconds=wait), at)


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


async def _attempt(delivery: Delivery, item: store.Due) -> Outcome:
    """POST one event, never raising: the outcome says what happened."""
    try:
        secret = delivery.sealer.unseal(item.sealed_secret)
    except Exception:
        log.warning("webhook secret cannot be unsealed", extra={"webhook_id": item.webhook_id}, exc_info=True)
        return Outcome(None, SECRET_UNAVAILABLE)
    body = event_body(item)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "crowd-webhooks",
        "Crowd-Event-Id": item.event_public_id,
        "Crowd-Event-Type": item.event_type,
        SIGNATURE_HEADER: sign(secret, int(delivery.clock.now().timestamp()), body),
    }
    started = time.perf_counter()
    try:
        async with asyncio.timeout(delivery.timeout):
            addresses = await resolve_public(item.url, delivery.resolve, allow_private=delivery.allow_private)
            status = await delivery.send(item.url, addresses, body, headers, REPLY_BYTES)
    except RefusedAddress:
        return Outcome(None, ADDRESS_REFUSED)
    except (NoResponse, TimeoutError) as exc:
        log.info("webhook got no reply", extra={"webhook_id": item.webhook_id, "reason": type(exc).__name__})
        return Outcome(None, NO_RESPONSE)
    except Exception:
        log.exception("webhook delivery failed", extra={"webhook_id": item.webhook_id})
        return Outcome(None, INTERNAL_ERROR)
    return Outcome(status, None, int((time.perf_counter() - started) * 1000))


async def webhook_attempts(
    db: Database, organization_id: OrganizationId, project_id: str, webhook_id: str, limit: int
) -> tuple[store.Webhook, list[store.AttemptRow]]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        hook = await store.webhook(conn, webhook_id, organization_id)
        if hook is None or hook.project_id != project.id or hook.status == store.DELETED:
            raise NotFound(f"no webhook {webhook_id}")
        return hook, await store.attempts(conn, hook.id, limit)


async def list_webhooks(db: Database, organization_id: OrganizationId, project_id: str) -> list[store.Webhook]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        return await store.project_webhooks(conn, project.id)
