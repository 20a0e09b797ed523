"""Use cases for projects and batches: one transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import completion
from crowd.assignment.signals import announce_work
from crowd.broker import Broker
from crowd.clock import Clock
from crowd.db.engine import Database, RetryTransaction, is_unique_violation
from crowd.errors import Conflict, IdempotencyKeyReused, NotFound, ValidationFailed
from crowd.ids import BatchId, OrganizationId, ProjectId, new_id
from crowd.inference import service as inference
from crowd.machine import service as machine
from crowd.machine import store as machine_store
from crowd.machine.policy import initial_target
from crowd.payments import service as payments
from crowd.payments import store as payments_store
from crowd.projects import store
from crowd.projects.access import require_project
from crowd.projects.models import Batch, BatchProgress, NewTask, Project, ProjectProgress, ProjectRecord
from crowd.projects.policy import settings_errors
from crowd.workforce import store as workforce


@dataclass(frozen=True, slots=True)
class TaskRow:
    external_id: str | None
    data: dict[str, Any]
    priority: int
    predictions: tuple[tuple[str, str, float | None], ...] = ()
    """``(model, label, score)`` the platform already has for this task."""


@dataclass(frozen=True, slots=True)
class BatchSubmission:
    external_id: str | None
    idempotency_key: str | None
    request_hash: str
    """Digest of the canonical request: the same batch sent twice has the same hash."""
    tasks: list[TaskRow]


async def create_project(
    db: Database, clock: Clock, organization_id: OrganizationId, values: dict[str, Any]
) -> ProjectRecord:
    """A new project; ``values["required_groups"]``, if given, names groups
    of the organization a worker must all be in to be served it."""
    settings = dict(values)
    required = settings.pop("required_groups", [])
    if errors := settings_errors(settings):
        raise ValidationFailed("the settings contradict each other", errors=errors)
    now = clock.now()
    row = {**settings, "id": new_id("prj"), "organization_id": organization_id, "created_at": now, "updated_at": now}
    async with db.transaction() as conn:
        project = await store.insert_project(conn, row)
        await _require_groups(conn, project, required)
        if project.budget is not None:
            await payments_store.start_budget(conn, project.id, now)
        return ProjectRecord(project, sorted(required))


async def get_project(db: Database, organization_id: OrganizationId, project_id: str) -> Project:
    async with db.read() as conn:
        return await require_project(conn, organization_id, project_id)


async def describe_project(db: Database, organization_id: OrganizationId, project_id: str) -> ProjectRecord:
    """The project with the groups it requires."""
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        return await _record(conn, project)


async def list_projects(db: Database, organization_id: OrganizationId) -> list[tuple[ProjectRecord, ProjectProgress]]:
    """The organization's projects, newest first, with their progress."""
    async with db.read() as conn:
        found = await store.projects_of(conn, organization_id)
        ids = [p.id for p in found]
        progress = await store.progress(conn, ids)
        required = await workforce.required_group_names(conn, ids) if ids else {}
    return [(ProjectRecord(p, required[p.id]), progress[p.id]) for p in found]


async def _record(conn: AsyncConnection, project: Project) -> ProjectRecord:
    required = await workforce.required_group_names(conn, [project.id])
    return ProjectRecord(project, required[project.id])


async def _require_groups(conn: AsyncConnection, project: Project, names: list[str]) -> None:
    """The project requires exactly the organization's groups of these
    names; 422 naming each that the organization does not have."""
    found = await workforce.groups_named(conn, project.organization_id, names) if names else {}
    missing = [
        {"loc": ["required_groups", i], "msg": f"no group named {name!r} in this organization"}
        for i, name in enumerate(names)
        if name not in found
    ]
    if missing:
        raise ValidationFailed("required_groups names groups that do not exist", errors=missing)
    await workforce.set_required_groups(conn, project.id, project.organization_id, [found[n] for n in names])


async def update_project(
    db: Database,
    clock: Clock,
    broker: Broker,
    organization_id: OrganizationId,
    project_id: str,
    changes: dict[str, Any],
) -> ProjectRecord:
    """Change the project's settings; ``required_groups``, if given,
    replaces the groups it requires."""
    settings = dict(changes)
    required = settings.pop("required_groups", None)
    async with db.transaction() as conn:
        before = await require_project(conn, organization_id, project_id)
        merged = {**_settings(before), **settings}
        if errors := settings_errors(merged):
            raise ValidationFailed("the settings contradict each other", errors=errors)
        if (
            "labels" in settings
            and settings["labels"] != before.labels
            and await store.project_has_answers(conn, before.id)
        ):
            raise Conflict("labels cannot change once the project has answers")
        if (
            "currency" in changes
            and changes["currency"] != before.currency
            and await payments.currency_fixed(conn, before.id)
        ):
            raise Conflict("currency cannot change once money has moved in the project (rewards, bonuses, leases)")
        after = await store.update_project(conn, before.id, {**settings, "updated_at": clock.now()})
        if required is not None:
            await _require_groups(conn, after, required)
        await payments.on_budget_change(conn, before, after, clock.now())
        if (after.min_overlap, after.max_overlap) != (before.min_overlap, before.max_overlap):
            await _retarget(conn, before, after, clock)
        record = await _record(conn, after)
    await announce_work(broker, after.organization_id, after.id)
    return record


