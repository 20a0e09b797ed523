"""Use cases of the assignment engine: next task, answer, skip, sweep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import store
from crowd.assignment.policy import ANSWERED, EXPIRED, LEASED, SKIPPED, AnswerFit, fit_answer
from crowd.assignment.signals import ANY_PROJECT, announce_work, project_channel
from crowd.assignment.store import Assignment, Offer
from crowd.broker import Broker, Listener
from crowd.clock import Clock
from crowd.db.engine import Database, RetryTransaction, is_unique_violation
from crowd.errors import (
    AlreadyAnswered,
    AssignmentClosed,
    BrokerUnavailable,
    LeaseExpired,
    NotFound,
    UnknownLabel,
    WorkerBlocked,
)
from crowd.identity.models import Worker
from crowd.ids import AssignmentId, ProjectId, new_id
from crowd.inference import service as inference
from crowd.projects import store as projects
from crowd.projects.models import Project

log = logging.getLogger(__name__)

#: How many active projects a worker without a project choice is tried on.
PROJECTS_TRIED = 20


@dataclass(frozen=True, slots=True)
class Engine:
    """What the use cases need from the running server."""

    db: Database
    broker: Broker
    clock: Clock


@dataclass(frozen=True, slots=True)
class Lease:
    offer: Offer
    project: Project


@dataclass(frozen=True, slots=True)
class Receipt:
    """The reply to an answer or a skip; a retry gets the same one."""

    public_id: AssignmentId
    status: str
    label: str | None
    at: datetime


async def next_assignment(engine: Engine, worker: Worker, project_id: str | None, wait: float) -> Lease | None:
    """The worker's live lease, or a new one; with ``wait``, hold the request
    up to that many seconds for work to appear."""
    _check_active(worker)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    channel = project_channel(ProjectId(project_id)) if project_id else ANY_PROJECT
    async with _listening(engine.broker, channel) as listener:
        while True:
            lease = await _claim_any(engine, worker, project_id)
            remaining = deadline - loop.time()
            if lease is not None or remaining <= 0:
                return lease
            await listener.wait(remaining)


async def _claim_any(engine: Engine, worker: Worker, project_id: str | None) -> Lease | None:
    if project_id is not None:
        return await _claim_in(engine, worker, await _project(engine.db, project_id))
    async with engine.db.read() as conn:
        held = await store.live_lease(conn, worker.id, engine.clock.now())
        if held is not None:
            project = await projects.project_by_id(conn, held.project_id)
            assert project is not None
            return Lease(held, project)
        candidates = await projects.active_project_ids(conn, PROJECTS_TRIED)
    for candidate in candidates:
        project = await _project(engine.db, candidate)
        if (lease := await _claim_in(engine, worker, project)) is not None:
            return lease
    return None


async def _claim_in(engine: Engine, worker: Worker, project: Project) -> Lease | None:
    if not project.active:
        return None

    async def work(conn: AsyncConnection) -> Offer | None:
        now = engine.clock.now()
        # Count expiry live: overdue leases release their slots before the
        # claim looks for one (the sweeper does the same in the background).
        await store.expire_overdue(conn, now, project_id=project.id)
        held = await store.live_lease(conn, worker.id, now, project.id)
        if held is not None:
            return held
        expires_at = now + timedelta(seconds=project.lease_seconds)
        try:
            return await store.claim(conn, project.id, worker.id, AssignmentId(new_id("asg", 24)), now, expires_at)
        except IntegrityError as exc:
            # The same worker's concurrent request leased first: start over
            # and hand back that lease.
            if is_unique_violation(exc):
                raise RetryTransaction from exc
            raise

    offer = await engine.db.retrying(work)
    return None if offer is None else Lease(offer, project)


async def answer(engine: Engine, worker: Worker, public_id: str, label: str) -> Receipt:
    """Store the worker's answer once; a retry gets the same receipt."""
    _check_active(worker)

    async def work(conn: AsyncConnection) -> tuple[Receipt, ProjectId | None]:
        assignment = await _assignment(conn, worker, public_id)
        project = await projects.project_by_id(conn, assignment.project_id)
        assert project is not None
        if assignment.status == ANSWERED:
            stored = await store.answer_of(conn, assignment.id)
            if stored.label != label:
                raise AlreadyAnswered(f"this assignment was answered with {stored.label!r}")
            return Receipt(assignment.public_id, "accepted", stored.label, stored.created_at), None
        if label not in project.labels:
            raise UnknownLabel(f"{label!r} is not one of {project.labels}")
        return await _accept(conn, project, assignment, label, engine.clock.now())

    receipt, needs_worker = await engine.db.retrying(work)
    if needs_worker is not None:
        await announce_work(engine.broker, needs_worker)
    return receipt


