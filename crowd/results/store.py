"""SQL for reading results and answers out, in id order, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import answers, tasks
from crowd.ids import ProjectId


@dataclass(frozen=True, slots=True)
class TaskResult:
    id: int
    external_id: str
    status: str
    label: str | None
    confidence: float | None
    posterior: dict[str, float] | None
    answers: int


@dataclass(frozen=True, slots=True)
class AnswerRow:
    id: int
    task: str
    worker: str
    label: str
    created_at: datetime


async def task_results(
    conn: AsyncConnection, project_id: ProjectId, after: int, limit: int, status: str | None = None
) -> list[TaskResult]:
    query = (
        select(
            tasks.c.id,
            tasks.c.external_id,
            tasks.c.status,
            tasks.c.label,
            tasks.c.confidence,
            tasks.c.posterior,
            tasks.c.answer_count,
        )
        .where(tasks.c.project_id == project_id, tasks.c.is_gold.is_(False), tasks.c.id > after)
        .order_by(tasks.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(tasks.c.status == status)
    return [TaskResult(*row) for row in await conn.execute(query)]


async def answer_rows(conn: AsyncConnection, project_id: ProjectId, after: int, limit: int) -> list[AnswerRow]:
    query = (
        select(answers.c.id, tasks.c.external_id, answers.c.worker_id, answers.c.label, answers.c.created_at)
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.project_id == project_id, tasks.c.is_gold.is_(False), answers.c.id > after)
        .order_by(answers.c.id)
        .limit(limit)
    )
    return [AnswerRow(*row) for row in await conn.execute(query)]
