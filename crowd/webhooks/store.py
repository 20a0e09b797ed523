"""SQL of webhooks: subscriptions, due deliveries, attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import events, webhook_attempts, webhook_deliveries, webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    project_id: str
    url: str
    events: list[str]
    status: str
    failures: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now, with what it carries."""

    id: int
    attempts: int
    created_at: datetime
    webhook_id: str
    url: str
    sealed_secret: str
    event_public_id: str
    event_type: str
    event_data: dict[str, Any]
    event_created_at: datetime
    project_id: str


async def insert_webhook(conn: AsyncConnection, values: dict[str, Any]) -> Webhook:
    await conn.execute(insert(webhooks).values(**values))
    found = await webhook(conn, values["id"], values["organization_id"])
    assert found is not None
    return found


async def webhook(conn: AsyncConnection, webhook_id: str, organization_id: str) -> Webhook | None:
    query = select(*_WEBHOOK).where(webhooks.c.id == webhook_id, webhooks.c.organization_id == organization_id)
    row = (await conn.execute(query)).first()
    return Webhook(*row) if row else None


async def project_webhooks(conn: AsyncConnection, project_id: str) -> list[Webhook]:
    query = select(*_WEBHOOK).where(webhooks.c.project_id == project_id).order_by(webhooks.c.created_at, webhooks.c.id)
    return [Webhook(*row) for row in (await conn.execute(query)).all()]


_WEBHOOK = (
    webhooks.c.id,
    webhooks.c.project_id,
    webhooks.c.url,
    webhooks.c.events,
    webhooks.c.status,
    webhooks.c.failures,
    webhooks.c.created_at,
)


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[Due]:
    query = (
        select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.created_at,
            webhooks.c.id,
            webhooks.c.url,
            webhooks.c.sealed_secret,
            events.c.public_id,
            events.c.type,
            events.c.data,
            events.c.created_at,
            events.c.project_id,
        )
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            webhooks.c.status == "active",
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    return [Due(*row) for row in (await conn.execute(query)).all()]


async def record_attempt(
    conn: AsyncConnection, delivery: Due, at: datetime, status_code: int | None, error: str | None, duration_ms: int
) -> None:
    await conn.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery.id, attempted_at=at, status_code=status_code, error=error, duration_ms=duration_ms
        )
    )


async def delivered(conn: AsyncConnection, delivery: Due, at: datetime) -> None:
    await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery.id)
        .values(status="delivered", attempts=delivery.attempts + 1, finished_at=at)
    )
    await conn.execute(update(webhooks).where(webhooks.c.id == delivery.webhook_id).values(failures=0))


async def failed(conn: AsyncConnection, delivery: Due, next_attempt_at: datetime | None, at: datetime) -> None:
    """One more failure; ``next_attempt_at`` None gives the delivery up."""
    values: dict[str, Any] = {"attempts": delivery.attempts + 1}
    if next_attempt_at is None:
        values.update(status="failed", finished_at=at)
    else:
        values["next_attempt_at"] = next_attempt_at
    await conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery.id).values(**values))
    await conn.execute(
        update(webhooks).where(webhooks.c.id == delivery.webhook_id).values(failures=webhooks.c.failures + 1)
    )


async def disable(conn: AsyncConnection, webhook_id: str, at: datetime) -> None:
    await conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(status="disabled", disabled_at=at))


@dataclass(frozen=True, slots=True)
class AttemptRow:
    delivery_id: int
    event_id: str
    event_type: str
    delivery_status: str
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


async def attempts(conn: AsyncConnection, webhook_id: str, limit: int) -> list[AttemptRow]:
    query = (
        select(
            webhook_deliveries.c.id,
            events.c.public_id,
            events.c.type,
            webhook_deliveries.c.status,
            webhook_attempts.c.attempted_at,
            webhook_attempts.c.status_code,
            webhook_attempts.c.error,
            webhook_attempts.c.duration_ms,
        )
        .join(webhook_deliveries, webhook_deliveries.c.id == webhook_attempts.c.delivery_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(webhook_deliveries.c.webhook_id == webhook_id)
        .order_by(webhook_attempts.c.id.desc())
        .limit(limit)
    )
    return [AttemptRow(*row) for row in (await conn.execute(query)).all()]
