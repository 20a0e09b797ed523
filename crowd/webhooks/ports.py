"""What webhook delivery needs from the outside world, as plain callables:
a resolver and a sender (``crowd.outbound`` has the real ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""``resolve(host, port) -> addresses``; raises :class:`OSError` when the name does not resolve."""

Send = Callable[[str, Sequence[str], bytes, dict[str, str], int], Awaitable[int]]
"""``send(url, addresses, body, headers, read) -> status``: POST ``body`` to ``url``,
connecting only to ``addresses``, and read at most ``read`` bytes of the reply.
Raises :class:`NoResponse` when no HTTP reply came."""


class NoResponse(Exception):
    """No HTTP reply: the connection was refused or reset, TLS failed, or the reply was not HTTP."""
