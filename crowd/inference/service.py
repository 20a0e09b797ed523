"""Use cases of consensus: score each answer online, refit projects, list
worker reliability."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd import metrics
from crowd.broker import Broker
from crowd.clock import Clock
from crowd.consensus import DawidSkene, DSParams, encode_answers, encode_gold, evidence_weights
from crowd.db.engine import Database
from crowd.errors import BrokerUnavailable, Conflict, NotFound
from crowd.events import store as events
from crowd.ids import OrganizationId, ProjectId, TaskId, WorkerId
from crowd.inference import policy, store
from crowd.inference.policy import Vote
from crowd.machine.policy import MODEL_PREFIX
from crowd.projects import store as projects
from crowd.projects.access import require_project
from crowd.projects.models import Project
from crowd.quality import service as quality

log = logging.getLogger(__name__)

#: Posteriors written per transaction by a refit, so a big refit never holds
#: SQLite's single write lock (or many PostgreSQL row locks) for long.
WRITE_CHUNK = 2000
REFIT_LOCK_SECONDS = 600.0


async def count_answer(
    conn: AsyncConnection,
    project: Project,
    worker_id: WorkerId,
    now: datetime,
    *,
    gold_correct: bool | None = None,
    fast: bool = False,
) -> None:
    await store.count_answer(conn, project.id, worker_id, now, gold_correct=gold_correct, fast=fast)


@dataclass(frozen=True, slots=True)
class Settled:
    raised: bool
    """The task wants another worker."""
    completed: projects.TaskOutcome | None
    """What the task completed with (its consensus label…), if it completed now."""


async def on_answer(
    conn: AsyncConnection,
    project: Project,
    task_id: TaskId,
    answers: int,
    target_overlap: int,
    now: datetime,
    counts: tuple[int, int] = (0, 0),
) -> Settled:
    """Score the task's answers with the current worker models; complete it
    or raise its target overlap by the dynamic overlap rule, which with
    ``evidence_half`` set also asks that the posterior with each human answer
    weighted by how well the project knows its worker
    (:func:`~crowd.consensus.online.evidence_weights`) be sure. ``answers``
    counts every answer of the task, those of workers whose answers left
    consensus (recollection) included; ``counts`` go to the task's counters
    with the posterior (:func:`~crowd.inference.store.set_posterior`)."""
    found = await store.task_votes(
        conn,
        project.id,
        task_id,
        without_blocked=project.recollect_blocked,
        without_fast=project.fast_policy == "exclude",
    )
    model, stored, machines = _model(project, found.priors, found.newcomer), found.humans, found.machines
    index = {label: k for k, label in enumerate(project.labels)}
    votes = [Vote(index[v.label], _matrix(v.confusion, len(index))) for v in [*stored, *machines]]
    posterior = policy.task_posterior(model, votes)
    evidence = None
    if project.evidence_half:
        weights = evidence_weights([v.answers or 0 for v in stored], project.evidence_half).tolist()
        weights += [1.0] * len(machines)  # a model's matrix comes from all its predictions
        evidence = policy.task_posterior(model, votes, weights)
    outcome = policy.settle(
        posterior,
        votes=len(votes),
        humans=len(stored),
        answers=answers,
        target_overlap=target_overlap,
        min_overlap=project.min_overlap,
        max_overlap=project.max_overlap,
        min_humans=project.min_human_answers,
        confidence=project.confidence_target,
        evidence=evidence,
    )
    completed = await store.set_posterior(
        conn,
        task_id,
        _by_label(project.labels, posterior),
        target_overlap=outcome.target_overlap,
        outcome=(project.labels[outcome.label], round(outcome.confidence, 6)) if outcome.complete else None,
        now=now,
        counts=counts,
    )
    return Settled(outcome.target_overlap > target_overlap, completed)


def _model(project: Project, priors: list[float] | None, newcomer: list[list[float]] | None) -> DSParams:
    """The online model of the project's latest fit (a cold start before the
    first, or when the labels changed since)."""
    if priors is None or newcomer is None or len(priors) != len(project.labels):
        return policy.cold_start(len(project.labels))
    return DSParams(np.empty((0, len(priors), len(priors))), np.asarray(priors), np.asarray(newcomer))


def _matrix(confusion: list[list[float]] | None, n_classes: int) -> np.ndarray | None:
    if confusion is None or len(confusion) != n_classes:
        return None
    return np.asarray(confusion, dtype=np.float64)


def _by_label(labels: list[str], posterior: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(labels, posterior, strict=True)}


# full refits -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FitSummary:
    project_id: ProjectId
    version: int
    answers: int
    tasks: int
    workers: int
    iterations: int
    converged: bool
    log_likelihood: float
    seconds: float
    posteriors_written: int


@dataclass(frozen=True, slots=True)
class _Inputs:
    project: Project
    rows: list[store.AnswerRow]
    gold: dict[int, str]
    previous: store.StoredFit | None
    models: list[store.WorkerModel]


async def refit(
    db: Database, broker: Broker, clock: Clock, project_id: str, *, organization_id: OrganizationId | None = None
) -> FitSummary:
    """A full Dawid-Skene fit of the project, warm-started from the last one,
    gold clamped; writes the next model version, every worker's matrix and
    reliability, and the refitted task posteriors. One process at a time."""
    lock = f"refit:{project_id}"
    try:
        token = await broker.acquire_lock(lock, REFIT_LOCK_SECONDS)
    except BrokerUnavailable:
        token = None
    if token is None:
        raise Conflict("a refit of this project is running; try again when it ends")
    try:
        return await _refit(db, clock, await _read_inputs(db, project_id, organization_id))
    finally:
        try:
            await broker.release_lock(lock, token)
        except BrokerUnavailable:
            log.warning("refit lock not released; it expires by itself", extra={"project_id": project_id})


async def _read_inputs(db: Database, project_id: str, organization_id: OrganizationId | None) -> _Inputs:
    async with db.read() as conn:
        project = await projects.project_by_id(conn, project_id, organization_id=organization_id)
        if project is None:
            raise NotFound(f"no project {project_id}")
        rows = await store.answer_rows(
            conn, project.id, without_blocked=project.recollect_blocked, without_fast=project.fast_policy == "exclude"
        )
        rows += await store.prediction_rows(conn, project.id)  # models are workers too
        gold = await store.gold_labels(conn, project.id)
        previous = await store.latest_fit(conn, project.id)
        models = await store.worker_models(conn, project.id) + await store.machine_models(conn, project.id)
    return _Inputs(project, rows, gold, previous, models)


async def _refit(db: Database, clock: Clock, inputs: _Inputs) -> FitSummary:
    started = time.perf_counter()
    fitted = await asyncio.to_thread(_fit, inputs)
    seconds = time.perf_counter() - started
    metrics.REFIT_SECONDS.observe(seconds)
    now = clock.now()
    project = inputs.project
    async with db.transaction() as conn:
        version = await store.insert_fit(
            conn,
            {
                "project_id": project.id,
                "fitted_at": now,
                "last_answer_id": max((r.id for r in inputs.rows), default=0),
                "answers": len(inputs.rows),
                "tasks": fitted.n_tasks,
                "workers": len(fitted.workers),
                "iterations": fitted.model.n_iter_,
                "converged": fitted.model.converged_,
                "log_likelihood": fitted.model.log_likelihood_[-1] if fitted.model.log_likelihood_ else 0.0,
                "seconds": round(seconds, 4),
                "priors": fitted.model.priors_.tolist(),
                "newcomer": fitted.model.newcomer_.tolist(),
            },
        )
        rows = fitted.worker_rows(version)
        humans = [row for row in rows if not str(row["worker_id"]).startswith(MODEL_PREFIX)]
        machines = [row for row in rows if str(row["worker_id"]).startswith(MODEL_PREFIX)]
        await store.store_worker_models(conn, project.id, humans, now)
        await store.store_machine_models(conn, project.id, machines, now)
    written = await _write_posteriors(db, project, inputs, fitted, version, now)
    return FitSummary(
        project.id,
        version,
        len(inputs.rows),
        fitted.n_tasks,
        len(fitted.workers),
        fitted.model.n_iter_,
        fitted.model.converged_,
        fitted.model.log_likelihood_[-1] if fitted.model.log_likelihood_ else 0.0,
        round(seconds, 4),
        written,
    )


@dataclass
class _Fitted:
    model: DawidSkene
    task_ids: tuple[Any, ...]
    workers: tuple[Any, ...]
    reliability: policy.Reliability

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    def worker_rows(self, version: int) -> list[dict[str, Any]]:
        r = self.reliability
        return [
            {
                "worker_id": worker,
                "confusion": np.round(self.model.confusions_[w], 6).tolist(),
                "reliability": float(r.accuracy[w]),
                "reliability_low": float(r.low[w]),
                "reliability_high": float(r.high[w]),
                "spammer_score": float(r.spammer[w]),
                "fit_version": version,
            }
            for w, worker in enumerate(self.workers)
        ]


def _fit(inputs: _Inputs) -> _Fitted:
    """The numeric part, run in a thread off the event loop."""
    labels = inputs.project.labels
    known = [m.worker_id for m in inputs.models if _matrix(m.confusion, len(labels)) is not None]
    coded = encode_answers(((r.task_id, r.worker_id, r.label) for r in inputs.rows), classes=labels, worker_ids=known)
    gold = encode_gold(inputs.gold, coded.codebook)
    model = DawidSkene().fit(
        coded.tasks,
        coded.workers,
        coded.labels,
        n_tasks=coded.codebook.n_tasks,
        n_workers=coded.codebook.n_workers,
        n_classes=len(labels),
        gold=gold,
        init=_warm_start(inputs, known),
    )
    gold_counts: dict[Any, tuple[int, int]] = {m.worker_id: (m.gold_correct, m.gold_answers) for m in inputs.models}
    workers = coded.codebook.worker_ids
    correct = np.array([gold_counts.get(w, (0, 0))[0] for w in workers], dtype=np.float64)
    seen = np.array([gold_counts.get(w, (0, 0))[1] for w in workers], dtype=np.float64)
    gold_tasks = np.zeros(coded.codebook.n_tasks, dtype=bool)
    gold_tasks[list(gold)] = True
    real = ~gold_tasks[coded.tasks]
    answers = (coded.tasks, coded.workers, coded.labels)
    reliability = policy.reliability(model.params_, model.posteriors_, answers, real, correct, seen)
    return _Fitted(model, coded.codebook.task_ids, workers, reliability)


def _warm_start(inputs: _Inputs, known: list[Any]) -> DSParams | None:
    previous = inputs.previous
    if previous is None or not known or len(previous.priors) != len(inputs.project.labels):
        return None
    matrices = {m.worker_id: m.confusion for m in inputs.models}
    confusions = np.asarray([matrices[w] for w in known], dtype=np.float64)
    return DSParams(confusions, np.asarray(previous.priors), np.asarray(previous.newcomer))


async def _write_posteriors(
    db: Database, project: Project, inputs: _Inputs, fitted: _Fitted, version: int, now: datetime
) -> int:
    """Write the refitted posteriors; a completed task whose label the refit
    changed announces it (``task.relabeled``) in the same transaction."""
    answers_seen: dict[int, int] = {}
    for row in inputs.rows:
        if not row.worker_id.startswith(MODEL_PREFIX):  # tasks count human answers only
            answers_seen[row.task_id] = answers_seen.get(row.task_id, 0) + 1
    async with db.read() as conn:
        states = await store.task_states(conn, project.id)
    posteriors = fitted.model.posteriors_
    updates: list[dict[str, Any]] = []
    relabeled: dict[int, str | None] = {}  # completed tasks whose label the refit changes: the label they had
    for i, task_id in enumerate(fitted.task_ids):
        if task_id not in states:  # a gold task
            continue
        top = int(np.argmax(posteriors[i]))
        status, label = states[task_id]
        completed = status == "completed"
        if completed and label != project.labels[top]:
            relabeled[task_id] = label
        updates.append(
            {
                "task_id": task_id,
                "answers": answers_seen.get(task_id, 0),
                "posterior": _by_label(project.labels, posteriors[i]),
                "label": project.labels[top] if completed else None,
                "confidence": round(float(posteriors[i, top]), 6),
            }
        )
    written = 0
    for start in range(0, len(updates), WRITE_CHUNK):
        chunk = updates[start : start + WRITE_CHUNK]
        async with db.transaction() as conn:
            written += await store.store_posteriors(conn, chunk)
            changed = {item["task_id"]: item["label"] for item in chunk if item["task_id"] in relabeled}
            if changed:
                await _announce_relabels(conn, project, changed, relabeled, version, now)
    return written


async def _announce_relabels(
    conn: AsyncConnection,
    project: Project,
    labels: dict[int, str],
    previous: dict[int, str | None],
    version: int,
    now: datetime,
) -> None:
    """``task.relabeled`` for each task whose refitted ``labels`` were written
    (a task that got an answer since the fit keeps its own, newer, posterior)."""
    for task_id, task in (await projects.task_outcomes(conn, list(labels))).items():
        if task.label != labels[task_id]:
            continue
        data = {
            "task": task.external_id,
            "batch_id": task.batch_id,
            "label": task.label,
            "previous_label": previous[task_id],
            "confidence": task.confidence,
            "posterior": task.posterior,
            "answers": task.answers,
            "fit_version": version,
        }
        key = f"{events.TASK_RELABELED}:{task_id}:{version}"
        await events.emit(conn, project.organization_id, project.id, events.TASK_RELABELED, data, now, dedupe_key=key)


async def refit_due(db: Database, broker: Broker, clock: Clock) -> int:
    """Refit every project with new answers that no other process is
    refitting; how many were refitted. Every process runs this: the
    per-project lock spreads projects over processes."""
    async with db.read() as conn:
        due = await store.projects_due(conn)
    random.shuffle(due)
    done = 0
    for project_id in due:
        try:
            summary = await refit(db, broker, clock, project_id)
        except Conflict:
            continue
        done += 1
        await quality.raise_alerts(db, clock, project_id)
        log.info("refitted", extra={"project_id": project_id, "version": summary.version, "seconds": summary.seconds})
    return done


async def worker_standings(
    db: Database, organization_id: OrganizationId, project_id: str, after: str, limit: int
) -> tuple[Project, list[store.WorkerStanding]]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        return project, await store.worker_standings(conn, project.id, after, limit)
