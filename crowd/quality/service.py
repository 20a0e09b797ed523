"""Use cases of quality: fast answers, the review queue, expert decisions,
the quality and drift reports, and alerts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import completion
from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import NotFound, UnknownLabel
from crowd.events import store as events
from crowd.gold import service as gold
from crowd.gold import store as gold_store
from crowd.identity.models import ApiKey
from crowd.ids import OrganizationId, ProjectId, TaskId, WorkerId
from crowd.projects import store as projects
from crowd.projects.access import require_project
from crowd.projects.models import Project
from crowd.quality import figures, store
from crowd.results.store import answers_of

LOW_CONFIDENCE_ALERT = 0.5
"""A batch whose completed tasks are below the confidence target more
often than this raises a ``quality.alert``."""


async def after_fast_answer(conn: AsyncConnection, project: Project, worker_id: WorkerId, now: datetime) -> bool:
    """With ``fast_policy`` ``block``: block a worker with ``fast_limit``
    too-fast answers among their last ``fast_window``; True if blocked."""
    if project.fast_policy != "block":
        return False
    if await store.fast_in_window(conn, project.id, worker_id, project.fast_window) < project.fast_limit:
        return False
    return await gold.block(conn, project, worker_id, "fast", now)


async def report_task(
    conn: AsyncConnection, project_id: ProjectId, assignment_id: int, task_id: TaskId, worker_id: WorkerId,
    reason: str, is_gold: bool, now: datetime,
) -> None:  # fmt: skip
    """Keep a worker's report; a reported real task goes to review."""
    if await store.insert_report(conn, assignment_id, project_id, task_id, worker_id, reason, now) and not is_gold:
        await store.send_to_review(conn, [task_id], "reported")


async def send_to_review(
    db: Database, organization_id: OrganizationId, project_id: str, external_ids: list[str]
) -> int:
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        found = await store.task_ids_by_external(conn, project.id, external_ids)
        missing = sorted(set(external_ids) - set(found))
        if missing:
            raise NotFound(f"no tasks {missing[:10]}")
        return await store.send_to_review(conn, list(found.values()), "operator")


@dataclass(frozen=True, slots=True)
class QueueItem:
    task: store.QueuedTask
    answers: list[tuple[str, str, datetime]]
    reports: list[tuple[str, datetime]]


async def review_queue(
    db: Database, organization_id: OrganizationId, project_id: str, after: int, limit: int
) -> tuple[Project, list[QueueItem]]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        queued = await store.review_queue(conn, project.id, after, limit)
        ids = [t.id for t in queued]
        votes = await answers_of(conn, ids) if ids else {}
        reports = await store.reports_of(conn, ids) if ids else {}
    items = [
        QueueItem(t, [(a.worker, a.label, a.created_at) for a in votes.get(t.id, [])], reports.get(t.id, []))
        for t in queued
    ]
    return project, items


async def decide(
    db: Database,
    clock: Clock,
    key: ApiKey,
    project_id: str,
    external_id: str,
    label: str,
    *,
    promote_to_gold: bool,
    explanation: str | None,
) -> dict[str, Any]:
    """An expert's final label: it overrides consensus, is marked expert-
    decided in results, counts as clamped truth in the next fit, and
    (``promote_to_gold``) joins the gold set."""
    now = clock.now()
    async with db.transaction() as conn:
        project = await require_project(conn, key.organization_id, project_id)
        if label not in project.labels:
            raise UnknownLabel(f"{label!r} is not one of {project.labels}")
        task = await store.task_for_decision(conn, project.id, external_id)
        if task is None:
            raise NotFound(f"no task {external_id}")
        await store.decide(conn, task, label, key.id, now)
        if task.status != "completed":
            outcome = await projects.task_outcome(conn, task.id)
            await completion.task_completed(conn, project, task.id, outcome, now)
        else:
            data = {"task": external_id, "label": label, "decided_by": "expert"}
            await events.emit(conn, project.organization_id, project.id, events.TASK_REVIEWED, data, now)
        promoted = promote_to_gold and await gold_store.promote(
            conn, project.id, task.id, task.data, f"{external_id}:gold", label, explanation, now
        )
    return {"external_id": external_id, "label": label, "decided_by": "expert", "promoted_to_gold": bool(promoted)}


async def quality_report(
    db: Database, organization_id: OrganizationId, project_id: str, batch_id: str | None, seed: int = 0
) -> dict[str, Any]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        results = [figures.Result(*_fields(row)) for row in await store.real_tasks(conn, project.id, batch_id)]
        answers = [figures.Answer(*row) for row in await store.real_answers(conn, project.id, batch_id)]
    agreement = await asyncio.to_thread(figures.agreement, project.labels, answers, results, seed)
    return {
        "project_id": project.id,
        "batch_id": batch_id,
        "confidence_target": project.confidence_target,
        **figures.confidence(results, project.confidence_target),
        **agreement,
    }


async def drift_report(db: Database, organization_id: OrganizationId, project_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        results = [figures.Result(*_fields(row)) for row in await store.real_tasks(conn, project.id, None)]
        recent = await store.recent_answers(conn, project.id, per_worker=50)
    return {
        "project_id": project.id,
        "threshold": project.drift_threshold,
        **figures.drift(project.labels, results, project.confidence_target),
        "workers": figures.worker_trends(recent),
    }


async def raise_alerts(db: Database, clock: Clock, project_id: ProjectId) -> int:
    """A ``quality.alert`` for each batch whose labels drifted past the
    project's threshold or whose confidence is mostly low (once per batch
    and kind); how many were raised."""
    async with db.read() as conn:
        project = await projects.project_by_id(conn, project_id)
        if project is None:
            return 0
        results = [figures.Result(*_fields(row)) for row in await store.real_tasks(conn, project.id, None)]
    report = figures.drift(project.labels, results, project.confidence_target)
    raised = 0
    async with db.transaction() as conn:
        for row in report["batches"]:
            for kind, value, limit in (
                ("label_drift", row["js_distance"], project.drift_threshold),
                ("low_confidence", row["low_confidence_share"], LOW_CONFIDENCE_ALERT),
            ):
                if value is not None and value > limit:
                    data = {"kind": kind, "batch_id": row["batch_id"], "value": value, "threshold": limit}
                    key = f"{events.QUALITY_ALERT}:{kind}:{row['batch_id']}"
                    raised += await events.emit(
                        conn,
                        project.organization_id,
                        project.id,
                        events.QUALITY_ALERT,
                        data,
                        clock.now(),
                        dedupe_key=key,
                    )
    return raised


def _fields(row: store.LabelledTask) -> tuple[Any, ...]:
    return (row.id, row.batch_id, row.status, row.label, row.confidence, row.review_status, row.completed_at)