async def _accept(
    conn: AsyncConnection, project: Project, assignment: Assignment, label: str, now: datetime
) -> tuple[Receipt, ProjectId | None]:
    """Record the answer, count it for the worker and score its task; the
    project comes back when the task now wants one more worker."""
    slots = await store.task_slots_for_update(conn, assignment.task_id)
    fit = fit_answer(assignment.status, slots)
    if fit is AnswerFit.CLOSED:
        raise AssignmentClosed("this assignment was skipped")
    if fit is AnswerFit.NO_SLOT:
        raise LeaseExpired("the lease expired and the task has all the answers it needs")
    stored = await store.record_answer(conn, assignment, label, now, held_slot=fit is AnswerFit.LEASE_SLOT)
    await inference.count_answer(conn, project, assignment.worker_id, now)
    raised = slots.open and await inference.on_answer(conn, project, assignment.task_id, slots.target_overlap, now)
    receipt = Receipt(assignment.public_id, "accepted", stored.label, stored.created_at)
    return receipt, project.id if raised else None


async def skip(engine: Engine, worker: Worker, public_id: str) -> Receipt:
    """Give the task back: its slot frees for another worker (never for this one)."""
    _check_active(worker)

    async def work(conn: AsyncConnection) -> tuple[Receipt, ProjectId | None]:
        assignment = await _assignment(conn, worker, public_id)
        if assignment.status == SKIPPED:
            at = await store.closed_at(conn, assignment.id)
            return Receipt(assignment.public_id, SKIPPED, None, at), None
        if assignment.status == EXPIRED:
            raise LeaseExpired("the lease already expired")
        if assignment.status != LEASED:
            raise AssignmentClosed("this assignment was already answered")
        now = engine.clock.now()
        await store.release_lease(conn, assignment, SKIPPED, now)
        return Receipt(assignment.public_id, SKIPPED, None, now), assignment.project_id

    receipt, freed = await engine.db.retrying(work)
    if freed is not None:
        await announce_work(engine.broker, freed)
    return receipt


async def sweep_expired(engine: Engine, batch: int = 1000) -> int:
    """Release every overdue lease; how many projects got slots back."""
    freed: set[ProjectId] = set()
    while True:
        async with engine.db.transaction() as conn:
            projects_freed = await store.expire_overdue(conn, engine.clock.now(), limit=batch)
        if not projects_freed:
            break
        freed |= projects_freed
    for project_id in sorted(freed):
        await announce_work(engine.broker, project_id)
    return len(freed)


async def _assignment(conn: AsyncConnection, worker: Worker, public_id: str) -> Assignment:
    assignment = await store.assignment_for_update(conn, public_id, worker.id)
    if assignment is None:
        raise NotFound(f"no assignment {public_id}")
    return assignment


async def _project(db: Database, project_id: str) -> Project:
    async with db.read() as conn:
        project = await projects.project_by_id(conn, project_id)
    if project is None:
        raise NotFound(f"no project {project_id}")
    return project


def _check_active(worker: Worker) -> None:
    if worker.blocked:
        raise WorkerBlocked("this worker is blocked")


@asynccontextmanager
async def _listening(broker: Broker, channel: str) -> AsyncIterator[Listener]:
    """A listener on ``channel``; with the broker down, one that only sleeps."""
    async with AsyncExitStack() as stack:
        listener: Listener
        try:
            listener = await stack.enter_async_context(broker.listen([channel]))
        except BrokerUnavailable:
            log.warning("broker unavailable: long-poll falls back to sleeping")
            listener = _Sleeper()
        yield listener


class _Sleeper:
    async def wait(self, timeout: float) -> bool:
        await asyncio.sleep(min(timeout, 1.0))
        return False
