"""Use cases: issue and revoke keys and worker tokens, and tell who a secret
belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import NotFound
from crowd.identity import store
from crowd.identity.models import ApiKey, Organization, Principal, Worker
from crowd.identity.tokens import KEY_KIND, Role, SecretKind, hash_secret, new_secret, secret_kind
from crowd.ids import OrganizationId


async def create_api_key(db: Database, clock: Clock, *, organization: str, role: Role, name: str) -> tuple[ApiKey, str]:
    """A new key for ``organization`` (created on first use). The secret is
    returned once and never stored."""
    secret = new_secret(KEY_KIND[role])
    now = clock.now()
    async with db.transaction() as conn:
        org = await _organization(conn, organization, now)
        key = await store.insert_api_key(conn, org.id, name, role, hash_secret(secret), now)
    return key, secret


async def create_worker(db: Database, clock: Clock, *, name: str, organization: str) -> tuple[Worker, str]:
    """A new worker of ``organization``, by name (created on first use, as
    for keys). The token is returned once and never stored."""
    async with db.transaction() as conn:
        org = await _organization(conn, organization, clock.now())
        return await _insert_worker(conn, org.id, name, clock.now())


async def create_worker_in(
    db: Database, clock: Clock, organization_id: OrganizationId, *, name: str
) -> tuple[Worker, str]:
    """A new worker of the organization whose operator asks for it."""
    async with db.transaction() as conn:
        return await _insert_worker(conn, organization_id, name, clock.now())


async def _insert_worker(
    conn: AsyncConnection, organization_id: OrganizationId, name: str, now: datetime
) -> tuple[Worker, str]:
    token = new_secret(SecretKind.WORKER_TOKEN)
    return await store.insert_worker(conn, organization_id, name, hash_secret(token), now), token


async def _organization(conn: AsyncConnection, name: str, now: datetime) -> Organization:
    return await store.organization_by_name(conn, name) or await store.insert_organization(conn, name, now)


async def authenticate(db: Database, secret: str) -> Principal | None:
    """The key or worker a bearer secret belongs to, or None (also for a
    revoked key and a deactivated worker)."""
    kind = secret_kind(secret)
    if kind is None:
        return None
    async with db.read() as conn:
        if kind is SecretKind.WORKER_TOKEN:
            return await store.worker_by_hash(conn, hash_secret(secret))
        key = await store.api_key_by_hash(conn, hash_secret(secret))
    if key is None or KEY_KIND[key.role] is not kind:
        return None
    return key


async def list_api_keys(db: Database, organization_id: OrganizationId | None, after: str, limit: int) -> list[ApiKey]:
    """The organization's keys (None: every organization's), revoked ones included."""
    async with db.read() as conn:
        return await store.api_keys_of(conn, organization_id, after, limit)


async def revoke_api_key(db: Database, clock: Clock, organization_id: OrganizationId | None, key_id: str) -> ApiKey:
    """Revoke one of the organization's keys (None: any key, for the command
    line); revoking it again changes nothing. Every process refuses it once
    its cached lookup of the key ends (``CROWD_AUTH_CACHE_SECONDS``)."""
    async with db.transaction() as conn:
        key = await store.revoke_api_key(conn, key_id, organization_id, clock.now())
    if key is None:
        raise NotFound(f"no key {key_id}")
    return key


async def organization_id(db: Database, name: str) -> OrganizationId | None:
    async with db.read() as conn:
        found = await store.organization_by_name(conn, name)
    return None if found is None else found.id


async def organization_names(db: Database) -> dict[OrganizationId, str]:
    async with db.read() as conn:
        return await store.organization_names(conn)
