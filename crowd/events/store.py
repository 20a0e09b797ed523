"""SQL of the outbox: events are written with the change that causes them,
together with a delivery row for each webhook that wants them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import events, webhook_deliveries, webhooks
from crowd.db.upsert import insert_for
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
    statement = (
        insert_for(conn, events)
        .values(
            public_id=new_id("evt", 24),
            dedupe_key=dedupe_key,
            organization_id=organization_id,
            project_id=project_id,
            type=type_,
            data=data,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[events.c.dedupe_key])
        .returning(events.c.id)
    )
    event_id = (await conn.execute(statement)).scalar()
    if event_id is None:
        return False
    subscribed = select(webhooks.c.id, webhooks.c.events).where(
        webhooks.c.project_id == project_id, webhooks.c.status == "active"
    )
    targets = [hook for hook, wanted in await conn.execute(subscribed) if type_ in wanted]
    if targets:
        await conn.execute(
            insert(webhook_deliveries),
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


async def feed(conn: AsyncConnection, project_id: str, after: int, limit: int) -> list[Event]:
    query = (
        select(events.c.id, events.c.public_id, events.c.project_id, events.c.type, events.c.data, events.c.created_at)
        .where(events.c.project_id == project_id, events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [Event(*row) for row in (await conn.execute(query)).all()]
