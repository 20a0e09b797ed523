"""SQL of the assignment engine: claims, leases, answers.

The claim is the hot path. On PostgreSQL it is one statement: pick the first
task of the claim index this worker may take, skipping rows other claims hold
(``FOR UPDATE SKIP LOCKED``), take a lease slot on it and insert the
assignment. ``SKIP LOCKED`` re-checks a row under its lock, so a slot taken by
a claim that committed meanwhile is seen; this is why the free-slot test reads
counters on the task row itself (``answer_count``, ``lease_count``) rather
than counting assignments. SQLite has no row locks (and SQLAlchemy would drop
``SKIP LOCKED`` silently): there the same candidate query runs inside the
single-writer transaction ``Database.transaction`` opens with ``BEGIN
IMMEDIATE``, which excludes every other writer for its duration.

Lock order, the same everywhere so transactions never wait on each other in a
cycle: assignment row first, then its task row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment.policy import ANSWERED, EXPIRED, LEASED, Slots
from crowd.db.hot import Columns, Hot
from crowd.db.schema import answers, assignments, gold_origins, project_spend, projects, tasks, worker_stats, workers
from crowd.db.types import BigId, Json, UtcDateTime
from crowd.gold.policy import Standing
from crowd.gold.store import STANDING_COLUMNS, standing_of
from crowd.ids import AssignmentId, OrganizationId, ProjectId, TaskId, WorkerId
from crowd.projects.models import Project
from crowd.projects.store import PROJECT_COLUMNS, project_of
from crowd.workforce.store import in_required_groups


@dataclass(frozen=True, slots=True)
class Assignment:
    id: int
    public_id: AssignmentId
    project_id: ProjectId
    task_id: TaskId
    worker_id: WorkerId
    is_gold: bool
    reward: int
    reserved: bool
    status: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    """A lease: what the worker sees (the assignment handle, the data, a
    suggestion if the project shows them) and, for the server only, the
    task it is for."""

    public_id: AssignmentId
    project_id: ProjectId
    expires_at: datetime
    data: dict[str, Any]
    task_id: TaskId
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """The project and the worker's record in it, read by the statement that
    opens a claim or an answer (one round trip where there were three)."""

    project: Project
    standing: Standing
    blocked: bool


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    id: int
    label: str
    created_at: datetime


# The one definition of "a task this worker may take now", shared by both
# dialects. Literals, not parameters, for status and gold: PostgreSQL only
# uses the partial index ix_tasks_claim when it can see they match its WHERE.
_CANDIDATES = """
    SELECT t.id
    FROM tasks AS t
    WHERE t.project_id = :project_id
      -- open, real (not gold) tasks: the predicate of ix_tasks_claim
      AND t.status = 'open' AND NOT t.is_gold
      -- a slot is free: answers plus live leases below the target overlap
      AND t.answer_count + t.lease_count < t.target_overlap
      -- never given to this worker, not even after a skip or an expiry:
      -- one probe of the unique index on assignments (worker_id, task_id)
      -- per candidate. OFFSET 0 keeps PostgreSQL from turning this into an
      -- anti-join, which on stale statistics scans all of the worker's
      -- assignments for every candidate (a cost growing with their history).
      AND NOT EXISTS (
          SELECT 1 FROM assignments AS a
          WHERE a.worker_id = :worker_id AND a.task_id = t.id
          LIMIT 1 OFFSET 0)
    -- walk ix_tasks_claim in order: priority, then closest to completion
    -- (most answers, so batches finish), then oldest
    ORDER BY t.priority DESC, t.answer_count DESC, t.id
    LIMIT {limit}
