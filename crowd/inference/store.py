"""SQL for consensus state: votes and worker models, fits, posteriors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, literal, null, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.hot import Hot
from crowd.db.schema import (
    answers,
    consensus_fits,
    model_stats,
    predictions,
    projects,
    tasks,
    worker_stats,
    workers,
)
from crowd.db.upsert import PerDialect, insert_for
from crowd.ids import ProjectId, TaskId, WorkerId
from crowd.machine.policy import MODEL_PREFIX, model_worker
from crowd.projects.store import OUTCOME_COLUMNS, TaskOutcome


@dataclass(frozen=True, slots=True)
class StoredVote:
    worker_id: WorkerId
    label: str
    confusion: list[list[float]] | None
    answers: int | None = None
    """The worker's answers in the project (weighs the vote online); None for a model."""


@dataclass(frozen=True, slots=True)
class StoredFit:
    version: int
    last_answer_id: int
    priors: list[float]
    newcomer: list[list[float]]


@dataclass(frozen=True, slots=True)
class AnswerRow:
    id: int
    task_id: int
    worker_id: str
    label: str


@dataclass(frozen=True, slots=True)
class WorkerModel:
    worker_id: WorkerId
    confusion: list[list[float]] | None
    gold_answers: int
    gold_correct: int


@dataclass(frozen=True, slots=True)
class WorkerStanding:
    worker_id: WorkerId
    name: str
    answers: int
    gold_answers: int
    gold_correct: int
    reliability: float | None
    reliability_low: float | None
    reliability_high: float | None
    spammer_score: float | None
    confusion: list[list[float]] | None
    blocked: bool
    blocked_reason: str | None


@dataclass(frozen=True, slots=True)
class TaskVotes:
    humans: list[StoredVote]
    machines: list[StoredVote]
    priors: list[float] | None
    """The class priors of the project's latest fit; None before the first."""
    newcomer: list[list[float]] | None
    """Its confusion matrix for a worker it has not seen."""


async def task_votes(
    conn: AsyncConnection,
    project_id: ProjectId,
    task_id: TaskId,
    *,
    without_blocked: bool = False,
    without_fast: bool = False,
) -> TaskVotes:
    """The task's human answers and model predictions, each with the fitted
    confusion matrix of who gave it (and, for a human, their number of
    answers in the project), and the project's latest priors and newcomer
    matrix, in one round trip (two when no vote is left). Humans blocked on
    the project (``without_blocked``) or too fast (``without_fast``) are left out."""
    query = _votes_query(without_blocked, without_fast)
    rows = await query.rows(conn, {"project_id": project_id, "task_id": task_id})
    if not rows:
        fit = await latest_fit(conn, project_id)
        return TaskVotes([], [], None, None) if fit is None else TaskVotes([], [], fit.priors, fit.newcomer)
    humans, machines = [], []
    for machine, _, who, label, confusion, count, _, _ in rows:
        if machine:
            machines.append(StoredVote(WorkerId(model_worker(who)), label, confusion))
        else:
            humans.append(StoredVote(WorkerId(who), label, confusion, count or 0))
    priors, newcomer = rows[0]["priors"], rows[0]["newcomer"]
    return TaskVotes(humans, machines, priors, newcomer)


@cache
def _votes_query(without_blocked: bool, without_fast: bool) -> Hot:
    project_id: Any = bindparam("project_id")
    # the latest fit's parameters on every row: uncorrelated, so evaluated once
    priors = _LATEST_FIT.with_only_columns(consensus_fits.c.priors).scalar_subquery().label("priors")
    newcomer = _LATEST_FIT.with_only_columns(consensus_fits.c.newcomer).scalar_subquery().label("newcomer")
    fitted_worker = and_(worker_stats.c.project_id == project_id, worker_stats.c.worker_id == answers.c.worker_id)
    humans = (
        select(literal(False).label("machine"), answers.c.id.label("rank"), answers.c.worker_id.label("who"),
               answers.c.label, worker_stats.c.confusion, worker_stats.c.answers, priors, newcomer)
        .select_from(answers.outerjoin(worker_stats, fitted_worker))
        .where(answers.c.task_id == bindparam("task_id"))
    )  # fmt: skip
    if without_blocked:
        humans = humans.where(worker_stats.c.blocked.is_not(True))
    if without_fast:
        humans = humans.where(answers.c.fast.is_(False))
    fitted_model = and_(model_stats.c.project_id == project_id, model_stats.c.model == predictions.c.model)
    machines = (
        select(literal(True).label("machine"), predictions.c.id.label("rank"), predictions.c.model.label("who"),
               predictions.c.label, model_stats.c.confusion, null().label("answers"), priors, newcomer)
        .select_from(predictions.outerjoin(model_stats, fitted_model))
        .where(predictions.c.task_id == bindparam("task_id"))
    )  # fmt: skip
    return Hot(union_all(humans, machines).order_by("machine", "rank"))


