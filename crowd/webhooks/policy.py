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


#: IPv6 forms whose meaning is the IPv4 address in their last 32 bits:
#: IPv4-mapped, IPv4-translated (SIIT), IPv4-compatible (deprecated, and it
#: also holds :: and ::1) and the NAT64 well-known prefix. The address is as
#: reachable as that IPv4 address, no more.
_IPV4_IN_LAST_32 = tuple(
    ipaddress.IPv6Network(net) for net in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")
)
#: NAT64 prefixes for local use (RFC 8215): a gateway inside some network.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")

# What a failed delivery records and shows: a class, never a transport
# error's text or how long it took, which would tell a closed port (refused
# at once) from a filtered one (silent until the timeout) behind the URL.
ADDRESS_REFUSED = "address-refused"
"""The host did not resolve to public addresses only (or did not resolve)."""
NO_RESPONSE = "no-response"
"""No HTTP reply within the timeout: refused, reset, TLS, timeout, all alike."""
SECRET_UNAVAILABLE = "secret-unavailable"
"""The webhook's signing secret could not be unsealed (the server's key changed)."""
INTERNAL_ERROR = "internal-error"
"""Something failed in this server; its log has the details."""

PER_WEBHOOK = 5
"""Deliveries of one webhook in one batch; of a failing webhook, one."""

MAX_WEBHOOKS_PER_PROJECT = 20
"""Webhooks a project may have (deleted ones do not count)."""

REPLY_BYTES = 4096
"""How much of a receiver's reply is read: its status is all that counts."""


def public_address(address: str) -> bool:
    """Whether a webhook may connect to ``address``: globally routable, not
    multicast, and so is every IPv4 address it carries (IPv4-mapped,
    IPv4-compatible and -translated, NAT64, 6to4, Teredo), so that no
    spelling of 127.0.0.1, 10.0.0.0/8, 100.64.0.0/10 (shared space, where
    some clouds keep their metadata service) or 169.254.0.0/16 gets through.
    Anything that does not parse is not public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _public_ipv4(ip)
    if any(ip in net for net in _IPV4_IN_LAST_32):
        return _public_ipv4(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return _public_ipv6(ip) and all(_public_ipv4(carried) for carried in _carried_ipv4(ip))


def _public_ipv4(ip: ipaddress.IPv4Address) -> bool:
    # is_global leaves out private, loopback, link-local, reserved, the
    # unspecified address and shared space; multicast it counts as global
    return ip.is_global and not ip.is_multicast


def _public_ipv6(ip: ipaddress.IPv6Address) -> bool:
    return (
        ip.is_global
        and not (ip.is_multicast or ip.is_reserved or ip.is_site_local or ip.is_link_local)
        and ip not in _LOCAL_NAT64
    )


def _carried_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or Teredo address leads to."""
    carried = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo is not None:
        carried.extend(ip.teredo)  # (server, client), the client already de-obfuscated
    return carried
