"""Use cases of gold: upload, grading at answer time, blocking, health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment.signals import announce_work
from crowd.broker import Broker
from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import NotFound, ValidationFailed
from crowd.events import store as events
from crowd.gold import store
from crowd.gold.policy import GoldSettings, GoldTaskHealth, gold_health, should_block
from crowd.identity import store as identity
from crowd.ids import OrganizationId, ProjectId, WorkerId
from crowd.machine import store as machine
from crowd.payments import service as payments
from crowd.projects import store as projects
from crowd.projects.access import require_project
from crowd.projects.models import NewTask, Project


def settings_of(project: Project) -> GoldSettings:
    return GoldSettings(
        gold_rate=project.gold_rate,
        onboarding_tasks=project.onboarding_tasks,
        onboarding_gold_rate=project.onboarding_gold_rate,
        min_gold_answers=project.min_gold_answers,
        min_accuracy=project.min_accuracy,
    )


@dataclass(frozen=True, slots=True)
class GoldRow:
    external_id: str
    data: dict[str, Any]
    label: str
    explanation: str | None
    predictions: tuple[tuple[str, str, float | None], ...] = ()
    """``(model, label, score)``: a model's word on the task, shown as a real task's would be."""


@dataclass(frozen=True, slots=True)
class GoldUpload:
    created: int
    unchanged: int


async def upload(
    db: Database, clock: Clock, organization_id: OrganizationId, project_id: str, rows: list[GoldRow]
) -> GoldUpload:
    """Add gold tasks, all or nothing. A row identical to a stored gold task
    is left as it is (so an upload can be retried); any other clash, or a
    label outside the project's, names its row in a 422."""
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        existing = await store.existing_gold(conn, project.id, [row.external_id for row in rows])
        errors = _row_errors(project, rows, existing)
        if errors:
            raise ValidationFailed(f"{len(errors)} gold row(s) are invalid; nothing was stored", errors=errors)
        new = [row for row in rows if row.external_id not in existing]
        await projects.insert_tasks(
            conn,
            project,
            None,
            [NewTask(row.external_id, row.data, 0) for row in new],
            clock.now(),
            gold_labels=[row.label for row in new],
            gold_explanations=[row.explanation for row in new],
        )
        await _store_predictions(conn, project, new, clock.now())
    return GoldUpload(created=len(new), unchanged=len(rows) - len(new))


async def _store_predictions(conn: AsyncConnection, project: Project, rows: list[GoldRow], now: datetime) -> None:
    """The models' predictions of new gold tasks: kept as a real task's are,
    to be suggested the same way (gold has no overlap for them to shorten)."""
    predicted = [row for row in rows if row.predictions]
    if not predicted:
        return
    found = await machine.tasks_by_external(conn, project.id, [row.external_id for row in predicted])
    await machine.upsert_predictions(
        conn,
        [
            {
                "project_id": project.id,
                "task_id": found[row.external_id].id,
                "model": model,
                "label": label,
                "score": score,
                "created_at": now,
            }
            for row in predicted
            for model, label, score in row.predictions
        ],
    )


def _row_errors(project: Project, rows: list[GoldRow], existing: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.label not in project.labels:
            errors.append({"row": i, "field": "label", "reason": f"{row.label!r} is not one of {project.labels}"})
        for j, (_, label, _) in enumerate(row.predictions):
            if label not in project.labels:
                errors.append({"row": i, "field": f"predictions.{j}.label", "reason": f"{label!r} is not a label"})
        if row.external_id in first:
            errors.append({"row": i, "field": "external_id", "reason": f"duplicates row {first[row.external_id]}"})
        first.setdefault(row.external_id, i)
        stored = existing.get(row.external_id)
        if stored is not None and stored != (True, row.data, row.label, row.explanation):
            errors.append({"row": i, "field": "external_id", "reason": "a different task has this external_id"})
    return errors


async def after_gold_answer(conn: AsyncConnection, project: Project, worker_id: WorkerId, now: datetime) -> bool:
    """Apply the blocking rule after a graded answer; True if it blocked the worker."""
    standing, blocked = await store.standing(conn, project.id, worker_id)
    if blocked or not should_block(settings_of(project), standing.gold_correct, standing.gold_answers):
        return False
    return await block(conn, project, worker_id, "gold", now)


async def block(conn: AsyncConnection, project: Project, worker_id: WorkerId, reason: str, now: datetime) -> bool:
    """Block the worker on the project; False, and nothing done, if they
    were blocked already. With recollection on, their answers leave
    consensus and each task they answered asks for one more worker (see
    :func:`crowd.gold.store.recollect`); with rejection on, their pending
    rewards in the project are reversed."""
    if not await store.set_blocked(conn, project.id, worker_id, True, reason, now):
        return False
    if project.recollect_blocked:
        await store.recollect(conn, project.id, worker_id, project.max_overlap)
    await payments.on_blocked(conn, project, worker_id, now)
    await events.emit(
        conn,
        project.organization_id,
        project.id,
        events.WORKER_BLOCKED,
        {"worker_id": worker_id, "reason": reason},
        now,
    )
    return True


async def set_blocked(
    db: Database,
    broker: Broker,
    clock: Clock,
    organization_id: OrganizationId,
    project_id: str,
    worker_id: str,
    blocked: bool,
) -> ProjectId:
    """An operator blocks or unblocks a worker on a project. Idempotent: a
    second block (or unblock) of the same worker, one after the other or at
    the same moment, finds the work done and changes nothing."""
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        if not await identity.worker_exists(conn, WorkerId(worker_id), organization_id=project.organization_id):
            raise NotFound(f"no worker {worker_id}")
        if blocked:
            changed = await block(conn, project, WorkerId(worker_id), "operator", clock.now())
        else:
            changed = await store.set_blocked(conn, project.id, WorkerId(worker_id), False, None, clock.now())
    if blocked and changed and project.recollect_blocked:
        await announce_work(broker, project.organization_id, project.id)
    return project.id


@dataclass(frozen=True, slots=True)
class GoldReport:
    project: Project
    tasks: list[tuple[store.GoldTask, GoldTaskHealth]]
    workers_exhausted: int
    workers_with_gold: int
    predicted: dict[bool, tuple[int, int]]
    """``is_gold -> (tasks with a model's prediction, tasks)``: with ``show_predictions`` the two
    shares must match, or whether a suggestion comes along tells gold from real work."""


async def report(db: Database, organization_id: OrganizationId, project_id: str) -> GoldReport:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        tasks = await store.gold_tasks(conn, project.id)
        answers = await store.gold_answers(conn, project.id)
        exhausted = await store.workers_exhausted(conn, project.id, len(tasks))
        predicted = await store.predicted_shares(conn, project.id)
    health = {h.task: h for h in gold_health(answers, [t.external_id for t in tasks])}
    return GoldReport(
        project,
        [(task, health[task.external_id]) for task in tasks],
        exhausted,
        len({a.worker for a in answers}),
        predicted,
    )
