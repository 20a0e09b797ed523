"""Who is asking, as far as the network says: the client's address, for
limits that count per address. Behind a proxy every request comes from the
proxy; its X-Forwarded-For is believed only when the proxy is one the
settings name (``CROWD_TRUSTED_PROXIES``), since anyone may send the header."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``"10.0.0.5, 172.16.0.0/12"`` as networks; ValueError on anything else."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy;
    then the right-most X-Forwarded-For hop that is not one (each proxy
    appends the address it saw, so hops further left are the client's word)."""
    if peer is None:
        return "unknown"
    if not _within(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _parses(hop) else peer  # garbage from a proxy: count it as the proxy's
    return hops[0] if hops else peer


def rate_key(address: str) -> str:
    """What a per-address limit counts under: the address itself, or for
    IPv6 its /64 (one host is commonly given a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
