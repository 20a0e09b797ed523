"""SQL of webhooks: subscriptions, due deliveries, attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import events, projects, webhook_attempts, webhook_deliveries, webhooks

ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"


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
    """The organization's webhook, deleted ones included."""
    query = select(*_WEBHOOK).where(webhooks.c.id == webhook_id, webhooks.c.organization_id == organization_id)
    row = (await conn.execute(query)).first()
    return Webhook(*row) if row else None


async def project_webhooks(conn: AsyncConnection, project_id: str) -> list[Webhook]:
    """The project's webhooks that were not deleted, oldest first."""
    query = (
        select(*_WEBHOOK)
        .where(webhooks.c.project_id == project_id, webhooks.c.status != DELETED)
        .order_by(webhooks.c.created_at, webhooks.c.id)
    )
    return [Webhook(*row) for row in (await conn.execute(query)).all()]


async def lock_project_webhooks(conn: AsyncConnection, project_id: str) -> int:
    """Take the project's row lock, so concurrent subscriptions to one project
    count its webhooks one after the other (PostgreSQL: ``FOR NO KEY UPDATE``,
    which leaves the inserts that reference the project alone; SQLite: the
    write transaction is already exclusive), and count them."""
    lock = select(projects.c.id).where(projects.c.id == project_id).with_for_update(key_share=True)
    await conn.execute(lock)
    count = select(func.count()).where(webhooks.c.project_id == project_id, webhooks.c.status != DELETED)
    return int((await conn.execute(count)).scalar_one())


async def delete_webhook(conn: AsyncConnection, webhook_id: str, at: datetime) -> None:
    """Mark the webhook deleted and give up its pending deliveries. The row
    stays, with its attempts, so a repeated DELETE finds it again."""
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.status != DELETED)
        .values(status=DELETED, deleted_at=at)
    )
    await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.status == "pending")
        .values(status="failed", finished_at=at)
    )


_WEBHOOK = (
    webhooks.c.id,
    webhooks.c.project_id,
    webhooks.c.url,
    webhooks.c.events,
    webhooks.c.status,
    webhooks.c.failures,
    webhooks.c.created_at,
)


async def due(
    conn: AsyncConnection, now: datetime, limit: int, per_webhook: int, failing_per_webhook: int
) -> list[Due]:
    """Deliveries to attempt now, oldest first, but at most ``per_webhook`` of
    any one webhook (``failing_per_webhook`` of one whose last attempt
    failed), so one endpoint's backlog never fills a batch and keeps other
    webhooks and organizations waiting."""
    turn = (
        func.row_number()
        .over(
            partition_by=webhook_deliveries.c.webhook_id,
            order_by=(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id),
        )
        .label("turn")
    )
    waiting = (
        select(webhook_deliveries.c.id, turn)
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            webhooks.c.status == ACTIVE,
        )
        .subquery()
    )
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
        .join(waiting, waiting.c.id == webhook_deliveries.c.id)
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(waiting.c.turn <= case((webhooks.c.failures > 0, failing_per_webhook), else_=per_webhook))
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    return [Due(*row) for row in (await conn.execute(query)).all()]


async def record_attempt(
    conn: AsyncConnection,
    delivery: Due,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int | None,
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
    """Stop an active webhook (a deleted one stays deleted)."""
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.status == ACTIVE)
        .values(status=DISABLED, disabled_at=at)
    )


@dataclass(frozen=True, slots=True)
class AttemptRow:
    delivery_id: int
    event_id: str
    event_type: str
    delivery_status: str
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


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
