"""Who may call: bearer secrets to principals, roles, rate limits.

401 when the secret is missing or unknown, 403 when it is valid but may not
do this, 404 (from the services) for another organization's objects, so a
key cannot probe which ids exist. A client address that fails to
authenticate too often gets 429 for a while, before anything is looked up:
guessing costs the database nothing and gets nowhere.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from aiohttp import web

from crowd.addresses import client_address, rate_key, trusted_networks
from crowd.api.keys import BROKER, DATABASE, SETTINGS
from crowd.clock import Clock
from crowd.errors import BrokerUnavailable, Forbidden, RateLimited, Unauthorized
from crowd.identity.models import ApiKey, Principal, Worker
from crowd.identity.service import authenticate
from crowd.identity.tokens import Role, hash_secret

log = logging.getLogger(__name__)


class PrincipalCache:
    """Who a secret belonged to a moment ago, so not every request costs a
    database round trip. Keyed by the secret's hash; entries live
    ``ttl`` seconds of the app's clock; bounded (the oldest go first)."""

    def __init__(self, ttl: float, clock: Clock, size: int = 10_000) -> None:
        self.ttl, self.clock, self.size = ttl, clock, size
        self._entries: OrderedDict[str, tuple[datetime, Principal]] = OrderedDict()

    def get(self, secret_hash: str) -> Principal | None:
        entry = self._entries.get(secret_hash)
        if entry is None or entry[0] <= self.clock.now():
            return None
        return entry[1]

    def put(self, secret_hash: str, found: Principal) -> None:
        if self.ttl <= 0:
            return
        self._entries[secret_hash] = (self.clock.now() + timedelta(seconds=self.ttl), found)
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


AUTH_CACHE = web.AppKey("auth_cache", PrincipalCache)


async def principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        await _failed(request)
        raise Unauthorized("send 'Authorization: Bearer <key or token>'")
    cache = request.app[AUTH_CACHE]
    digest = hash_secret(secret.strip())
    found = cache.get(digest)
    if found is None:
        await _failed(request, cost=0)  # refused at once while the address is over its budget
        found = await authenticate(request.app[DATABASE], secret.strip())
        if found is None:
            await _failed(request)
            raise Unauthorized("the key or token is not valid")
        # only a fresh lookup restarts the entry's life: a revoked key or a
        # blocked worker is refused within the TTL, however busy they are
        cache.put(digest, found)
    return found


async def _failed(request: web.Request, cost: int = 1) -> None:
    """Count a failed authentication against the client's address (``cost``
    0: only ask); 429 once the address has failed too often."""
    settings = request.app[SETTINGS]
    if settings.auth_failure_limit <= 0:
        return
    address = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), trusted_networks(settings.trusted_proxies)
    )
    key = f"authfail:{rate_key(address)}"
    try:
        decision = await request.app[BROKER].hit(
            key, settings.auth_failure_limit, settings.auth_failure_window_seconds, cost
        )
    except BrokerUnavailable:
        log.warning("broker unavailable: failed authentications not limited")
        return
    if not decision.allowed:
        raise RateLimited("too many failed authentications from this address", retry_after=decision.retry_after)


async def api_key(request: web.Request, *roles: Role) -> ApiKey:
    """The calling API key, if its role is one of ``roles``."""
    caller = await principal(request)
    if not isinstance(caller, ApiKey) or caller.role not in roles:
        allowed = " or ".join(role.value for role in roles)
        raise Forbidden(f"this needs a {allowed} key")
    await _rate_limit(request, f"key:{caller.id}", request.app[SETTINGS].key_rate_limit)
    return caller


async def worker(request: web.Request) -> Worker:
    caller = await principal(request)
    if not isinstance(caller, Worker):
        raise Forbidden("this needs a worker token")
    await _rate_limit(request, f"worker:{caller.id}", request.app[SETTINGS].worker_rate_limit)
    return caller


async def _rate_limit(request: web.Request, key: str, per_second: int) -> None:
    if per_second <= 0:
        return
    try:
        decision = await request.app[BROKER].hit(f"rate:{key}", per_second, 1.0)
    except BrokerUnavailable:
        log.warning("broker unavailable: rate limit not applied")
        return
    if not decision.allowed:
        raise RateLimited("slow down", retry_after=decision.retry_after)
