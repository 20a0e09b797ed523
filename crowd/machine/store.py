"""SQL of predictions and of what model evaluation reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import answers, assignments, predictions, tasks
from crowd.db.upsert import insert_for
from crowd.ids import ProjectId, TaskId


async def upsert_predictions(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Store predictions; a newer one of the same model for a task replaces it."""
    if not rows:
        return
    statement = insert_for(conn, predictions)
    statement = statement.on_conflict_do_update(
        index_elements=[predictions.c.task_id, predictions.c.model],
        set_={
            "label": statement.excluded.label,
            "score": statement.excluded.score,
            "created_at": statement.excluded.created_at,
        },
    )
    for start in range(0, len(rows), 1000):
        await conn.execute(statement, rows[start : start + 1000])


@dataclass(frozen=True, slots=True)
class Target:
    id: TaskId
    external_id: str
    status: str
    answer_count: int
    lease_count: int
    target_overlap: int
    models: int
    is_gold: bool = False


async def tasks_by_external(conn: AsyncConnection, project_id: ProjectId, external_ids: list[str]) -> dict[str, Target]:
    """The project's tasks among ``external_ids`` with their slots and model count."""
    models = select(func.count()).where(predictions.c.task_id == tasks.c.id).correlate(tasks).scalar_subquery()
    found: dict[str, Target] = {}
    for start in range(0, len(external_ids), 1000):
        query = select(
            tasks.c.id,
            tasks.c.external_id,
            tasks.c.status,
            tasks.c.answer_count,
            tasks.c.lease_count,
            tasks.c.target_overlap,
            models,
            tasks.c.is_gold,
        ).where(tasks.c.project_id == project_id, tasks.c.external_id.in_(external_ids[start : start + 1000]))
        for row in await conn.execute(query):
            found[row[1]] = Target(TaskId(row[0]), *row[1:])
    return found


async def set_target(conn: AsyncConnection, task_id: TaskId, target: int) -> None:
    await conn.execute(update(tasks).where(tasks.c.id == task_id).values(target_overlap=target))


async def top_prediction(conn: AsyncConnection, task_id: TaskId) -> tuple[str, float | None] | None:
    """The prediction to show a worker: the highest-scored one."""
    query = (
        select(predictions.c.label, predictions.c.score)
        .where(predictions.c.task_id == task_id)
        .order_by(func.coalesce(predictions.c.score, 0).desc(), predictions.c.model)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True, slots=True)
class PredictionFact:
    """A prediction beside what is known of its task."""

    model: str
    label: str
    score: float | None
    task_id: int
    is_gold: bool
    gold_label: str | None
    expert_label: str | None
    status: str
    consensus: str | None
    human_answers: int


async def prediction_facts(conn: AsyncConnection, project_id: ProjectId) -> list[PredictionFact]:
    query = (
        select(
            predictions.c.model,
            predictions.c.label,
            predictions.c.score,
            tasks.c.id.label("task_id"),
            tasks.c.is_gold,
            tasks.c.gold_label,
            tasks.c.expert_label,
            tasks.c.status,
            tasks.c.label.label("consensus"),
            tasks.c.answer_count.label("human_answers"),
        )
        .join(tasks, tasks.c.id == predictions.c.task_id)
        .where(predictions.c.project_id == project_id)
        .order_by(predictions.c.model, tasks.c.id)
    )
    return [PredictionFact(**row._asdict()) for row in await conn.execute(query)]


async def suggestion_answers(conn: AsyncConnection, project_id: ProjectId) -> list[tuple[str, str, str | None]]:
    """``(suggested, answered, final label)`` of answers given with a suggestion shown."""
    query = (
        select(assignments.c.suggestion, answers.c.label, tasks.c.label)
        .join(answers, answers.c.assignment_id == assignments.c.id)
        .join(tasks, tasks.c.id == assignments.c.task_id)
        .where(assignments.c.project_id == project_id, assignments.c.suggestion.is_not(None))
    )
    return [(s, a, f) for s, a, f in await conn.execute(query)]


async def show_suggestion(conn: AsyncConnection, public_id: str, label: str) -> None:
    await conn.execute(update(assignments).where(assignments.c.public_id == public_id).values(suggestion=label))
