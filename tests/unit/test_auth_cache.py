from __future__ import annotations

from datetime import UTC, datetime

from crowd.api.auth import PrincipalCache
from crowd.clock import ManualClock
from crowd.identity.models import Worker
from crowd.ids import OrganizationId, WorkerId

ANN = Worker(
    WorkerId("wrk_ann"), OrganizationId("org_acme"), "ann", blocked=False, created_at=datetime(2026, 1, 1, tzinfo=UTC)
)


def test_a_principal_is_trusted_for_the_ttl_then_looked_up_again() -> None:
    clock = ManualClock()
    cache = PrincipalCache(5.0, clock)
    cache.put("hash", ANN)
    assert cache.get("hash") is ANN
    clock.advance(4.9)
    assert cache.get("hash") is ANN
    clock.advance(0.2)
    assert cache.get("hash") is None
    assert cache.get("other") is None


def test_the_cache_is_bounded_and_can_be_off() -> None:
    clock = ManualClock()
    cache = PrincipalCache(5.0, clock, size=2)
    for key in ("a", "b", "c"):
        cache.put(key, ANN)
    assert [cache.get(k) for k in ("a", "b", "c")] == [None, ANN, ANN]
    off = PrincipalCache(0.0, clock)
    off.put("a", ANN)
    assert off.get("a") is None
