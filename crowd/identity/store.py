"""SQL for organizations, API keys and workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, Select, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import api_keys, organizations, workers
from crowd.db.types import UtcDateTime
from crowd.identity.models import ApiKey, Organization, Worker
from crowd.identity.tokens import Role
from crowd.ids import ApiKeyId, OrganizationId, WorkerId, new_id


async def organization_by_name(conn: AsyncConnection, name: str) -> Organization | None:
    row = (await conn.execute(select(organizations).where(organizations.c.name == name))).mappings().first()
    return Organization(OrganizationId(row["id"]), row["name"]) if row else None


async def insert_organization(conn: AsyncConnection, name: str, now: datetime) -> Organization:
    org = Organization(OrganizationId(new_id("org")), name)
    await conn.execute(insert(organizations).values(id=org.id, name=name, created_at=now))
    return org


async def organization_names(conn: AsyncConnection) -> dict[OrganizationId, str]:
    rows = await conn.execute(select(organizations.c.id, organizations.c.name))
    return {OrganizationId(org_id): name for org_id, name in rows}


# keys ------------------------------------------------------------------


async def insert_api_key(
    conn: AsyncConnection, org: OrganizationId, name: str, role: Role, secret_hash: str, now: datetime
) -> ApiKey:
    key = ApiKey(ApiKeyId(new_id("key")), org, name, role, now)
    await conn.execute(
        insert(api_keys).values(
            id=key.id, organization_id=org, name=name, role=role.value, secret_hash=secret_hash, created_at=now
        )
    )
    return key


async def api_key_by_hash(conn: AsyncConnection, secret_hash: str) -> ApiKey | None:
    query = select(api_keys).where(api_keys.c.secret_hash == secret_hash, api_keys.c.revoked_at.is_(None))
    row = (await conn.execute(query)).mappings().first()
    return _api_key(row) if row else None


async def api_keys_of(
    conn: AsyncConnection, organization_id: OrganizationId | None, after: str, limit: int
) -> list[ApiKey]:
    """Keys by id after ``after``, of one organization (None: of all), revoked ones included."""
    query = select(api_keys).where(api_keys.c.id > after).order_by(api_keys.c.id).limit(limit)
    if organization_id is not None:
        query = query.where(api_keys.c.organization_id == organization_id)
    return [_api_key(row) for row in (await conn.execute(query)).mappings()]


async def revoke_api_key(
    conn: AsyncConnection, key_id: str, organization_id: OrganizationId | None, now: datetime
) -> ApiKey | None:
    """Revoke the key (a revoked one keeps its first revocation time); None
    if there is no such key in the organization (None: in any)."""
    scope = [api_keys.c.id == key_id]
    if organization_id is not None:
        scope.append(api_keys.c.organization_id == organization_id)
    await conn.execute(
        update(api_keys)
        .where(*scope)
        .values(revoked_at=func.coalesce(api_keys.c.revoked_at, literal(now, UtcDateTime())))
    )
    row = (await conn.execute(select(api_keys).where(*scope))).mappings().first()
    return _api_key(row) if row else None


# workers ---------------------------------------------------------------


async def insert_worker(
    conn: AsyncConnection, organization_id: OrganizationId, name: str, token_hash: str, now: datetime
) -> Worker:
    worker = Worker(WorkerId(new_id("wrk")), organization_id, name, blocked=False, created_at=now)
    await conn.execute(
        insert(workers).values(
            id=worker.id,
            organization_id=organization_id,
            name=name,
            token_hash=token_hash,
            status="active",
            created_at=now,
        )
    )
    return worker


async def worker_by_hash(conn: AsyncConnection, token_hash: str) -> Worker | None:
    """The worker a token belongs to, unless it is deactivated."""
    query = select(workers).where(workers.c.token_hash == token_hash, workers.c.deactivated_at.is_(None))
    row = (await conn.execute(query)).mappings().first()
    return worker_from_row(row) if row else None


async def worker_by_id(
    conn: AsyncConnection, worker_id: str, organization_id: OrganizationId | None, *, lock: bool = False
) -> Worker | None:
    """The worker, if it is one of the organization's (None: of any);
    ``lock``: its row locked until the transaction ends. (Every claim holds
    a key-share lock on its worker's row, so taking this lock waits for the
    claims in flight, and the claims after it see what this transaction
    writes.)"""
    query: Select[tuple[object, ...]] = select(workers).where(workers.c.id == worker_id)
    if organization_id is not None:
        query = query.where(workers.c.organization_id == organization_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return worker_from_row(row) if row else None


async def worker_exists(conn: AsyncConnection, worker_id: WorkerId, *, organization_id: OrganizationId) -> bool:
    """Whether the worker is one of the organization's: another
    organization's workers do not exist for its keys."""
    query = select(workers.c.id).where(workers.c.id == worker_id, workers.c.organization_id == organization_id)
    return (await conn.execute(query)).first() is not None


async def workers_of(conn: AsyncConnection, organization_id: OrganizationId, after: str, limit: int) -> list[Worker]:
    query = (
        select(workers)
        .where(workers.c.organization_id == organization_id, workers.c.id > after)
        .order_by(workers.c.id)
        .limit(limit)
    )
    return [worker_from_row(row) for row in (await conn.execute(query)).mappings()]


async def set_worker_blocked(conn: AsyncConnection, worker_id: WorkerId, blocked: bool) -> bool:
    status = "blocked" if blocked else "active"
    result = await conn.execute(update(workers).where(workers.c.id == worker_id).values(status=status))
    return result.rowcount == 1


async def set_deactivated(conn: AsyncConnection, worker_id: WorkerId, at: datetime | None) -> Worker:
    """Deactivate the worker at ``at`` (kept if it already is), or reactivate it (None)."""
    moment = None if at is None else func.coalesce(workers.c.deactivated_at, literal(at, UtcDateTime()))
    await conn.execute(update(workers).where(workers.c.id == worker_id).values(deactivated_at=moment))
    found = await worker_by_id(conn, worker_id, None)
    assert found is not None
    return found


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=ApiKeyId(row["id"]),
        organization_id=OrganizationId(row["organization_id"]),
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def worker_from_row(row: RowMapping) -> Worker:
    return Worker(
        id=WorkerId(row["id"]),
        organization_id=OrganizationId(row["organization_id"]),
        name=row["name"],
        blocked=row["status"] == "blocked",
        created_at=row["created_at"],
        deactivated_at=row["deactivated_at"],
    )
