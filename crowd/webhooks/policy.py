"""Pure webhook rules: the signature, the retry schedule, which addresses
a webhook may not reach."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from datetime import timedelta

FIRST_RETRY_SECONDS = 10.0
LONGEST_WAIT_SECONDS = 3600.0
GIVE_UP_AFTER = timedelta(hours=24)
"""A delivery is retried for a day; an endpoint failing that long is disabled."""

SIGNATURE_HEADER = "Crowd-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``: the time is
    signed too, so an old delivery cannot be replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now``."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def retry_delay(attempts: int, rng: random.Random) -> float:
    """Seconds before the next try after ``attempts`` failed ones:
    exponential (10 s, 20 s, 40 s … capped at an hour), with jitter so
    many failing deliveries do not come back at once."""
    ceiling = min(LONGEST_WAIT_SECONDS, FIRST_RETRY_SECONDS * float(2 ** max(attempts - 1, 0)))
    return ceiling * rng.uniform(0.5, 1.0)


def forbidden_address(address: str) -> bool:
    """Loopback, private, link-local and other non-public addresses: a
    webhook must not become a way into the server's own network."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )
