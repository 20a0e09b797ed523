"""Use cases of the assignment engine: next task, answer, skip, sweep."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd import metrics
from crowd.assignment import store
from crowd.assignment.policy import qualified, route_for
from crowd.assignment.signals import announce_work, organization_channel, project_channel
from crowd.assignment.store import Offer
from crowd.broker import Broker, Listener
from crowd.clock import Clock
from crowd.db.engine import Database, RetryTransaction, is_unique_violation
from crowd.errors import (
    BrokerUnavailable,
    InvalidCursor,
    NotFound,
    NotQualified,
    Unauthorized,
    WorkerBlocked,
)
from crowd.events import store as events
from crowd.gold.policy import gold_share
from crowd.gold.service import settings_of
from crowd.identity.models import Worker
from crowd.ids import AssignmentId, ProjectId, new_id
from crowd.inference import store as stats
from crowd.machine import service as machine
from crowd.payments import service as payments
from crowd.payments.service import BudgetExhausted
from crowd.projects import store as projects
from crowd.projects.models import Project

log = logging.getLogger(__name__)

#: How many active projects a worker without a project choice is tried on.
PROJECTS_TRIED = 20


class ExpiryThrottle:
    """Claims release a project's overdue leases at most once per
    ``interval`` of the engine's clock in this process: under load every
    claim would otherwise spend a round trip finding none. A lease overdue
    by a moment longer costs nothing (its slot only waits), and the sweeper
    releases leases in the background either way."""

    def __init__(self, interval: timedelta = timedelta(seconds=1)) -> None:
        self.interval = interval
        self._last: dict[ProjectId, datetime] = {}

    def due(self, project_id: ProjectId, now: datetime) -> bool:
        """Whether to release now; True counts as done."""
        last = self._last.get(project_id)
        if last is not None and timedelta(0) <= now - last < self.interval:
            return False
        self._last[project_id] = now
        return True


@dataclass(frozen=True, slots=True)
class Engine:
    """What the use cases need from the running server."""

    db: Database
    broker: Broker
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    """Draws whether an assignment is gold; seeded in tests."""
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the process shuts down: long-polls return at once."""
    expiry: ExpiryThrottle = field(default_factory=ExpiryThrottle)
    """When a claim last released a project's overdue leases."""


@dataclass(frozen=True, slots=True)
class Lease:
    offer: Offer
    project: Project


async def next_assignment(engine: Engine, worker: Worker, project_id: str | None, wait: float) -> Lease | None:
    """The worker's live lease, or a new one; with ``wait``, hold the request
    up to that many seconds for work to appear."""
    check_active(worker)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    channel = project_channel(ProjectId(project_id)) if project_id else organization_channel(worker.organization_id)
    async with _listening(engine.broker, channel) as listener:
        while True:
            lease = await _claim_any(engine, worker, project_id)
            remaining = deadline - loop.time()
            if lease is not None or remaining <= 0 or engine.draining.is_set():
                return lease
            await _work_or_drain(listener, engine.draining, remaining)