"""
_CANDIDATE = _CANDIDATES.format(limit=1)

#: Routing by uncertainty picks within the first ``:pool`` candidates of the
#: depth-first order (a bounded set, so the claim keeps its speed). A task
#: nobody answered yet has no confidence and comes last either way: it is not
#: contested, only unstarted, and a reliable worker's vote settles most where
#: the answers so far disagree.
ROUTES = {
    "uncertain_first": "t.confidence IS NULL, t.confidence ASC, t.id",
    "confident_first": "t.confidence IS NULL, t.confidence DESC, t.id",
}

_TAKE = """
    taken AS (
        UPDATE tasks AS t SET lease_count = t.lease_count + 1
        FROM candidate WHERE t.id = candidate.id
        RETURNING t.id, t.data
    ), leased AS (
        INSERT INTO assignments
            (public_id, project_id, task_id, worker_id, status, issued_at, expires_at, reward, reserved)
        SELECT :public_id, :project_id, taken.id, :worker_id, 'leased', :now, :expires_at, :reward, :reserved
        FROM taken
        RETURNING task_id
    )
    SELECT taken.id, taken.data FROM leased JOIN taken ON taken.id = leased.task_id
"""


def _pg_claim(candidate: str) -> Hot:
    return Hot(
        text(f"WITH {candidate}, {_TAKE}")
        .bindparams(bindparam("now", type_=UtcDateTime()), bindparam("expires_at", type_=UtcDateTime()))
        .columns(id=BigId, data=Json)
    )


_PG_CLAIM = _pg_claim(
    f"""candidate AS (
        {_CANDIDATE}
        -- a task another claim holds is passed over, not waited for
        FOR UPDATE SKIP LOCKED
    )"""
)

_PG_ROUTED_CLAIMS = {
    route: _pg_claim(
        f"""pool AS (
            {_CANDIDATES.format(limit=":pool")}
        ), candidate AS (
            SELECT t.id FROM tasks AS t JOIN pool ON pool.id = t.id
            -- re-checked under the lock: a slot may have gone meanwhile
            WHERE t.status = 'open' AND t.answer_count + t.lease_count < t.target_overlap
            ORDER BY {order}
            LIMIT 1
            FOR UPDATE OF t SKIP LOCKED
        )"""
    )
    for route, order in ROUTES.items()
}

_SQLITE_ROUTED = {
    route: f"SELECT t.id FROM tasks AS t JOIN ({_CANDIDATES.format(limit=':pool')}) AS pool ON pool.id = t.id "
    f"ORDER BY {order} LIMIT 1"
    for route, order in ROUTES.items()
}

# Expired leases free their slots. Rows an answer or another sweep holds are
# skipped: the answer will settle its own lease.
_PG_EXPIRE = """
    WITH overdue AS (
        SELECT id, reserved FROM assignments
        WHERE status = 'leased' AND {which}
        ORDER BY expires_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), expired AS (
        UPDATE assignments AS a SET status = 'expired', closed_at = :now, reserved = false
        FROM overdue WHERE a.id = overdue.id
        RETURNING a.task_id, a.is_gold, a.project_id, a.reward, overdue.reserved
    ), unreserved AS (
        -- the budget gets the rewards reserved for these leases back
        UPDATE project_spend AS s SET reserved = s.reserved - r.total
        FROM (SELECT project_id, sum(reward) AS total FROM expired WHERE reserved GROUP BY project_id) AS r
        WHERE s.project_id = r.project_id
    ), freed AS (
        -- gold leases hold no slot
        SELECT task_id, count(*) AS n FROM expired WHERE NOT is_gold GROUP BY task_id
    ), released AS (
        UPDATE tasks AS t SET lease_count = t.lease_count - freed.n
        FROM freed WHERE t.id = freed.task_id
        RETURNING t.project_id
    )
    SELECT NULL AS project_id, count(*) AS leases FROM expired
    UNION ALL
    SELECT DISTINCT project_id, 0 FROM released
