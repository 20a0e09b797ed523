"""Use cases: issue keys and worker tokens, and tell who a secret belongs to."""

from __future__ import annotations

from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.identity import store
from crowd.identity.models import ApiKey, Principal, Worker
from crowd.identity.tokens import KEY_KIND, Role, SecretKind, hash_secret, new_secret, secret_kind


async def create_api_key(db: Database, clock: Clock, *, organization: str, role: Role, name: str) -> tuple[ApiKey, str]:
    """A new key for ``organization`` (created on first use). The secret is
    returned once and never stored."""
    secret = new_secret(KEY_KIND[role])
    now = clock.now()
    async with db.transaction() as conn:
        org = await store.organization_by_name(conn, organization) or await store.insert_organization(
            conn, organization, now
        )
        key = await store.insert_api_key(conn, org.id, name, role, hash_secret(secret), now)
    return key, secret


async def create_worker(db: Database, clock: Clock, *, name: str) -> tuple[Worker, str]:
    token = new_secret(SecretKind.WORKER_TOKEN)
    async with db.transaction() as conn:
        worker = await store.insert_worker(conn, name, hash_secret(token), clock.now())
    return worker, token


async def authenticate(db: Database, secret: str) -> Principal | None:
    """The key or worker a bearer secret belongs to, or None."""
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
