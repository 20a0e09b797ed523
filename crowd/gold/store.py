"""SQL for gold: the worker's standing in a project, grades, blocks, health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.hot import Columns
from crowd.db.schema import answers, assignments, gold_origins, predictions, tasks, worker_stats
from crowd.db.types import UtcDateTime
from crowd.db.upsert import insert_for
from crowd.gold.policy import GoldAnswer, Standing
from crowd.ids import ProjectId, TaskId, WorkerId


@dataclass(frozen=True, slots=True)
class GoldKey:
    label: str
    explanation: str | None


@dataclass(frozen=True, slots=True)
class GoldTask:
    id: int
    external_id: str
    label: str
    shown: int


async def standing(conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId) -> tuple[Standing, bool]:
    """The worker's record in the project and whether they are blocked there."""
    row = (await conn.execute(_STANDING, {"project_id": project_id, "worker_id": worker_id})).mappings().first()
    return (Standing(), False) if row is None else standing_of(row)


_STANDING_FIELDS = ("answers", "gold_answers", "gold_correct", "reliability_low", "reliability_high", "reliability")
STANDING_PREFIX = "standing__"
#: A worker's standing in a project under a prefix: statements that read it
#: together with other rows (one round trip, not two) outer-join
#: ``worker_stats`` and select these.
STANDING_COLUMNS = tuple(worker_stats.c[name].label(STANDING_PREFIX + name) for name in (*_STANDING_FIELDS, "blocked"))


def standing_of(row: Columns) -> tuple[Standing, bool]:
    """The standing in a row that selected :data:`STANDING_COLUMNS`, and
    whether the worker is blocked; NULLs (no stats row) are a worker the
    project has not seen yet."""
    if row[STANDING_PREFIX + "answers"] is None:
        return Standing(), False
    return Standing(*(row[STANDING_PREFIX + name] for name in _STANDING_FIELDS)), bool(row[STANDING_PREFIX + "blocked"])


_STANDING = select(*STANDING_COLUMNS).where(
    worker_stats.c.project_id == bindparam("project_id"), worker_stats.c.worker_id == bindparam("worker_id")
)


async def gold_key(conn: AsyncConnection, task_id: TaskId) -> GoldKey:
    label, explanation = (await conn.execute(_GOLD_KEY, {"task_id": task_id})).one()
    return GoldKey(label, explanation)


_GOLD_KEY = select(tasks.c.gold_label, tasks.c.gold_explanation).where(
    tasks.c.id == bindparam("task_id"), tasks.c.is_gold.is_(True)
)


async def existing_gold(
    conn: AsyncConnection, project_id: ProjectId, external_ids: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    """``external_id -> (is_gold, data, label, explanation)`` of the project's tasks among ``external_ids``."""
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start : start + 1000]
        query = select(
            tasks.c.external_id, tasks.c.is_gold, tasks.c.data, tasks.c.gold_label, tasks.c.gold_explanation
        ).where(tasks.c.project_id == project_id, tasks.c.external_id.in_(chunk))
        for external_id, *rest in await conn.execute(query):
            found[external_id] = tuple(rest)
    return found


async def set_blocked(
    conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId, blocked: bool, reason: str | None, now: datetime
) -> bool:
    """Block or unblock the worker on the project; whether that changed
    anything (False: they were blocked, or unblocked, already, and their
    record is left as it was, reason and time included).

    The locking argument: the upsert locks the worker's row (inserting it
    or updating it), and its ``WHERE`` is checked on the row as it is once
    locked. Of two operators blocking at once on PostgreSQL, the second
    waits for the first to commit and then finds the worker blocked: its
    upsert changes no row and it returns False, so what a block does
    besides (recollection, reversals, the event) happens once. On SQLite
    the writers are serial anyway."""
    values: dict[str, Any] = {
        "project_id": project_id,
        "worker_id": worker_id,
        "blocked": blocked,
        "blocked_reason": reason if blocked else None,
        "blocked_at": now if blocked else None,
        "updated_at": now,
    }
    statement = insert_for(conn, worker_stats).values(**values)
    changes = {k: v for k, v in values.items() if k not in ("project_id", "worker_id")}
    keys = [worker_stats.c.project_id, worker_stats.c.worker_id]
    upsert = statement.on_conflict_do_update(
        index_elements=keys, set_=changes, where=worker_stats.c.blocked.is_not(blocked)
    ).returning(worker_stats.c.worker_id)
    return (await conn.execute(upsert)).first() is not None