async def latest_fit(conn: AsyncConnection, project_id: ProjectId) -> StoredFit | None:
    row = (await conn.execute(_LATEST_FIT, {"project_id": project_id})).first()
    return StoredFit(*row) if row else None


_LATEST_FIT = (
    select(
        consensus_fits.c.version,
        consensus_fits.c.last_answer_id,
        consensus_fits.c.priors,
        consensus_fits.c.newcomer,
    )
    .where(consensus_fits.c.project_id == bindparam("project_id"))
    .order_by(consensus_fits.c.version.desc())
    .limit(1)
)


async def count_answer(
    conn: AsyncConnection,
    project_id: ProjectId,
    worker_id: WorkerId,
    now: datetime,
    *,
    gold_correct: bool | None = None,
    fast: bool = False,
) -> None:
    """Count one answer of the worker in the project (its gold grade, whether it was too fast)."""
    gold, correct = int(gold_correct is not None), int(bool(gold_correct))
    values = {
        "project_id": project_id,
        "worker_id": worker_id,
        "answers": 1,
        "gold_answers": gold,
        "gold_correct": correct,
        "fast_answers": int(fast),
        "updated_at": now,
    }
    await _COUNT_ANSWER(conn).rows(conn, values)


def _count_answer(insert_into: Callable[[Table], Any]) -> Any:
    """Insert the worker's first count, or add the new one to theirs."""
    columns = ("project_id", "worker_id", "answers", "gold_answers", "gold_correct", "fast_answers", "updated_at")
    statement = insert_into(worker_stats).values({name: _bind(worker_stats, name) for name in columns})
    new = statement.excluded
    counted = ("answers", "gold_answers", "gold_correct", "fast_answers")
    return statement.on_conflict_do_update(
        index_elements=[worker_stats.c.project_id, worker_stats.c.worker_id],
        set_={name: worker_stats.c[name] + new[name] for name in counted} | {"updated_at": new.updated_at},
    )


_COUNT_ANSWER = PerDialect(_count_answer)


async def _upsert(conn: AsyncConnection, values: dict[str, Any], changes: dict[str, Any]) -> None:
    """Insert a worker_project_stats row, or apply ``changes`` to the existing one."""
    statement = insert_for(conn, worker_stats).values(**values)
    keys = [worker_stats.c.project_id, worker_stats.c.worker_id]
    await conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


async def set_posterior(
    conn: AsyncConnection,
    task_id: TaskId,
    posterior: dict[str, float],
    *,
    target_overlap: int,
    outcome: tuple[str, float] | None,
    now: datetime,
    counts: tuple[int, int] = (0, 0),
) -> TaskOutcome | None:
    """Store the task's posterior and top probability (``confidence``); with
    an ``outcome`` (label, confidence) the task completes, and what it
    completed with comes back. ``counts``: answers and leases to add to the
    task's counters in the same write, for the answer that moved the
    posterior: ``(1, -1)`` when it takes over its lease's slot, ``(1, 0)``
    when it takes a free one."""
    values: dict[str, Any] = {
        "task_id": task_id,
        "posterior": posterior,
        "target_overlap": target_overlap,
        "confidence": max(posterior.values()) if posterior else None,
        "added_answers": counts[0],
        "added_leases": counts[1],
    }
    if outcome is None:
        await _SET_POSTERIOR.rows(conn, values)
        return None
    label, confidence = outcome
    completing = {**values, "label": label, "confidence": confidence, "completed_at": now}
    row = await _COMPLETE.row(conn, completing)
    assert row is not None, "the task is locked by the answer that completes it"
    return TaskOutcome(*row)


def _bind(table: Table, name: str) -> Any:
    """A parameter for ``table.name``, typed as the column (its JSON or UTC time processing)."""
    return bindparam(name, type_=table.c[name].type)


_SET_POSTERIOR_STATEMENT = (
    update(tasks)
    .where(tasks.c.id == bindparam("task_id"))
    .values(
        {name: _bind(tasks, name) for name in ("posterior", "target_overlap", "confidence")}
        | {
            "answer_count": tasks.c.answer_count + bindparam("added_answers"),
            "lease_count": tasks.c.lease_count + bindparam("added_leases"),
        }
    )
)
_SET_POSTERIOR = Hot(_SET_POSTERIOR_STATEMENT)
_COMPLETE = Hot(
    _SET_POSTERIOR_STATEMENT.values(
        {name: _bind(tasks, name) for name in ("label", "completed_at")} | {"status": "completed"}
    ).returning(*OUTCOME_COLUMNS)
)


