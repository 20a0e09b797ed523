"""SQL for reading results and answers out, in id order, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import answers, tasks
from crowd.ids import ProjectId


@dataclass(frozen=True, slots=True)
class AnswerRow:
    id: int
    task: str
    worker: str
    label: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TaskResult:
    id: int
    external_id: str
    status: str
    label: str | None
    confidence: float | None
    posterior: dict[str, float] | None
    answers: int
    expert: bool = False
    """The label is an expert's, not the consensus."""
    data: dict[str, Any] | None = None
    votes: list[AnswerRow] | None = None


async def task_results(
    conn: AsyncConnection,
    project_id: ProjectId,
    after: int,
    limit: int,
    status: str | None = None,
    include: frozenset[str] = frozenset(),
) -> list[TaskResult]:
    """A page of real tasks' results; ``include`` may add each task's
    ``data`` and its ``answers`` (one more query for the whole page)."""
    columns = [
        tasks.c.id,
        tasks.c.external_id,
        tasks.c.status,
        tasks.c.label,
        tasks.c.confidence,
        tasks.c.posterior,
        tasks.c.answer_count.label("answers"),
        tasks.c.expert_label.is_not(None).label("expert"),
    ]
    if "data" in include:
        columns.append(tasks.c.data)
    query = (
        select(*columns)
        .where(tasks.c.project_id == project_id, tasks.c.is_gold.is_(False), tasks.c.id > after)
        .order_by(tasks.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(tasks.c.status == status)
    found = [TaskResult(**row._asdict()) for row in await conn.execute(query)]
    if "answers" not in include or not found:
        return found
    votes = await answers_of(conn, [r.id for r in found])
    return [replace(r, votes=votes.get(r.id, [])) for r in found]


async def answers_of(conn: AsyncConnection, task_ids: list[int]) -> dict[int, list[AnswerRow]]:
    query = (
        select(
            answers.c.task_id,
            answers.c.id,
            tasks.c.external_id,
            answers.c.worker_id,
            answers.c.label,
            answers.c.created_at,
        )
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.task_id.in_(task_ids))
        .order_by(answers.c.id)
    )
    grouped: dict[int, list[AnswerRow]] = {}
    for task_id, *row in await conn.execute(query):
        grouped.setdefault(task_id, []).append(AnswerRow(*row))
    return grouped


async def answer_rows(conn: AsyncConnection, project_id: ProjectId, after: int, limit: int) -> list[AnswerRow]:
    query = (
        select(answers.c.id, tasks.c.external_id, answers.c.worker_id, answers.c.label, answers.c.created_at)
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.project_id == project_id, tasks.c.is_gold.is_(False), answers.c.id > after)
        .order_by(answers.c.id)
        .limit(limit)
    )
    return [AnswerRow(*row) for row in await conn.execute(query)]
