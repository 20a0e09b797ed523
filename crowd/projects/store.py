"""SQL for projects, batches and task ingest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, RowMapping, and_, bindparam, case, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.hot import Columns, Hot
from crowd.db.schema import answers, batches, projects, tasks
from crowd.ids import BatchId, OrganizationId, ProjectId, TaskId
from crowd.projects.models import PROJECT_FIELDS, Batch, BatchProgress, NewTask, Project, ProjectProgress

T = TypeVar("T")

#: Rows per INSERT statement and per IN (...) list: far below the parameter
#: limits of SQLite (32766) and asyncpg (32767).
CHUNK = 1000


async def insert_project(conn: AsyncConnection, values: dict[str, Any]) -> Project:
    await conn.execute(insert(projects).values(**values))
    project = await project_by_id(conn, values["id"])
    assert project is not None
    return project


async def project_by_id(
    conn: AsyncConnection, project_id: str, *, organization_id: OrganizationId | None = None
) -> Project | None:
    """The project, or None if it does not exist or belongs to another
    organization (callers answer 404 either way: existence is not leaked)."""
    if organization_id is None:
        found = await conn.execute(_PROJECT, {"project_id": project_id})
    else:
        found = await conn.execute(
            _ORGANIZATION_PROJECT, {"project_id": project_id, "organization_id": organization_id}
        )
    row = found.mappings().first()
    return _project(row) if row else None


_PROJECT = select(projects).where(projects.c.id == bindparam("project_id"))
_ORGANIZATION_PROJECT = _PROJECT.where(projects.c.organization_id == bindparam("organization_id"))


async def projects_of(conn: AsyncConnection, organization_id: OrganizationId) -> list[Project]:
    query = (
        select(projects)
        .where(projects.c.organization_id == organization_id)
        .order_by(projects.c.created_at.desc(), projects.c.id)
    )
    return [_project(row) for row in (await conn.execute(query)).mappings()]


async def progress(conn: AsyncConnection, project_ids: Sequence[ProjectId]) -> dict[ProjectId, ProjectProgress]:
    """Real tasks, completed tasks and answers of each project."""
    query = (
        select(
            tasks.c.project_id,
            func.count(),
            func.count().filter(tasks.c.status == "completed"),
            func.coalesce(func.sum(tasks.c.answer_count), 0),
        )
        .where(tasks.c.project_id.in_(project_ids), tasks.c.is_gold.is_(False))
        .group_by(tasks.c.project_id)
    )
    found = {
        ProjectId(pid): ProjectProgress(int(n), int(done), int(answered))
        for pid, n, done, answered in await conn.execute(query)
    }
    return {pid: found.get(pid, ProjectProgress(0, 0, 0)) for pid in project_ids}


async def open_tasks(conn: AsyncConnection, project_ids: Sequence[ProjectId]) -> dict[ProjectId, int]:
    """Open real tasks per project (a count over the claim index)."""
    query = (
        select(tasks.c.project_id, func.count())
        .where(tasks.c.project_id.in_(project_ids), text("tasks.status = 'open' AND NOT tasks.is_gold"))
        .group_by(tasks.c.project_id)
    )
    found = {ProjectId(pid): int(n) for pid, n in await conn.execute(query)}
    return {pid: found.get(pid, 0) for pid in project_ids}


async def organizations_of(conn: AsyncConnection, project_ids: Sequence[str]) -> dict[ProjectId, OrganizationId]:
    query = select(projects.c.id, projects.c.organization_id).where(projects.c.id.in_(project_ids))
    return {ProjectId(pid): OrganizationId(org) for pid, org in await conn.execute(query)}


async def update_project(conn: AsyncConnection, project_id: ProjectId, changes: dict[str, Any]) -> Project:
    await conn.execute(update(projects).where(projects.c.id == project_id).values(**changes))
    project = await project_by_id(conn, project_id)
    assert project is not None
    return project


async def project_has_answers(conn: AsyncConnection, project_id: ProjectId) -> bool:
    query = select(answers.c.id).where(answers.c.project_id == project_id).limit(1)
    return (await conn.execute(query)).first() is not None


async def shift_targets(conn: AsyncConnection, project_id: ProjectId, shift: int, low: int, high: int) -> None:
    """Move every open task's target overlap by ``shift``, clamp it to
    ``[low, high]``, and never below the answers and leases it already has."""
    held = tasks.c.answer_count + tasks.c.lease_count
    shifted = tasks.c.target_overlap + shift
    clamped = case((shifted < low, literal(low)), (shifted > high, literal(high)), else_=shifted)
    target = case((clamped < held, held), else_=clamped)
    await conn.execute(
        update(tasks).where(_open_real_tasks(project_id)).values(target_overlap=target),
    )


async def tasks_due(conn: AsyncConnection, project_id: ProjectId) -> list[tuple[TaskId, int, int]]:
    """Open tasks that have all the answers their target overlap asks for:
    ``(id, answers, target)``."""
    query = select(tasks.c.id, tasks.c.answer_count, tasks.c.target_overlap).where(
        _open_real_tasks(project_id), tasks.c.answer_count >= tasks.c.target_overlap
    )
    return [(TaskId(tid), answers, target) for tid, answers, target in await conn.execute(query)]


def _open_real_tasks(project_id: ProjectId) -> ColumnElement[bool]:
    return and_(tasks.c.project_id == project_id, tasks.c.status == "open", tasks.c.is_gold.is_(False))


# batches ---------------------------------------------------------------


async def batch_by_id(conn: AsyncConnection, batch_id: str) -> Batch | None:
    row = (await conn.execute(select(batches).where(batches.c.id == batch_id))).mappings().first()
    return _batch(row) if row else None


async def batch_by_idempotency_key(conn: AsyncConnection, project_id: ProjectId, key: str) -> Batch | None:
    query = select(batches).where(batches.c.project_id == project_id, batches.c.idempotency_key == key)
    row = (await conn.execute(query)).mappings().first()
    return _batch(row) if row else None


async def batch_by_external_id(conn: AsyncConnection, project_id: ProjectId, external_id: str) -> Batch | None:
    query = select(batches).where(batches.c.project_id == project_id, batches.c.external_id == external_id)
    row = (await conn.execute(query)).mappings().first()
    return _batch(row) if row else None


async def insert_batch(conn: AsyncConnection, batch: Batch) -> None:
    await conn.execute(
        insert(batches).values(
            id=batch.id,
            project_id=batch.project_id,
            external_id=batch.external_id,
            idempotency_key=batch.idempotency_key,
            request_hash=batch.request_hash,
            task_count=batch.task_count,
            created_at=batch.created_at,
        )
    )


async def existing_external_ids(conn: AsyncConnection, project_id: ProjectId, candidates: Sequence[str]) -> set[str]:
    """Which of ``candidates`` already name a task of the project."""
    found: set[str] = set()
    for chunk in _chunks(candidates):
        query = select(tasks.c.external_id).where(tasks.c.project_id == project_id, tasks.c.external_id.in_(chunk))
        found.update((await conn.execute(query)).scalars())
    return found


async def insert_tasks(
    conn: AsyncConnection,
    project: Project,
    batch_id: BatchId | None,
    rows: Sequence[NewTask],
    now: datetime,
    *,
    gold_labels: Sequence[str] | None = None,
    gold_explanations: Sequence[str | None] | None = None,
) -> None:
    values = [
        {
            "project_id": project.id,
            "batch_id": batch_id,
            "external_id": row.external_id,
            "data": row.data,
            "priority": row.priority,
            "is_gold": gold_labels is not None,
            "gold_label": gold_labels[i] if gold_labels is not None else None,
            "gold_explanation": gold_explanations[i] if gold_explanations is not None else None,
            "status": "open",
            "target_overlap": project.min_overlap if row.target is None else row.target,
            "answer_count": 0,
            "lease_count": 0,
            "created_at": now,
        }
        for i, row in enumerate(rows)
    ]
    for chunk in _chunks(values):
        await conn.execute(insert(tasks), chunk)


async def batch_progress(conn: AsyncConnection, batch: Batch) -> BatchProgress:
    completed = func.count().filter(tasks.c.status == "completed")
    query = select(completed, func.coalesce(func.sum(tasks.c.answer_count), 0)).where(tasks.c.batch_id == batch.id)
    done, answered = (await conn.execute(query)).one()
    return BatchProgress(batch, completed=int(done), answers=int(answered))


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _project(row: RowMapping) -> Project:
    return Project(**{name: row[name] for name in PROJECT_FIELDS})


#: The project's columns under a prefix, for statements that read the
#: project together with other rows (one round trip, not two).
PROJECT_PREFIX = "project__"
PROJECT_COLUMNS = tuple(projects.c[name].label(PROJECT_PREFIX + name) for name in PROJECT_FIELDS)


def project_of(row: Columns) -> Project:
    """The project in a row that selected :data:`PROJECT_COLUMNS`."""
    return Project(**{name: row[PROJECT_PREFIX + name] for name in PROJECT_FIELDS})


def _batch(row: RowMapping) -> Batch:
    return Batch(
        id=BatchId(row["id"]),
        project_id=ProjectId(row["project_id"]),
        external_id=row["external_id"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        task_count=row["task_count"],
        created_at=row["created_at"],
    )


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    external_id: str
    batch_id: BatchId | None
    label: str | None
    confidence: float | None
    posterior: dict[str, float] | None
    answers: int


async def task_outcome(conn: AsyncConnection, task_id: TaskId) -> TaskOutcome:
    return TaskOutcome(*(await conn.execute(_OUTCOME_OF, {"task_id": task_id})).one())


async def task_outcomes(conn: AsyncConnection, task_ids: Sequence[int]) -> dict[int, TaskOutcome]:
    """:func:`task_outcome` of many tasks in one statement."""
    query = _OUTCOME.add_columns(tasks.c.id).where(tasks.c.id.in_(task_ids))
    return {row[-1]: TaskOutcome(*row[:-1]) for row in await conn.execute(query)}


#: A :class:`TaskOutcome`'s columns, in its fields' order (the write that
#: completes a task returns them).
OUTCOME_COLUMNS = (
    tasks.c.external_id,
    tasks.c.batch_id,
    tasks.c.label,
    tasks.c.confidence,
    tasks.c.posterior,
    tasks.c.answer_count,
)
_OUTCOME = select(*OUTCOME_COLUMNS)
_OUTCOME_OF = _OUTCOME.where(tasks.c.id == bindparam("task_id"))


async def batch_finished(conn: AsyncConnection, batch_id: str) -> bool:
    return await _UNFINISHED.row(conn, {"batch_id": batch_id}) is None


# "open", not "not completed": an equality ix_tasks_batch_id_status can seek
# to, where the inequality walked every completed task of the batch first.
_UNFINISHED = Hot(
    select(tasks.c.id).where(tasks.c.batch_id == bindparam("batch_id"), tasks.c.status == "open").limit(1)
)