async def _retarget(conn: AsyncConnection, before: Project, after: Project, clock: Clock) -> None:
    """Carry an overlap change over to the open tasks: each keeps the extra
    answers it was given beyond the old minimum, within the new bounds; tasks
    that now have enough answers complete."""
    shift = after.min_overlap - before.min_overlap
    await store.shift_targets(conn, after.id, shift, after.min_overlap, after.max_overlap)
    for task_id, answers, target in await store.tasks_due(conn, after.id):
        settled = await inference.on_answer(conn, after, task_id, answers, target, clock.now())
        if settled.completed is not None:
            await completion.task_completed(conn, after, task_id, settled.completed, clock.now())


async def submit_batch(
    db: Database, clock: Clock, broker: Broker, organization_id: OrganizationId, project_id: str, batch: BatchSubmission
) -> tuple[Batch, bool]:
    """Store a batch and its tasks; ``(batch, created)``. The same batch sent
    again (same Idempotency-Key or external_id, same content) returns the
    stored one with ``created`` false and writes nothing."""

    async def work(conn: AsyncConnection) -> tuple[Batch, bool]:
        project = await require_project(conn, organization_id, project_id)
        if (stored := await _replay(conn, project.id, batch)) is not None:
            return stored, False
        try:
            return await _insert_batch(conn, project, batch, clock), True
        except IntegrityError as exc:  # a concurrent twin won the race: look again
            if is_unique_violation(exc):
                raise RetryTransaction from exc
            raise

    stored, created = await db.retrying(work)
    if created:
        await announce_work(broker, organization_id, stored.project_id)
    return stored, created


async def _replay(conn: AsyncConnection, project_id: ProjectId, batch: BatchSubmission) -> Batch | None:
    if batch.idempotency_key is not None:
        stored = await store.batch_by_idempotency_key(conn, project_id, batch.idempotency_key)
        if stored is not None:
            if stored.request_hash != batch.request_hash:
                raise IdempotencyKeyReused()
            return stored
    if batch.external_id is not None:
        stored = await store.batch_by_external_id(conn, project_id, batch.external_id)
        if stored is not None:
            if stored.request_hash != batch.request_hash:
                raise Conflict(f"batch external_id {batch.external_id!r} was already used for other tasks")
            return stored
    return None


async def _insert_batch(conn: AsyncConnection, project: Project, submission: BatchSubmission, clock: Clock) -> Batch:
    batch_id = BatchId(new_id("bat"))
    external_ids = [row.external_id or f"{batch_id}-{i}" for i, row in enumerate(submission.tasks)]
    rows = [
        NewTask(external_id, row.data, row.priority, _first_target(project, row))
        for external_id, row in zip(external_ids, submission.tasks, strict=True)
    ]
    batch = Batch(
        id=batch_id,
        project_id=project.id,
        external_id=submission.external_id,
        idempotency_key=submission.idempotency_key,
        request_hash=submission.request_hash,
        task_count=len(rows),
        created_at=clock.now(),
    )
    # The batch row goes first: a concurrent twin (same key or external id)
    # waits on its unique index here and then replays this batch, instead of
    # seeing these tasks and calling their ids taken.
    await store.insert_batch(conn, batch)
    await _check_rows(conn, project, rows, submission.tasks)
    await store.insert_tasks(conn, project, batch.id, rows, batch.created_at)
    predicted = [
        machine.Prediction(external_id, model, label, score)
        for external_id, row in zip(external_ids, submission.tasks, strict=True)
        for model, label, score in row.predictions
    ]
    if predicted:
        found = await machine_store.tasks_by_external(conn, project.id, sorted({p.external_id for p in predicted}))
        await machine.add_predictions(conn, project, found, predicted, batch.created_at)
    return batch


def _first_target(project: Project, row: TaskRow) -> int | None:
    if not row.predictions:
        return None
    return initial_target(project.min_overlap, project.min_human_answers, len({m for m, _, _ in row.predictions}))


async def _check_rows(conn: AsyncConnection, project: Project, rows: list[NewTask], given: list[TaskRow]) -> None:
    """External ids unique and new; predicted labels among the project's."""
    errors = await _external_id_errors(conn, project.id, rows)
    for i, row in enumerate(given):
        for j, (_, label, _) in enumerate(row.predictions):
            if label not in project.labels:
                errors.append({"row": i, "field": f"predictions.{j}.label", "reason": f"{label!r} is not a label"})
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise ValidationFailed(f"{len(errors)} task row(s) are invalid; nothing was stored", errors=errors)


async def _external_id_errors(
    conn: AsyncConnection, project_id: ProjectId, rows: list[NewTask]
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.external_id in first_row:
            errors.append(_row_error(i, f"duplicates the external_id of row {first_row[row.external_id]}"))
        first_row.setdefault(row.external_id, i)
    taken = await store.existing_external_ids(conn, project_id, list(first_row))
    errors += [
        _row_error(i, "a task with this external_id already exists")
        for i, r in enumerate(rows)
        if r.external_id in taken
    ]
    return errors


def _row_error(row: int, reason: str) -> dict[str, Any]:
    return {"row": row, "field": "external_id", "reason": reason}


async def get_batch(db: Database, organization_id: OrganizationId, batch_id: str) -> BatchProgress:
    async with db.read() as conn:
        batch = await store.batch_by_id(conn, batch_id)
        if batch is None or await store.project_by_id(conn, batch.project_id, organization_id=organization_id) is None:
            raise NotFound(f"no batch {batch_id}")
        return await store.batch_progress(conn, batch)


def _settings(project: Project) -> dict[str, Any]:
    return {"min_overlap": project.min_overlap, "max_overlap": project.max_overlap}