"""
_NOW = bindparam("now", type_=UtcDateTime())
_PG_EXPIRE_ALL = text(_PG_EXPIRE.format(which="expires_at <= :now")).bindparams(_NOW)
_PG_EXPIRE_PROJECT = text(_PG_EXPIRE.format(which="expires_at <= :now AND project_id = :project_id")).bindparams(_NOW)
# a deactivated worker's live leases, due or not (ix_assignments_live_lease leads with worker_id)
_PG_RELEASE_WORKER = text(_PG_EXPIRE.format(which="worker_id = :worker_id")).bindparams(_NOW)


async def claim(
    conn: AsyncConnection,
    project_id: ProjectId,
    worker_id: WorkerId,
    public_id: AssignmentId,
    now: datetime,
    expires_at: datetime,
    reward: tuple[int, bool] = (0, False),
    route: str | None = None,
    pool: int = 32,
) -> Offer | None:
    """Lease the first task this worker may take, or None. ``reward``: the
    lease's reward and whether the budget reserved it. ``route`` (a key of
    :data:`ROUTES`) picks by uncertainty among the first ``pool`` candidates."""
    params = {
        "project_id": project_id,
        "worker_id": worker_id,
        "public_id": public_id,
        "now": now,
        "expires_at": expires_at,
        "reward": reward[0],
        "reserved": reward[1],
        "pool": pool,
    }
    if conn.dialect.name == "postgresql":
        statement = _PG_CLAIM if route is None else _PG_ROUTED_CLAIMS[route]
        row = await statement.row(conn, params)
        taken = None if row is None else (TaskId(row[0]), row[1])
    else:
        taken = await _sqlite_claim(conn, params, _CANDIDATE if route is None else _SQLITE_ROUTED[route])
    return None if taken is None else Offer(public_id, project_id, expires_at, taken[1], taken[0])


async def _sqlite_claim(
    conn: AsyncConnection, params: dict[str, Any], candidate: str
) -> tuple[TaskId, dict[str, Any]] | None:
    task_id = (await conn.execute(_texts(candidate), params)).scalar()
    if task_id is None:
        return None
    await conn.execute(_TAKE_SLOT, {"task_id": task_id})
    lease = {key: params[key] for key in ("public_id", "project_id", "worker_id", "expires_at", "reward", "reserved")}
    await conn.execute(_INSERT_LEASE, {**lease, "task_id": task_id, "status": LEASED, "issued_at": params["now"]})
    data: dict[str, Any] = (await conn.execute(_TASK_DATA, {"task_id": task_id})).scalar_one()
    return TaskId(task_id), data


_TAKE_SLOT = update(tasks).where(tasks.c.id == bindparam("task_id")).values(lease_count=tasks.c.lease_count + 1)
_INSERT_LEASE = insert(assignments)
_TASK_DATA = select(tasks.c.data).where(tasks.c.id == bindparam("task_id"))
_texts = cache(text)  # each claim's SQL, built once


async def real_work_available(conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId) -> bool:
    """Whether a claim now would find a real task for this worker (no lock taken)."""
    params = {"project_id": project_id, "worker_id": worker_id}
    return (await conn.execute(_texts(_CANDIDATE), params)).first() is not None


#: The prime 2**31 - 1: ``(id mod p) * draw`` stays below 2**62, so the
#: scramble never overflows a 64-bit integer on either database.
GOLD_DRAW_MODULUS = 2_147_483_647


async def claim_gold(
    conn: AsyncConnection,
    project_id: ProjectId,
    worker_id: WorkerId,
    public_id: AssignmentId,
    now: datetime,
    expires_at: datetime,
    reward: tuple[int, bool],
    *,
    draw: int,
) -> Offer | None:
    """Lease a gold task this worker has never been given, drawn at random
    (so workers cannot compare notes on "the first gold"). ``draw`` (1 to
    :data:`GOLD_DRAW_MODULUS` - 1, from the engine's generator, so a seeded
    engine draws the same gold every run) picks the task that comes first
    when ids are scrambled as ``id * draw mod GOLD_DRAW_MODULUS``: a prime
    modulus makes that a different permutation of the ids for every draw. Gold has no
    overlap: no slot is counted and the task row is left alone, so no lock."""
    row = (await conn.execute(_GOLD, {"project_id": project_id, "worker_id": worker_id, "draw": draw})).first()
    if row is None:
        return None
    lease = {
        "public_id": public_id,
        "project_id": project_id,
        "task_id": row.id,
        "worker_id": worker_id,
        "is_gold": True,
        "status": LEASED,
        "issued_at": now,
        "expires_at": expires_at,
        "reward": reward[0],
        "reserved": reward[1],
    }
    await conn.execute(_INSERT_LEASE, lease)
    return Offer(public_id, project_id, expires_at, row.data, TaskId(row.id))


_GIVEN = select(assignments.c.id).where(
    assignments.c.worker_id == bindparam("worker_id"), assignments.c.task_id == tasks.c.id
)
# Gold promoted from a real task this worker was given (answered or not): they
# would know it, and could look their own answer up. One probe of the
# gold_origins key, then of assignments (worker_id, task_id).
_ORIGIN_GIVEN = (
    select(gold_origins.c.gold_task_id)
    .join(assignments, assignments.c.task_id == gold_origins.c.origin_task_id)
    .where(gold_origins.c.gold_task_id == tasks.c.id, assignments.c.worker_id == bindparam("worker_id"))
)
_SCRAMBLED = ((tasks.c.id % GOLD_DRAW_MODULUS) * bindparam("draw", type_=BigInteger)) % GOLD_DRAW_MODULUS
_GOLD = (
    select(tasks.c.id, tasks.c.data)
    # "is_gold" as written in the partial index ix_tasks_gold, so both
    # PostgreSQL and SQLite see that the index applies
    .where(
        tasks.c.project_id == bindparam("project_id"),
        text("tasks.is_gold"),
        ~_GIVEN.exists(),
        ~_ORIGIN_GIVEN.exists(),
    )
    .order_by(_SCRAMBLED, tasks.c.id)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class Expired:
    leases: int
    freed: set[ProjectId]  # the projects that got slots back


NOTHING_EXPIRED = Expired(0, set())


async def expire_overdue(
    conn: AsyncConnection, now: datetime, *, project_id: ProjectId | None = None, limit: int = 1000
) -> Expired:
    """Release up to ``limit`` overdue leases."""
    if conn.dialect.name == "postgresql":
        statement = _PG_EXPIRE_ALL if project_id is None else _PG_EXPIRE_PROJECT
        return await _pg_expire(conn, statement, {"now": now, "project_id": project_id, "limit": limit})
    due = [assignments.c.expires_at <= now]
    if project_id is not None:
        due.append(assignments.c.project_id == project_id)
    return await _sqlite_expire(conn, now, due, limit)


async def release_leases_of(conn: AsyncConnection, worker_id: WorkerId, now: datetime, limit: int = 1000) -> Expired:
    """Release up to ``limit`` of the worker's live leases, due or not, as
    expiry does: their slots and reserved rewards come back."""
    if conn.dialect.name == "postgresql":
        return await _pg_expire(conn, _PG_RELEASE_WORKER, {"now": now, "worker_id": worker_id, "limit": limit})
    return await _sqlite_expire(conn, now, [assignments.c.worker_id == worker_id], limit)


async def _pg_expire(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> Expired:
    rows = (await conn.execute(statement, params)).all()
    leases = sum(row.leases for row in rows if row.project_id is None)
    return Expired(leases, {ProjectId(row.project_id) for row in rows if row.project_id is not None})


async def _sqlite_expire(conn: AsyncConnection, now: datetime, which: list[Any], limit: int) -> Expired:
    query = (
        select(
            assignments.c.id,
            assignments.c.task_id,
            assignments.c.project_id,
            assignments.c.is_gold,
            assignments.c.reward,
            assignments.c.reserved,
        )
        .where(assignments.c.status == LEASED, *which)
        .order_by(assignments.c.expires_at)
        .limit(limit)
    )
    overdue = (await conn.execute(query)).all()
    if not overdue:
        return NOTHING_EXPIRED
    ids = [row.id for row in overdue]
    await conn.execute(
        update(assignments).where(assignments.c.id.in_(ids)).values(status=EXPIRED, closed_at=now, reserved=False)
    )
    slots = Counter(row.task_id for row in overdue if not row.is_gold)  # gold leases hold no slot
    for task_id, n in sorted(slots.items()):
        await conn.execute(update(tasks).where(tasks.c.id == task_id).values(lease_count=tasks.c.lease_count - n))
    reserved: Counter[str] = Counter()
    for row in overdue:
        if row.reserved:
            reserved[row.project_id] += row.reward
    for project_id_, total in sorted(reserved.items()):  # the budget gets these rewards back
        await conn.execute(
            update(project_spend)
            .where(project_spend.c.project_id == project_id_)
            .values(reserved=project_spend.c.reserved - total)
        )
    return Expired(len(overdue), {ProjectId(row.project_id) for row in overdue if not row.is_gold})


async def open_task_count(conn: AsyncConnection) -> int:
    """Real tasks still collecting answers, over all projects (the claim's partial index)."""
    query = select(func.count()).select_from(tasks).where(tasks.c.status == "open", tasks.c.is_gold.is_(False))
    return int((await conn.execute(query)).scalar_one())


async def live_lease(
    conn: AsyncConnection,
    worker_id: WorkerId,
    organization_id: OrganizationId,
    now: datetime,
    project_id: ProjectId | None = None,
) -> Offer | None:
    """The worker's unexpired lease in a project of its organization (in
    the project, if given). A lease in another organization's project (one
    the worker held before workers had organizations) is not handed out."""
    params = {"worker_id": worker_id, "organization_id": organization_id, "now": now}
    if project_id is None:
        found = await conn.execute(_LIVE_LEASE, params)
    else:
        found = await conn.execute(_LIVE_LEASE_IN, {**params, "project_id": project_id})
    row = found.first()
    if row is None:
        return None
    return Offer(
        AssignmentId(row.public_id),
        ProjectId(row.project_id),
        row.expires_at,
        row.data,
        TaskId(row.task_id),
        row.suggestion,
    )


_LIVE_LEASE = (
    select(
        assignments.c.public_id,
        assignments.c.project_id,
        assignments.c.expires_at,
        tasks.c.data,
        assignments.c.task_id,
        assignments.c.suggestion,
    )
    .join(tasks, tasks.c.id == assignments.c.task_id)
    .join(projects, projects.c.id == assignments.c.project_id)
    .where(
        assignments.c.worker_id == bindparam("worker_id"),
        assignments.c.status == LEASED,
        assignments.c.expires_at > bindparam("now"),
        projects.c.organization_id == bindparam("organization_id"),
    )
    .order_by(assignments.c.expires_at)
    .limit(1)
)
_LIVE_LEASE_IN = _LIVE_LEASE.where(assignments.c.project_id == bindparam("project_id"))


@dataclass(frozen=True, slots=True)
class Admission:
    """What the claim's context statement tells of the worker itself."""

    in_required_groups: bool
    """The worker is in every group the project requires."""
    deactivated: bool
    """An operator deactivated the worker (its token may still be cached)."""


async def claim_context(
    conn: AsyncConnection, project_id: str, worker_id: WorkerId
) -> tuple[Context, Offer | None, Admission] | None:
    """The project, the worker's standing in it and their lease there, if
    any, overdue or not (the caller tells), and whether the worker may be
    served it; None if there is no such project in the worker's organization."""
    row = await _CLAIM_CONTEXT.row(conn, {"project_id": project_id, "worker_id": worker_id})
    if row is None:
        return None
    context = Context(project_of(row), *standing_of(row))
    admission = Admission(bool(row["in_required_groups"]), row["deactivated_at"] is not None)
    if row["public_id"] is None:
        return context, None, admission
    lease = Offer(
        AssignmentId(row["public_id"]),
        context.project.id,
        row["expires_at"],
        row["data"],
        TaskId(row["task_id"]),
        row["suggestion"],
    )
    return context, lease, admission


_WORKER: BindParameter[str] = bindparam("worker_id")
_CLAIM_CONTEXT = Hot(
    select(
        *PROJECT_COLUMNS,
        *STANDING_COLUMNS,
        assignments.c.public_id,
        assignments.c.expires_at,
        assignments.c.task_id,
        assignments.c.suggestion,
        tasks.c.data,
        workers.c.deactivated_at,
        in_required_groups(projects.c.id, _WORKER).label("in_required_groups"),
    )
    .select_from(
        # The tenant boundary: the project only if it is of the worker's
        # organization, read from the worker's row (a primary-key probe),
        # not from anything the caller says.
        projects.join(workers, and_(workers.c.id == _WORKER, workers.c.organization_id == projects.c.organization_id))
        .outerjoin(worker_stats, and_(worker_stats.c.project_id == projects.c.id, worker_stats.c.worker_id == _WORKER))
        # at most one row: ix_assignments_live_lease is unique on these, and
        # its predicate written as a literal so PostgreSQL sees it applies
        .outerjoin(
            assignments,
            and_(
                assignments.c.project_id == projects.c.id,
                assignments.c.worker_id == _WORKER,
                text("assignments.status = 'leased'"),
            ),
        )
        .outerjoin(tasks, tasks.c.id == assignments.c.task_id)
    )
    .where(projects.c.id == bindparam("project_id"))
    # The worker's row stays key-share locked to the end of the claim (the
    # lease's foreign key would take that lock in the claim's next statement
    # anyway): a deactivation, which locks the row for update, waits for the
    # claims in flight and then releases their leases, and a claim after it
    # waits for it and reads the worker deactivated.
    .with_for_update(of=workers, read=True, key_share=True)
)


def _serving(worker_id: WorkerId, organization_id: OrganizationId) -> list[ColumnElement[bool]]:
    """The projects a worker may be served now: active, of its own
    organization, requiring no group it is not in, not blocking it."""
    return [
        projects.c.status == "active",
        projects.c.organization_id == organization_id,
        in_required_groups(projects.c.id, literal(worker_id)),
        ~exists().where(
            worker_stats.c.project_id == projects.c.id,
            worker_stats.c.worker_id == worker_id,
            worker_stats.c.blocked.is_(True),
        ),
    ]


#: The order workers are offered projects in: priority, then oldest first.
_OFFER_ORDER = (projects.c.priority.desc(), projects.c.created_at, projects.c.id)


async def claimable_project_ids(
    conn: AsyncConnection, worker_id: WorkerId, organization_id: OrganizationId, limit: int
) -> list[ProjectId]:
    """The first ``limit`` projects a worker who names none is tried on."""
    query = select(projects.c.id).where(*_serving(worker_id, organization_id)).order_by(*_OFFER_ORDER).limit(limit)
    return [ProjectId(pid) for pid in (await conn.execute(query)).scalars()]


@dataclass(frozen=True, slots=True)
class OfferKey:
    """Where a project sits in the offer order."""

    priority: int
    created_at: datetime
    id: ProjectId


async def offer_key(conn: AsyncConnection, project_id: str, organization_id: OrganizationId) -> OfferKey | None:
    """The place of one of the organization's projects in the offer order
    (None for another organization's: a page cursor cannot probe them)."""
    query = select(projects.c.priority, projects.c.created_at).where(
        projects.c.id == project_id, projects.c.organization_id == organization_id
    )
    row = (await conn.execute(query)).first()
    return None if row is None else OfferKey(row.priority, row.created_at, ProjectId(project_id))


async def open_projects(
    conn: AsyncConnection, worker_id: WorkerId, organization_id: OrganizationId, after: OfferKey | None, limit: int
) -> list[Project]:
    """A page of the projects the worker may be served, in offer order,
    after ``after``."""
    query = select(*PROJECT_COLUMNS).where(*_serving(worker_id, organization_id)).order_by(*_OFFER_ORDER).limit(limit)
    if after is not None:
        later = or_(
            projects.c.created_at > after.created_at,
            and_(projects.c.created_at == after.created_at, projects.c.id > after.id),
        )
        query = query.where(
            or_(projects.c.priority < after.priority, and_(projects.c.priority == after.priority, later))
        )
    return [project_of(row) for row in (await conn.execute(query)).mappings()]


async def answer_context(
    conn: AsyncConnection, public_id: str, worker_id: WorkerId, organization_id: OrganizationId
) -> tuple[Assignment, Context, Slots | None] | None:
    """The worker's assignment and its task, both locked (in that order, as
    everywhere), with the project and the worker's standing there, and the
    task's slots (None for gold, which has no overlap); None if the
    assignment is not theirs, or its project is not of their organization."""
    params = {"public_id": public_id, "worker_id": worker_id, "organization_id": organization_id}
    row = await _ANSWER_CONTEXT.row(conn, params)
    if row is None:
        return None
    assignment = _assignment(row)
    slots = (
        None if assignment.is_gold else Slots(row["task__status"] == "open", *(row[f"task__{c}"] for c in _COUNTERS))
    )
    return assignment, Context(project_of(row), *standing_of(row)), slots


_COUNTERS = ("answer_count", "lease_count", "target_overlap")
_ANSWER_CONTEXT = Hot(
    select(
        assignments,
        *PROJECT_COLUMNS,
        *STANDING_COLUMNS,
        *(tasks.c[name].label(f"task__{name}") for name in ("status", *_COUNTERS)),
    )
    .select_from(
        assignments.join(projects, projects.c.id == assignments.c.project_id)
        .join(tasks, tasks.c.id == assignments.c.task_id)
        .outerjoin(
            worker_stats,
            and_(
                worker_stats.c.project_id == assignments.c.project_id,
                worker_stats.c.worker_id == assignments.c.worker_id,
            ),
        )
    )
    .where(
        assignments.c.public_id == bindparam("public_id"),
        assignments.c.worker_id == bindparam("worker_id"),
        projects.c.organization_id == bindparam("organization_id"),
    )
    .with_for_update(of=[assignments, tasks])
)


async def assignment_for_update(
    conn: AsyncConnection, public_id: str, worker_id: WorkerId, organization_id: OrganizationId
) -> Assignment | None:
    """The worker's assignment, locked; None if it is not theirs, or its
    project is not of their organization."""
    params = {"public_id": public_id, "worker_id": worker_id, "organization_id": organization_id}
    row = (await conn.execute(_ASSIGNMENT, params)).mappings().first()
    return _assignment(row) if row else None


_ASSIGNMENT = (
    select(assignments)
    .where(
        assignments.c.public_id == bindparam("public_id"),
        assignments.c.worker_id == bindparam("worker_id"),
        exists().where(
            projects.c.id == assignments.c.project_id, projects.c.organization_id == bindparam("organization_id")
        ),
    )
    .with_for_update()
)


async def record_answer(
    conn: AsyncConnection,
    assignment: Assignment,
    label: str,
    now: datetime,
    *,
    held_slot: bool,
    fast: bool = False,
    count: bool = True,
) -> StoredAnswer:
    """Store the answer, close the assignment and (``count``) count it on
    the task; the answer takes over the lease's slot (``held_slot``) or a
    free one. A caller that writes the task's posterior next counts it there
    (one write of the task row, not two): :func:`answer_counts`."""
    duration_ms = max(0, int((now - assignment.issued_at).total_seconds() * 1000))
    values = {
        "assignment_id": assignment.id,
        "project_id": assignment.project_id,
        "task_id": assignment.task_id,
        "worker_id": assignment.worker_id,
        "label": label,
        "duration_ms": duration_ms,
        "fast": fast,
        "created_at": now,
    }
    if conn.dialect.name == "postgresql":
        answer_id = int(await _PG_INSERT_ANSWER.value(conn, {**values, "now": now}))
    else:
        answer_id = int((await conn.execute(_INSERT_ANSWER, values)).scalar_one())
        await _close(conn, assignment, ANSWERED, now)
    if count and not assignment.is_gold:  # gold rows are never updated: no overlap to count
        await conn.execute(_COUNT_IN_SLOT if held_slot else _COUNT, {"task_id": assignment.task_id})
    return StoredAnswer(answer_id, label, now)


def answer_counts(held_slot: bool) -> tuple[int, int]:
    """What one answer adds to its task's (answers, leases)."""
    return 1, -1 if held_slot else 0


_INSERT_ANSWER = insert(answers).returning(answers.c.id)
# PostgreSQL closes the assignment in the same statement (a data-modifying CTE)
_PG_INSERT_ANSWER = Hot(
    text(
        """
        WITH closed AS (
            UPDATE assignments SET status = 'answered', closed_at = :now WHERE id = :assignment_id
        )
        INSERT INTO answers (assignment_id, project_id, task_id, worker_id, label, duration_ms, fast, created_at)
        VALUES (:assignment_id, :project_id, :task_id, :worker_id, :label, :duration_ms, :fast, :now)
        RETURNING id
        """
    )
    .bindparams(bindparam("now", type_=UtcDateTime()))
    .columns(id=BigId)
)
_THIS_TASK = tasks.c.id == bindparam("task_id")
_COUNT = update(tasks).where(_THIS_TASK).values(answer_count=tasks.c.answer_count + 1)
_COUNT_IN_SLOT = _COUNT.values(lease_count=tasks.c.lease_count - 1)  # the answer takes over its lease's slot
_FREE_SLOT = update(tasks).where(_THIS_TASK).values(lease_count=tasks.c.lease_count - 1)
_CLOSE = update(assignments).where(assignments.c.id == bindparam("assignment_id"))
_RELEASE = _CLOSE.values(reserved=False)


async def release_lease(conn: AsyncConnection, assignment: Assignment, status: str, now: datetime) -> None:
    """Close a live lease without an answer (skip): its slot is free again
    (the caller gives its reserved reward back to the budget)."""
    await conn.execute(_RELEASE, {"assignment_id": assignment.id, "status": status, "closed_at": now})
    if not assignment.is_gold:
        await conn.execute(_FREE_SLOT, {"task_id": assignment.task_id})


async def _close(conn: AsyncConnection, assignment: Assignment, status: str, now: datetime) -> None:
    await conn.execute(_CLOSE, {"assignment_id": assignment.id, "status": status, "closed_at": now})


async def answer_of(conn: AsyncConnection, assignment_id: int) -> StoredAnswer:
    row = (await conn.execute(_ANSWER_OF, {"assignment_id": assignment_id})).one()
    return StoredAnswer(row.id, row.label, row.created_at)


_ANSWER_OF = select(answers.c.id, answers.c.label, answers.c.created_at).where(
    answers.c.assignment_id == bindparam("assignment_id")
)


async def closed_at(conn: AsyncConnection, assignment_id: int) -> datetime:
    query = select(assignments.c.closed_at).where(assignments.c.id == assignment_id)
    value: datetime = (await conn.execute(query)).scalar_one()
    return value


def _assignment(row: Columns) -> Assignment:
    return Assignment(
        id=row["id"],
        public_id=AssignmentId(row["public_id"]),
        project_id=ProjectId(row["project_id"]),
        task_id=TaskId(row["task_id"]),
        worker_id=WorkerId(row["worker_id"]),
        is_gold=row["is_gold"],
        reward=row["reward"],
        reserved=row["reserved"],
        status=row["status"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
    )