async def _work_or_drain(listener: Listener, draining: asyncio.Event, timeout: float) -> None:
    """Wait for news of work, the timeout, or the process shutting down."""
    waits = [asyncio.ensure_future(listener.wait(timeout)), asyncio.ensure_future(draining.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _claim_any(engine: Engine, worker: Worker, project_id: str | None) -> Lease | None:
    if project_id is not None:
        return await _claim_in(engine, worker, project_id)
    async with engine.db.read() as conn:
        held = await store.live_lease(conn, worker.id, worker.organization_id, engine.clock.now())
        if held is not None:
            project = await projects.project_by_id(conn, held.project_id)
            assert project is not None
            return Lease(held, project)
        candidates = await store.claimable_project_ids(conn, worker.id, worker.organization_id, PROJECTS_TRIED)
    for candidate in candidates:
        try:
            lease = await _claim_in(engine, worker, candidate)
        except (WorkerBlocked, NotQualified):
            continue  # kept off that project, not every one
        if lease is not None:
            return lease
    return None


async def _claim_in(engine: Engine, worker: Worker, project_id: str) -> Lease | None:
    async def work(conn: AsyncConnection) -> tuple[Project | None, _Claim]:
        found = await store.claim_context(conn, project_id, worker.id)  # in the claim's own transaction
        if found is None:  # none, or another organization's: the same to this worker
            raise NotFound(f"no project {project_id}")
        context, lease, admission = found
        if admission.deactivated:  # since this process looked its token up
            raise Unauthorized("the key or token is not valid")
        if not context.project.active or not admission.in_required_groups:
            return None, _Claim(None)
        return context.project, await _lease(conn, engine, worker, context, lease)

    try:
        project, claim = await engine.db.retrying(work)
    except BudgetExhausted as exhausted:
        await _budget_exhausted(engine, exhausted.project)
        return None
    metrics.LEASES_EXPIRED.inc(claim.expired)
    if claim.granted:
        metrics.LEASES_GRANTED.inc()
    return None if claim.offer is None or project is None else Lease(claim.offer, project)


@dataclass(frozen=True, slots=True)
class _Claim:
    """What a claim did, for the caller and, once committed, the metrics."""

    offer: Offer | None
    granted: bool = False  # a new lease (gold or not: the metrics do not say)
    expired: int = 0


async def _lease(
    conn: AsyncConnection, engine: Engine, worker: Worker, context: store.Context, held: Offer | None
) -> _Claim:
    """Within the claim's transaction: the worker's live lease, or a new one."""
    project, now = context.project, engine.clock.now()
    overdue = held is not None and held.expires_at <= now
    expired = 0
    if overdue or engine.expiry.due(project.id, now):
        # Overdue leases release their slots before the claim looks for one
        # (the sweeper does the same in the background); the worker's own
        # overdue lease must go before they can hold another.
        expired = (await store.expire_overdue(conn, now, project_id=project.id)).leases
    if context.blocked:
        raise WorkerBlocked("this worker is blocked on this project")
    if not qualified(project.min_reliability, context.standing.reliability):
        raise NotQualified(f"this project asks for a reliability of {project.min_reliability}")
    if held is not None and not overdue:
        return _Claim(held, expired=expired)
    reward = await payments.lease_reward(conn, project)
    public_id, expires_at = AssignmentId(new_id("asg", 24)), now + timedelta(seconds=project.lease_seconds)
    try:
        offer = None
        if engine.rng.random() < gold_share(settings_of(project), context.standing):
            draw = engine.rng.randrange(1, store.GOLD_DRAW_MODULUS)
            offer = await _claim_gold(conn, project, worker, public_id, now, expires_at, reward, draw)
        if offer is None:
            route = route_for(project.routing, context.standing.reliability_low)
            offer = await store.claim(conn, project.id, worker.id, public_id, now, expires_at, reward, route)
    except IntegrityError as exc:
        # The same worker's concurrent request leased first: start over
        # and hand back that lease.
        if is_unique_violation(exc):
            raise RetryTransaction from exc
        raise
    if offer is None:
        await payments.release_reward(conn, project.id, *reward)
        return _Claim(None, expired=expired)
    suggestion = await machine.suggest(conn, project, offer.task_id, offer.public_id)
    return _Claim(replace(offer, suggestion=suggestion), True, expired)


async def _budget_exhausted(engine: Engine, project: Project) -> None:
    """Tell the platform, once per budget figure, that leases have stopped."""
    log.info("budget exhausted", extra={"project_id": project.id})
    async with engine.db.transaction() as conn:
        await events.emit(
            conn,
            project.organization_id,
            project.id,
            events.BUDGET_EXHAUSTED,
            {"budget": project.budget, "currency": project.currency},
            engine.clock.now(),
            dedupe_key=f"{events.BUDGET_EXHAUSTED}:{project.id}:{project.budget}",
        )


async def _claim_gold(
    conn: AsyncConnection,
    project: Project,
    worker: Worker,
    public_id: AssignmentId,
    now: datetime,
    expires_at: datetime,
    reward: tuple[int, bool],
    draw: int,
) -> Offer | None:
    """A gold lease, but only when a real task was there to give: gold handed
    out when nothing else is left would tell the worker what it is."""
    if not await store.real_work_available(conn, project.id, worker.id):
        return None
    return await store.claim_gold(conn, project.id, worker.id, public_id, now, expires_at, reward, draw=draw)


@dataclass(frozen=True, slots=True)
class OpenProject:
    project: Project
    open_tasks: int


async def open_projects(
    engine: Engine, worker: Worker, after: str, limit: int
) -> tuple[list[OpenProject], ProjectId | None]:
    """A page of the projects this worker may work on (active, of its
    organization, requiring no group it is not in, not blocking it), by
    priority, then oldest first, with their open tasks; the page starts after
    the project ``after`` ("": at the beginning) and comes with the project
    the next page starts after (None at the end). The cursor is a project
    the page showed, so it tells the worker nothing the page did not."""
    check_active(worker)
    async with engine.db.read() as conn:
        key = None
        if after:
            key = await store.offer_key(conn, after, worker.organization_id)
            if key is None:
                raise InvalidCursor(f"bad cursor {after!r}")
        found = await store.open_projects(conn, worker.id, worker.organization_id, key, limit + 1)
        page = found[:limit]
        open_counts = await projects.open_tasks(conn, [p.id for p in page])
    next_after = page[-1].id if len(found) > limit else None
    return [OpenProject(p, open_counts[p.id]) for p in page], next_after


async def standings(engine: Engine, worker: Worker) -> list[stats.ProjectStanding]:
    async with engine.db.read() as conn:
        return await stats.standings_of_worker(conn, worker.id)


async def open_task_count(db: Database) -> int:
    async with db.read() as conn:
        return await store.open_task_count(conn)


async def sweep_expired(engine: Engine, batch: int = 1000) -> int:
    """Release every overdue lease; how many projects got slots back."""
    freed: set[ProjectId] = set()
    while True:
        async with engine.db.transaction() as conn:
            expired = await store.expire_overdue(conn, engine.clock.now(), limit=batch)
        metrics.LEASES_EXPIRED.inc(expired.leases)
        if not expired.leases:
            break
        freed |= expired.freed
    await announce_freed(engine, freed)
    return len(freed)


async def announce_freed(engine: Engine, freed: set[ProjectId]) -> None:
    """Wake the workers waiting for these projects' work."""
    if not freed:
        return
    async with engine.db.read() as conn:
        organizations = await projects.organizations_of(conn, sorted(freed))
    for project_id, organization_id in sorted(organizations.items()):
        await announce_work(engine.broker, organization_id, project_id)


def check_active(worker: Worker) -> None:
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
