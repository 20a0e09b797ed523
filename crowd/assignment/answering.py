"""Use cases of a lease's end: the answer (stored once, graded if gold,
scored by consensus if real) and the skip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd import metrics
from crowd.assignment import completion, store
from crowd.assignment.policy import ANSWERED, EXPIRED, LEASED, SKIPPED, AnswerFit, Slots, fit_answer
from crowd.assignment.service import Engine, check_active
from crowd.assignment.signals import announce_work
from crowd.assignment.store import Assignment, StoredAnswer
from crowd.errors import AlreadyAnswered, AssignmentClosed, LeaseExpired, NotFound, UnknownLabel, WorkerBlocked
from crowd.gold import service as gold
from crowd.gold import store as gold_store
from crowd.identity.models import Worker
from crowd.ids import AssignmentId, ProjectId
from crowd.inference import service as inference
from crowd.payments import service as payments
from crowd.projects.models import Project
from crowd.quality import service as quality


@dataclass(frozen=True, slots=True)
class Receipt:
    """The reply to an answer or a skip; a retry gets the same one.
    ``feedback`` (gold tasks, when the project turns it on) comes only
    after the answer is stored."""

    public_id: AssignmentId
    status: str
    label: str | None
    at: datetime
    feedback: dict[str, Any] | None = None


async def answer(engine: Engine, worker: Worker, public_id: str, label: str) -> Receipt:
    """Store the worker's answer once; a retry gets the same receipt."""
    check_active(worker)

    async def work(conn: AsyncConnection) -> tuple[Receipt, ProjectId | None, bool]:
        found = await store.answer_context(conn, public_id, worker.id, worker.organization_id)
        if found is None:
            raise NotFound(f"no assignment {public_id}")
        assignment, context, slots = found
        project = context.project
        if assignment.status == ANSWERED:
            stored = await store.answer_of(conn, assignment.id)
            if stored.label != label:
                raise AlreadyAnswered(f"this assignment was answered with {stored.label!r}")
            return await _receipt(conn, project, assignment, stored), None, False
        if context.blocked:
            raise WorkerBlocked("this worker is blocked on this project")
        if label not in project.labels:
            raise UnknownLabel(f"{label!r} is not one of {project.labels}")
        receipt, needs_workers = await _accept(conn, project, assignment, slots, label, engine.clock.now())
        return receipt, needs_workers, True

    receipt, needs_workers, stored = await engine.db.retrying(work)
    if stored:
        metrics.ANSWERS.inc()
    if needs_workers is not None:
        await announce_work(engine.broker, worker.organization_id, needs_workers)
    return receipt


async def _accept(
    conn: AsyncConnection, project: Project, assignment: Assignment, slots: Slots | None, label: str, now: datetime
) -> tuple[Receipt, ProjectId | None]:
    """Record the answer and count it for the worker; grade it (gold) or score
    its task (real: ``slots``, read under its lock). The project comes back
    when it now wants more workers."""
    fit = fit_answer(assignment.status)
    if fit is AnswerFit.CLOSED:
        raise AssignmentClosed("this assignment was skipped")
    if fit is AnswerFit.NO_SLOT:
        raise LeaseExpired("the lease expired and went to someone else")
    held_slot = fit is AnswerFit.LEASE_SLOT
    fast = (now - assignment.issued_at).total_seconds() < project.min_seconds
    scored = slots is not None and slots.open  # its posterior is written next, with its counts
    stored = await store.record_answer(conn, assignment, label, now, held_slot=held_slot, fast=fast, count=not scored)
    await payments.pay_answer(conn, project, assignment, stored.id, held_slot=held_slot, now=now)
    blocked = fast and await quality.after_fast_answer(conn, project, assignment.worker_id, now)
    wants_workers = blocked and project.recollect_blocked
    if slots is None:
        key = await gold_store.gold_key(conn, assignment.task_id)
        correct = label == key.label
        await inference.count_answer(conn, project, assignment.worker_id, now, gold_correct=correct, fast=fast)
        blocked = await gold.after_gold_answer(conn, project, assignment.worker_id, now)
        wants_workers = wants_workers or (blocked and project.recollect_blocked)
    else:
        await inference.count_answer(conn, project, assignment.worker_id, now, fast=fast)
        if scored:
            answers, counts = slots.answer_count + 1, store.answer_counts(held_slot)
            settled = await inference.on_answer(
                conn, project, assignment.task_id, answers, slots.target_overlap, now, counts
            )
            wants_workers = settled.raised
            if settled.completed is not None:
                await completion.task_completed(conn, project, assignment.task_id, settled.completed, now)
    receipt = await _receipt(conn, project, assignment, stored)
    return receipt, project.id if wants_workers else None


async def _receipt(conn: AsyncConnection, project: Project, assignment: Assignment, stored: StoredAnswer) -> Receipt:
    feedback = None
    if assignment.is_gold and project.gold_feedback:
        key = await gold_store.gold_key(conn, assignment.task_id)
        feedback = {"correct": stored.label == key.label, "label": key.label, "explanation": key.explanation}
    return Receipt(assignment.public_id, "accepted", stored.label, stored.created_at, feedback)


async def skip(engine: Engine, worker: Worker, public_id: str) -> Receipt:
    """Give the task back: its slot frees for another worker (never for this one)."""
    check_active(worker)

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
        await payments.release_reward(conn, assignment.project_id, assignment.reward, assignment.reserved)
        return Receipt(assignment.public_id, SKIPPED, None, now), assignment.project_id

    receipt, freed = await engine.db.retrying(work)
    if freed is not None:
        await announce_work(engine.broker, worker.organization_id, freed)
    return receipt


async def report(engine: Engine, worker: Worker, public_id: str, reason: str) -> Receipt:
    """A worker reports a problem with the task: a live lease is given back
    (like a skip), the report is kept and a real task goes to review."""
    check_active(worker)

    async def work(conn: AsyncConnection) -> tuple[Receipt, ProjectId | None]:
        assignment = await _assignment(conn, worker, public_id)
        now = engine.clock.now()
        freed = None
        if assignment.status == LEASED:
            await store.release_lease(conn, assignment, SKIPPED, now)
            await payments.release_reward(conn, assignment.project_id, assignment.reward, assignment.reserved)
            freed = assignment.project_id
        await quality.report_task(
            conn, assignment.project_id, assignment.id, assignment.task_id, worker.id, reason, assignment.is_gold, now
        )
        return Receipt(assignment.public_id, "reported", None, now), freed

    receipt, freed = await engine.db.retrying(work)
    if freed is not None:
        await announce_work(engine.broker, worker.organization_id, freed)
    return receipt


async def _assignment(conn: AsyncConnection, worker: Worker, public_id: str) -> Assignment:
    assignment = await store.assignment_for_update(conn, public_id, worker.id, worker.organization_id)
    if assignment is None:
        raise NotFound(f"no assignment {public_id}")
    return assignment