# full fits -----------------------------------------------------------------


async def answer_rows(
    conn: AsyncConnection, project_id: ProjectId, *, without_blocked: bool = False, without_fast: bool = False
) -> list[AnswerRow]:
    """Every answer of the project, read in one statement (one snapshot);
    without those of workers blocked on the project, if asked."""
    query = (
        select(answers.c.id, answers.c.task_id, answers.c.worker_id, answers.c.label)
        .where(answers.c.project_id == project_id)
        .order_by(answers.c.id)
    )
    if without_blocked:
        blocked = select(worker_stats.c.worker_id).where(
            worker_stats.c.project_id == project_id, worker_stats.c.blocked.is_(True)
        )
        query = query.where(answers.c.worker_id.not_in(blocked))
    if without_fast:
        query = query.where(answers.c.fast.is_(False))
    return [AnswerRow(*row) for row in await conn.execute(query)]


async def prediction_rows(conn: AsyncConnection, project_id: ProjectId) -> list[AnswerRow]:
    """The project's predictions as answers of the worker ``model:<name>``
    (id 0: they are not answers, and never move a fit's answer high-water mark)."""
    query = select(predictions.c.task_id, predictions.c.model, predictions.c.label).where(
        predictions.c.project_id == project_id
    )
    return [AnswerRow(0, task, model_worker(model), label) for task, model, label in await conn.execute(query)]


async def machine_models(conn: AsyncConnection, project_id: ProjectId) -> list[WorkerModel]:
    query = select(model_stats.c.model, model_stats.c.confusion).where(model_stats.c.project_id == project_id)
    return [WorkerModel(WorkerId(model_worker(m)), confusion, 0, 0) for m, confusion in await conn.execute(query)]


