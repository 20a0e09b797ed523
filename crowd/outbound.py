"""Outbound HTTP (webhook deliveries), behind plain callables so the
services that send stay free of any HTTP library.

A delivery resolves its host once (:func:`system_resolve`, or a resolver a
test injects), the service checks every address, and :func:`sender` connects
to exactly those addresses: its connector's resolver is pinned to them, so
the name is not looked up a second time (where it could answer 127.0.0.1),
while the URL, the Host header, TLS's server name and certificate check stay
those of the name."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from crowd.webhooks.ports import NoResponse, Send


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PinnedResolver(AbstractResolver):
    """Answers every lookup with addresses resolved and checked before."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self._addresses = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in self._addresses
        ]

    async def close(self) -> None:
        return None


def sender() -> Send:
    """POST with a connector of its own per delivery, pinned to the checked
    addresses: no connection, and no cached name, outlives the check. No
    redirects (a 3xx is a failed delivery, not a way to another address), no
    proxy from the environment (a proxy would resolve the name itself)."""

    async def send(url: str, addresses: Sequence[str], body: bytes, headers: dict[str, str], read: int) -> int:
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(addresses), use_dns_cache=False, force_close=True)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, trust_env=False) as session,
                session.post(url, data=body, headers=headers, allow_redirects=False) as reply,
            ):
                await reply.content.read(read)
                return reply.status
        except (aiohttp.ClientError, OSError) as exc:
            raise NoResponse(type(exc).__name__) from exc

    return send
