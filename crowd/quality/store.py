"""SQL of quality: reports, the review queue, and the answers the
agreement and drift figures are computed from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import answers, reports, tasks
from crowd.db.upsert import insert_for
from crowd.ids import ProjectId, TaskId, WorkerId


async def fast_in_window(conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId, window: int) -> int:
    """How many of the worker's last ``window`` answers in the project were too fast."""
    last = (
        select(answers.c.fast)
        .where(answers.c.project_id == project_id, answers.c.worker_id == worker_id)
        .order_by(answers.c.id.desc())
        .limit(window)
        .subquery()
    )
    query = select(func.count()).select_from(last).where(last.c.fast.is_(True))
    return int((await conn.execute(query)).scalar_one())


async def insert_report(
    conn: AsyncConnection,
    assignment_id: int,
    project_id: ProjectId,
    task_id: TaskId,
    worker_id: WorkerId,
    reason: str,
    now: datetime,
) -> bool:
    """Store a worker's report; False if this assignment was reported before."""
    statement = (
        insert_for(conn, reports)
        .values(
            assignment_id=assignment_id,
            project_id=project_id,
            task_id=task_id,
            worker_id=worker_id,
            reason=reason,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[reports.c.assignment_id])
        .returning(reports.c.id)
    )
    return (await conn.execute(statement)).scalar() is not None


async def send_to_review(conn: AsyncConnection, task_ids: list[int], reason: str) -> int:
    """Queue real tasks for an expert, unless an expert decided them already."""
    statement = (
        update(tasks)
        .where(tasks.c.id.in_(task_ids), tasks.c.is_gold.is_(False), tasks.c.review_status.is_(None))
        .values(review_status="pending", review_reason=reason)
    )
    return (await conn.execute(statement)).rowcount


async def task_ids_by_external(conn: AsyncConnection, project_id: ProjectId, external_ids: list[str]) -> dict[str, int]:
    query = select(tasks.c.external_id, tasks.c.id).where(
        tasks.c.project_id == project_id, tasks.c.external_id.in_(external_ids), tasks.c.is_gold.is_(False)
    )
    return {row[0]: row[1] for row in await conn.execute(query)}


@dataclass(frozen=True, slots=True)
class QueuedTask:
    id: int
    external_id: str
    data: dict[str, Any]
    status: str
    label: str | None
    confidence: float | None
    posterior: dict[str, float] | None
    review_reason: str | None


async def review_queue(conn: AsyncConnection, project_id: ProjectId, after: int, limit: int) -> list[QueuedTask]:
    query = (
        select(
            tasks.c.id,
            tasks.c.external_id,
            tasks.c.data,
            tasks.c.status,
            tasks.c.label,
            tasks.c.confidence,
            tasks.c.posterior,
            tasks.c.review_reason,
        )
        .where(tasks.c.project_id == project_id, tasks.c.review_status == "pending", tasks.c.id > after)
        .order_by(tasks.c.id)
        .limit(limit)
    )
    return [QueuedTask(*row) for row in (await conn.execute(query)).all()]


async def reports_of(conn: AsyncConnection, task_ids: list[int]) -> dict[int, list[tuple[str, datetime]]]:
    query = select(reports.c.task_id, reports.c.reason, reports.c.created_at).where(reports.c.task_id.in_(task_ids))
    found: dict[int, list[tuple[str, datetime]]] = {}
    for task_id, reason, at in await conn.execute(query.order_by(reports.c.id)):
        found.setdefault(task_id, []).append((reason, at))
    return found


@dataclass(frozen=True, slots=True)
class ReviewTarget:
    id: TaskId
    status: str
    data: dict[str, Any]
    batch_id: str | None
    answer_count: int
    lease_count: int


async def task_for_decision(conn: AsyncConnection, project_id: ProjectId, external_id: str) -> ReviewTarget | None:
    query = (
        select(tasks.c.id, tasks.c.status, tasks.c.data, tasks.c.batch_id, tasks.c.answer_count, tasks.c.lease_count)
        .where(tasks.c.project_id == project_id, tasks.c.external_id == external_id, tasks.c.is_gold.is_(False))
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return ReviewTarget(TaskId(row[0]), *row[1:]) if row else None


async def decide(conn: AsyncConnection, task: ReviewTarget, label: str, decided_by: str, now: datetime) -> None:
    """The expert's label becomes the task's result, completed and certain.
    An open task's target drops to what it holds, so it hands out no more."""
    values: dict[str, Any] = {
        "review_status": "decided",
        "expert_label": label,
        "decided_by": decided_by,
        "label": label,
        "confidence": 1.0,
        "status": "completed",
        "target_overlap": max(task.answer_count + task.lease_count, 1),
    }
    if task.status != "completed":
        values["completed_at"] = now
    await conn.execute(update(tasks).where(tasks.c.id == task.id).values(**values))


# the inputs of the figures -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledTask:
    id: int
    batch_id: str | None
    status: str
    label: str | None
    confidence: float | None
    review_status: str | None
    completed_at: datetime | None


async def real_tasks(conn: AsyncConnection, project_id: ProjectId, batch_id: str | None) -> list[LabelledTask]:
    query = select(
        tasks.c.id,
        tasks.c.batch_id,
        tasks.c.status,
        tasks.c.label,
        tasks.c.confidence,
        tasks.c.review_status,
        tasks.c.completed_at,
    ).where(tasks.c.project_id == project_id, tasks.c.is_gold.is_(False))
    if batch_id is not None:
        query = query.where(tasks.c.batch_id == batch_id)
    return [LabelledTask(*row) for row in (await conn.execute(query)).all()]


async def real_answers(
    conn: AsyncConnection, project_id: ProjectId, batch_id: str | None
) -> list[tuple[int, str, str, bool]]:
    """``(task id, worker id, label, fast)`` of every answer on a real task."""
    query = (
        select(answers.c.task_id, answers.c.worker_id, answers.c.label, answers.c.fast)
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.project_id == project_id, tasks.c.is_gold.is_(False))
    )
    if batch_id is not None:
        query = query.where(tasks.c.batch_id == batch_id)
    return [(t, w, label, bool(fast)) for t, w, label, fast in await conn.execute(query)]


async def recent_answers(
    conn: AsyncConnection, project_id: ProjectId, per_worker: int
) -> list[tuple[str, bool | None, int, bool]]:
    """``(worker, gold correct or None, duration ms, fast)`` of each worker's
    latest ``per_worker`` answers, newest first."""
    ranked = (
        select(
            answers.c.worker_id,
            tasks.c.is_gold,
            (answers.c.label == tasks.c.gold_label).label("correct"),
            answers.c.duration_ms,
            answers.c.fast,
            func.row_number().over(partition_by=answers.c.worker_id, order_by=answers.c.id.desc()).label("rank"),
        )
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.project_id == project_id)
        .subquery()
    )
    query = select(ranked.c.worker_id, ranked.c.is_gold, ranked.c.correct, ranked.c.duration_ms, ranked.c.fast).where(
        ranked.c.rank <= per_worker
    )
    return [(w, bool(c) if g else None, int(ms), bool(f)) for w, g, c, ms, f in await conn.execute(query)]
