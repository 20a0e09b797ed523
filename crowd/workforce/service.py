"""Use cases of an organization's workforce: its workers, their groups, and
deactivation. Every one is scoped to the calling operator's organization:
another organization's workers and groups do not exist for it (404)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import store as assignment_store
from crowd.assignment.service import Engine, announce_freed
from crowd.clock import Clock
from crowd.db.engine import Database, is_unique_violation
from crowd.errors import Conflict, NotFound
from crowd.identity import store as identity
from crowd.identity.models import Worker
from crowd.ids import OrganizationId, ProjectId, WorkerId
from crowd.workforce import store
from crowd.workforce.models import Group


@dataclass(frozen=True, slots=True)
class Member:
    """A worker as its operators see it: with the groups it is in."""

    worker: Worker
    groups: list[str]


# workers ---------------------------------------------------------------


async def list_workers(db: Database, organization_id: OrganizationId, after: str, limit: int) -> list[Member]:
    """The organization's workers by id, deactivated ones included."""
    async with db.read() as conn:
        found = await identity.workers_of(conn, organization_id, after, limit)
        return await _members(conn, found)


async def get_worker(db: Database, organization_id: OrganizationId, worker_id: str) -> Member:
    async with db.read() as conn:
        worker = await _require_worker(conn, organization_id, worker_id)
        return (await _members(conn, [worker]))[0]


@dataclass(frozen=True, slots=True)
class Deactivation:
    member: Member
    released: int
    """Live leases given back by this deactivation."""


async def deactivate_worker(engine: Engine, organization_id: OrganizationId | None, worker_id: str) -> Deactivation:
    """Deactivate one of the organization's workers (None: any, for the
    command line): its live leases are released at once, their slots and
    reserved rewards given back, and from then on no claim serves it; every
    process refuses its token once its cached lookup ends
    (``CROWD_AUTH_CACHE_SECONDS``). Deactivating it again changes nothing."""

    async def work(conn: AsyncConnection) -> tuple[Member, int, set[ProjectId]]:
        # Locking the row waits for the worker's claims in flight (each holds
        # a key-share lock on it), so their leases are released below too.
        worker = await _require_worker(conn, organization_id, worker_id, lock=True)
        now = engine.clock.now()
        deactivated = await identity.set_deactivated(conn, worker.id, now)
        released, freed = 0, set[ProjectId]()
        while True:
            expired = await assignment_store.release_leases_of(conn, worker.id, now)
            released, freed = released + expired.leases, freed | expired.freed
            if not expired.leases:
                break
        return (await _members(conn, [deactivated]))[0], released, freed

    member, released, freed = await engine.db.retrying(work)
    await announce_freed(engine, freed)
    return Deactivation(member, released)


async def reactivate_worker(db: Database, organization_id: OrganizationId | None, worker_id: str) -> Member:
    """Let a deactivated worker work again (its token is accepted at once)."""
    async with db.transaction() as conn:
        worker = await _require_worker(conn, organization_id, worker_id, lock=True)
        reactivated = await identity.set_deactivated(conn, worker.id, None)
        return (await _members(conn, [reactivated]))[0]


async def _require_worker(
    conn: AsyncConnection, organization_id: OrganizationId | None, worker_id: str, *, lock: bool = False
) -> Worker:
    worker = await identity.worker_by_id(conn, worker_id, organization_id, lock=lock)
    if worker is None:
        raise NotFound(f"no worker {worker_id}")
    return worker


async def _members(conn: AsyncConnection, workers: list[Worker]) -> list[Member]:
    groups = await store.group_names_of_workers(conn, [w.id for w in workers]) if workers else {}
    return [Member(w, groups.get(w.id, [])) for w in workers]


# groups ----------------------------------------------------------------


async def create_group(db: Database, clock: Clock, organization_id: OrganizationId, name: str) -> Group:
    """A new, empty group; 409 if the organization has one of that name."""
    try:
        async with db.transaction() as conn:
            return await store.insert_group(conn, organization_id, name, clock.now())
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict(f"this organization already has a group named {name!r}") from exc
        raise


async def list_groups(db: Database, organization_id: OrganizationId, after: str, limit: int) -> list[Group]:
    async with db.read() as conn:
        return await store.groups_of(conn, organization_id, after, limit)


async def get_group(db: Database, organization_id: OrganizationId, group_id: str) -> Group:
    async with db.read() as conn:
        return await _require_group(conn, organization_id, group_id)


async def delete_group(db: Database, organization_id: OrganizationId, group_id: str) -> None:
    """Delete a group and its memberships; 409 while a project requires it
    (deleting it would open those projects to every worker)."""
    async with db.transaction() as conn:
        group = await _require_group(conn, organization_id, group_id)
        if requiring := await store.projects_requiring(conn, group.id):
            raise Conflict(f"projects require this group: {', '.join(requiring)}", projects=requiring)
        await store.delete_group(conn, group.id)


async def set_member(
    db: Database, clock: Clock, organization_id: OrganizationId, group_id: str, worker_id: str, member: bool
) -> Group:
    """Put one of the organization's workers in one of its groups, or take
    it out; either again changes nothing. The group as it is after."""
    async with db.transaction() as conn:
        group = await _require_group(conn, organization_id, group_id)
        worker = await _require_worker(conn, organization_id, worker_id)
        if member:
            await store.add_member(conn, group, WorkerId(worker.id), clock.now())
        else:
            await store.remove_member(conn, group.id, worker.id)
        return await _require_group(conn, organization_id, group.id)


async def group_members(
    db: Database, organization_id: OrganizationId, group_id: str, after: str, limit: int
) -> list[Worker]:
    async with db.read() as conn:
        group = await _require_group(conn, organization_id, group_id)
        return await store.members_of(conn, group.id, after, limit)


async def _require_group(conn: AsyncConnection, organization_id: OrganizationId, group_id: str) -> Group:
    group = await store.group_by_id(conn, group_id, organization_id)
    if group is None:
        raise NotFound(f"no group {group_id}")
    return group
