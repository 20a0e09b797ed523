"""SQL for organizations, API keys and workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import api_keys, organizations, workers
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


async def insert_worker(conn: AsyncConnection, name: str, token_hash: str, now: datetime) -> Worker:
    worker = Worker(WorkerId(new_id("wrk")), name, blocked=False, created_at=now)
    await conn.execute(
        insert(workers).values(id=worker.id, name=name, token_hash=token_hash, status="active", created_at=now)
    )
    return worker


async def worker_by_hash(conn: AsyncConnection, token_hash: str) -> Worker | None:
    row = (await conn.execute(select(workers).where(workers.c.token_hash == token_hash))).mappings().first()
    return _worker(row) if row else None


async def worker_exists(conn: AsyncConnection, worker_id: WorkerId) -> bool:
    return (await conn.execute(select(workers.c.id).where(workers.c.id == worker_id))).first() is not None


async def set_worker_blocked(conn: AsyncConnection, worker_id: WorkerId, blocked: bool) -> bool:
    status = "blocked" if blocked else "active"
    result = await conn.execute(update(workers).where(workers.c.id == worker_id).values(status=status))
    return result.rowcount == 1


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=ApiKeyId(row["id"]),
        organization_id=OrganizationId(row["organization_id"]),
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
    )


def _worker(row: RowMapping) -> Worker:
    return Worker(WorkerId(row["id"]), row["name"], row["status"] == "blocked", row["created_at"])
