"""What follows a task's completion, in the same transaction: the review
queue (below ``review_threshold``) and the outbox (``task.completed``, and
``batch.completed`` when it was the batch's last open task). Pay does not
move here: rewards are approved, and bonuses paid, when their review period
ends (``crowd.payments.service.approve_due``), as for gold, which never
completes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.events import store as events
from crowd.ids import TaskId
from crowd.projects import store as projects
from crowd.projects.models import Project
from crowd.quality import store as quality


async def task_completed(
    conn: AsyncConnection, project: Project, task_id: TaskId, task: projects.TaskOutcome, now: datetime
) -> None:
    """``task``: what it completed with, as the write that completed it returned."""
    assert task.label is not None
    if project.review_threshold > 0 and (task.confidence or 0.0) < project.review_threshold:
        await quality.send_to_review(conn, [task_id], "low_confidence")  # an expert settles it
    data = {
        "task": task.external_id,
        "batch_id": task.batch_id,
        "label": task.label,
        "confidence": task.confidence,
        "posterior": task.posterior,
        "answers": task.answers,
    }
    await events.emit(conn, project.organization_id, project.id, events.TASK_COMPLETED, data, now)
    if task.batch_id is not None and await projects.batch_finished(conn, task.batch_id):
        await events.emit(
            conn,
            project.organization_id,
            project.id,
            events.BATCH_COMPLETED,
            {"batch_id": task.batch_id},
            now,
            dedupe_key=f"{events.BATCH_COMPLETED}:{task.batch_id}",
        )
