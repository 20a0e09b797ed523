"""Outbound HTTP (webhook deliveries), behind a plain callable so the
services that send stay free of any HTTP library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from crowd.errors import describe

Send = Callable[[str, bytes, dict[str, str], float], Awaitable[tuple[int | None, str | None]]]


def sender(session: aiohttp.ClientSession) -> Send:
    """``send(url, body, headers, timeout) -> (status, error)``: never raises
    for transport failures; ``status`` is None when no response came."""

    async def send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
        try:
            async with session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as reply:
                await reply.read()
                return reply.status, None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, describe(exc)[:500]

    return send
