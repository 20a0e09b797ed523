"""SQL of the outbox: events are written with the change that causes them,
together with a delivery row for each webhook that wants them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.hot import Hot
from crowd.db.schema import events, webhook_deliveries, webhooks
from crowd.db.types import Json, UtcDateTime
from crowd.ids import new_id

TASK_COMPLETED = "task.completed"
BATCH_COMPLETED = "batch.completed"
WORKER_BLOCKED = "worker.blocked"
BUDGET_EXHAUSTED = "budget.exhausted"
QUALITY_ALERT = "quality.alert"
TASK_REVIEWED = "task.reviewed"
TASK_RELABELED = "task.relabeled"
EVENT_TYPES = (
    TASK_COMPLETED,
    BATCH_COMPLETED,
    WORKER_BLOCKED,
    BUDGET_EXHAUSTED,
    QUALITY_ALERT,
    TASK_REVIEWED,
    TASK_RELABELED,
)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    public_id: str
    project_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


async def emit(
    conn: AsyncConnection,
    organization_id: str,
    project_id: str,
    type_: str,
    data: dict[str, Any],
    now: datetime,
    *,
    dedupe_key: str | None = None,
) -> bool:
    """Write an event and queue it for every active webhook of the project
    that subscribed to its type. With a ``dedupe_key`` that was used before,
    nothing is written (False)."""
    values = {
        "public_id": new_id("evt", 24),
        "dedupe_key": dedupe_key,
        "organization_id": organization_id,
        "project_id": project_id,
        "type": type_,
        "data": data,
        "created_at": now,
    }
    if conn.dialect.name == "postgresql":
        return await _PG_EMIT.row(conn, values) is not None
    event_id = (await conn.execute(_SQLITE_EMIT, values)).scalar()
    if event_id is None:
        return False
    targets = [hook for hook, wanted in await conn.execute(_SUBSCRIBED, {"project_id": project_id}) if type_ in wanted]
    if targets:
        await conn.execute(
            _DELIVER,
            [
                {
                    "webhook_id": hook,
                    "event_id": event_id,
                    "status": "pending",
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for hook in targets
            ],
        )
    return True


# PostgreSQL writes the event and its deliveries in one statement.
_PG_EMIT = Hot(
    text(
        """
    WITH event AS (
        INSERT INTO events (public_id, dedupe_key, organization_id, project_id, type, data, created_at)
        VALUES (:public_id, :dedupe_key, :organization_id, :project_id, :type, :data, :created_at)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id
    ), queued AS (
        INSERT INTO webhook_deliveries (webhook_id, event_id, status, next_attempt_at, created_at)
        SELECT hook.id, event.id, 'pending', :created_at, :created_at
        FROM event JOIN webhooks AS hook
            ON hook.project_id = :project_id AND hook.status = 'active' AND hook.events ? :type
    )
    SELECT id FROM event
    """
    ).bindparams(bindparam("data", type_=Json), bindparam("created_at", type_=UtcDateTime()))
)
# SQLite's: the event, then its deliveries (PostgreSQL: _PG_EMIT)
_SQLITE_EMIT = sqlite.insert(events).on_conflict_do_nothing(index_elements=[events.c.dedupe_key]).returning(events.c.id)
_SUBSCRIBED = select(webhooks.c.id, webhooks.c.events).where(
    webhooks.c.project_id == bindparam("project_id"), webhooks.c.status == "active"
)
_DELIVER = insert(webhook_deliveries)


async def feed(conn: AsyncConnection, project_id: str, after: int, limit: int) -> list[Event]:
    query = (
        select(events.c.id, events.c.public_id, events.c.project_id, events.c.type, events.c.data, events.c.created_at)
        .where(events.c.project_id == project_id, events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [Event(*row) for row in (await conn.execute(query)).all()]