async def recollect(conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId, max_overlap: int) -> int:
    """Recollection of a blocked worker's answers: each real task they
    answered wants one more answer (and reopens if it had completed), once
    per answer however often they are blocked, never past ``max_overlap``,
    and never a task an expert decided; how many tasks. Answers that are
    not committed yet are not seen here, and stay to be recollected."""
    marked = (
        update(answers)
        .where(answers.c.project_id == project_id, answers.c.worker_id == worker_id, answers.c.recollected.is_(False))
        .values(recollected=True)
        .returning(answers.c.task_id)
    )
    task_ids = sorted({task_id for (task_id,) in await conn.execute(marked)})
    if not task_ids:
        return 0
    statement = (
        update(tasks)
        .where(
            tasks.c.id.in_(task_ids),
            tasks.c.is_gold.is_(False),
            tasks.c.target_overlap < max_overlap,
            or_(tasks.c.review_status.is_(None), tasks.c.review_status != "decided"),
        )
        .values(
            target_overlap=tasks.c.target_overlap + 1,
            status="open",
            label=None,
            confidence=None,
            completed_at=None,
        )
    )
    return (await conn.execute(statement)).rowcount


async def gold_tasks(conn: AsyncConnection, project_id: ProjectId) -> list[GoldTask]:
    shown = select(func.count()).where(assignments.c.task_id == tasks.c.id).correlate(tasks).scalar_subquery()
    query = (
        select(tasks.c.id, tasks.c.external_id, tasks.c.gold_label, shown)
        .where(tasks.c.project_id == project_id, tasks.c.is_gold.is_(True))
        .order_by(tasks.c.id)
    )
    return [GoldTask(*row) for row in (await conn.execute(query)).all()]


async def gold_answers(conn: AsyncConnection, project_id: ProjectId) -> list[GoldAnswer]:
    query = (
        select(tasks.c.external_id, answers.c.worker_id, answers.c.label == tasks.c.gold_label)
        .join(tasks, tasks.c.id == answers.c.task_id)
        .where(answers.c.project_id == project_id, tasks.c.is_gold.is_(True))
    )
    return [GoldAnswer(task, worker, bool(correct)) for task, worker, correct in await conn.execute(query)]


async def workers_exhausted(conn: AsyncConnection, project_id: ProjectId, gold_count: int) -> int:
    """Workers who have been given every gold task of the project."""
    if gold_count == 0:
        return 0
    per_worker = (
        select(assignments.c.worker_id)
        .where(and_(assignments.c.project_id == project_id, assignments.c.is_gold.is_(True)))
        .group_by(assignments.c.worker_id)
        .having(func.count(func.distinct(assignments.c.task_id)) >= gold_count)
        .subquery()
    )
    return int((await conn.execute(select(func.count()).select_from(per_worker))).scalar_one())


async def promote(
    conn: AsyncConnection,
    project_id: ProjectId,
    origin: TaskId,
    data: dict[str, Any],
    external_id: str,
    label: str,
    explanation: str | None,
    now: datetime,
) -> bool:
    """A copy of a real task joins the gold set, remembering its origin (so
    nobody who was given the original gets the copy) and its models'
    predictions (so it is suggested as the original was). False if
    ``external_id`` is taken."""
    taken = select(tasks.c.id).where(tasks.c.project_id == project_id, tasks.c.external_id == external_id)
    if (await conn.execute(taken)).first() is not None:
        return False
    copy = await conn.execute(
        insert(tasks)
        .values(
            project_id=project_id,
            external_id=external_id,
            data=data,
            is_gold=True,
            gold_label=label,
            gold_explanation=explanation,
            status="open",
            target_overlap=1,
            created_at=now,
        )
        .returning(tasks.c.id)
    )
    gold_id = copy.scalar_one()
    await conn.execute(insert(gold_origins).values(gold_task_id=gold_id, origin_task_id=origin))
    predicted = select(
        predictions.c.project_id,
        literal(gold_id, BigInteger()),
        predictions.c.model,
        predictions.c.label,
        predictions.c.score,
        literal(now, UtcDateTime()),
    ).where(predictions.c.task_id == origin)
    columns = ["project_id", "task_id", "model", "label", "score", "created_at"]
    await conn.execute(insert(predictions).from_select(columns, predicted))
    return True


async def predicted_shares(conn: AsyncConnection, project_id: ProjectId) -> dict[bool, tuple[int, int]]:
    """``is_gold -> (tasks with a prediction, tasks)`` of the project."""
    predicted = select(predictions.c.id).where(predictions.c.task_id == tasks.c.id).exists()
    query = (
        select(tasks.c.is_gold, func.count().filter(predicted), func.count())
        .where(tasks.c.project_id == project_id)
        .group_by(tasks.c.is_gold)
    )
    found = {bool(gold): (int(with_), int(all_)) for gold, with_, all_ in await conn.execute(query)}
    return {gold: found.get(gold, (0, 0)) for gold in (True, False)}