async def store_machine_models(
    conn: AsyncConnection, project_id: ProjectId, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    for row in rows:
        values = {
            "project_id": project_id,
            "model": str(row["worker_id"]).removeprefix(MODEL_PREFIX),
            "confusion": row["confusion"],
            "reliability": row["reliability"],
            "fit_version": row["fit_version"],
            "updated_at": now,
        }
        changes = {k: v for k, v in values.items() if k not in ("project_id", "model")}
        statement = insert_for(conn, model_stats).values(**values)
        keys = [model_stats.c.project_id, model_stats.c.model]
        await conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


async def gold_labels(conn: AsyncConnection, project_id: ProjectId) -> dict[int, str]:
    """Known truths to clamp: gold keys, and labels experts decided."""
    gold = select(tasks.c.id, tasks.c.gold_label).where(tasks.c.project_id == project_id, tasks.c.is_gold.is_(True))
    expert = select(tasks.c.id, tasks.c.expert_label).where(
        tasks.c.project_id == project_id, tasks.c.expert_label.is_not(None)
    )
    known = {row[0]: row[1] for row in await conn.execute(gold)}
    known.update({row[0]: row[1] for row in await conn.execute(expert)})
    return known


async def worker_models(conn: AsyncConnection, project_id: ProjectId) -> list[WorkerModel]:
    query = (
        select(
            worker_stats.c.worker_id, worker_stats.c.confusion, worker_stats.c.gold_answers, worker_stats.c.gold_correct
        )
        .where(worker_stats.c.project_id == project_id)
        .order_by(worker_stats.c.worker_id)
    )
    return [WorkerModel(WorkerId(w), confusion, ga, gc) for w, confusion, ga, gc in await conn.execute(query)]


async def insert_fit(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Store a fit as the project's next version; its version number."""
    current = select(func.coalesce(func.max(consensus_fits.c.version), 0)).where(
        consensus_fits.c.project_id == values["project_id"]
    )
    version = int((await conn.execute(current)).scalar_one()) + 1
    await conn.execute(insert(consensus_fits).values(**values, version=version))
    return version


async def store_worker_models(
    conn: AsyncConnection, project_id: ProjectId, models: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Write each worker's fitted matrix and reliability (rows for workers
    without answers yet are created)."""
    for model in models:
        values = {"project_id": project_id, **model, "updated_at": now}
        changes = {k: v for k, v in values.items() if k not in ("project_id", "worker_id")}
        await _upsert(conn, values, changes)


async def store_posteriors(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Write refitted posteriors, each only if its task still has the answer
    count the fit saw: an answer that arrived meanwhile keeps its own, newer,
    online posterior. Completed tasks (rows with a ``label``) also take the
    refitted label and confidence. Returns how many tasks were written."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        return await _pg_store_posteriors(conn, rows)
    written = 0
    for status, chunk in (
        ("open", [r for r in rows if r["label"] is None]),
        ("completed", [r for r in rows if r["label"]]),
    ):
        if chunk:
            written += (await conn.execute(_refit_update(status), chunk)).rowcount
    return written


def _refit_update(status: str) -> Any:
    same_answers = and_(tasks.c.id == bindparam("task_id"), tasks.c.answer_count == bindparam("answers"))
    values: dict[str, Any] = {"posterior": bindparam("posterior"), "confidence": bindparam("confidence")}
    if status == "completed":
        values["label"] = bindparam("label")
    return update(tasks).where(same_answers, tasks.c.status == status).values(**values)


# One statement for any number of rows: the columns travel as arrays.
_PG_STORE_POSTERIORS = text(
    """
    UPDATE tasks AS t
    SET posterior = f.posterior::jsonb,
        label = COALESCE(f.label, t.label),
        confidence = f.confidence
    FROM unnest(CAST(:ids AS bigint[]), CAST(:answers AS integer[]), CAST(:posteriors AS text[]),
                CAST(:labels AS text[]), CAST(:confidences AS float8[]))
         AS f(id, answers, posterior, label, confidence)
    WHERE t.id = f.id
      AND t.answer_count = f.answers
      AND t.status = CASE WHEN f.label IS NULL THEN 'open' ELSE 'completed' END
    RETURNING t.id
    """
)


async def _pg_store_posteriors(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    params = {
        "ids": [r["task_id"] for r in rows],
        "answers": [r["answers"] for r in rows],
        "posteriors": [json.dumps(r["posterior"]) for r in rows],
        "labels": [r["label"] for r in rows],
        "confidences": [r["confidence"] for r in rows],
    }
    return len((await conn.execute(_PG_STORE_POSTERIORS, params)).all())


async def task_states(conn: AsyncConnection, project_id: ProjectId) -> dict[int, tuple[str, str | None]]:
    """Status and consensus label of each real task of the project."""
    query = select(tasks.c.id, tasks.c.status, tasks.c.label).where(
        tasks.c.project_id == project_id, tasks.c.is_gold.is_(False)
    )
    return {row[0]: (row[1], row[2]) for row in await conn.execute(query)}


async def projects_due(conn: AsyncConnection) -> list[ProjectId]:
    """Active projects with answers newer than their last fit."""
    fitted = (
        select(func.coalesce(func.max(consensus_fits.c.last_answer_id), 0))
        .where(consensus_fits.c.project_id == projects.c.id)
        .scalar_subquery()
    )
    newest = select(func.max(answers.c.id)).where(answers.c.project_id == projects.c.id).scalar_subquery()
    query = select(projects.c.id).where(projects.c.status == "active", newest > fitted)
    return [ProjectId(pid) for pid in (await conn.execute(query)).scalars()]


async def worker_standings(
    conn: AsyncConnection, project_id: ProjectId, after: str, limit: int
) -> list[WorkerStanding]:
    query = (
        select(
            worker_stats.c.worker_id,
            workers.c.name,
            worker_stats.c.answers,
            worker_stats.c.gold_answers,
            worker_stats.c.gold_correct,
            worker_stats.c.reliability,
            worker_stats.c.reliability_low,
            worker_stats.c.reliability_high,
            worker_stats.c.spammer_score,
            worker_stats.c.confusion,
            (worker_stats.c.blocked | (workers.c.status == "blocked")).label("blocked"),
            worker_stats.c.blocked_reason,
        )
        .join(workers, workers.c.id == worker_stats.c.worker_id)
        .where(worker_stats.c.project_id == project_id, worker_stats.c.worker_id > after)
        .order_by(worker_stats.c.worker_id)
        .limit(limit)
    )
    return [WorkerStanding(**row._asdict()) for row in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class ProjectStanding:
    """A worker's own record in one project, as the worker may see it:
    no gold counters (they would tell which answers were gold)."""

    project_id: ProjectId
    name: str
    answers: int
    blocked: bool
    reliability: float | None


async def standings_of_worker(conn: AsyncConnection, worker_id: WorkerId) -> list[ProjectStanding]:
    query = (
        select(
            worker_stats.c.project_id,
            projects.c.name,
            worker_stats.c.answers,
            worker_stats.c.blocked,
            worker_stats.c.reliability,
        )
        .join(projects, projects.c.id == worker_stats.c.project_id)
        .where(worker_stats.c.worker_id == worker_id)
        .order_by(projects.c.name, projects.c.id)
    )
    return [ProjectStanding(ProjectId(p), name, n, bool(b), r) for p, name, n, b, r in await conn.execute(query)]
