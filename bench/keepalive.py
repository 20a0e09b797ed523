"""The load generator's HTTP client: one keep-alive HTTP/1.1 connection per
simulated worker, each request written whole, each reply read by its
Content-Length.

The load generator runs on the cores the servers and the database use, so
whatever CPU it spends is taken from what it measures. aiohttp's client (a
session, its connector, a response object and a stream per request) cost
about twice this one's CPU per cycle in bench/assignment.py (bench/README.md
has the figures). It is enough for what ``crowd serve`` sends back: replies
with a Content-Length, or none (204). A chunked reply is refused, not
misread."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class ReplyError(Exception):
    """A reply this client does not read (chunked)."""


class KeepAlive:
    """Requests to one ``host:port``, one at a time, over one connection
    (opened on first use, and again after the server closes it)."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        lines = [f"Host: {host}:{port}", *(f"{name}: {value}" for name, value in (headers or {}).items())]
        self._headers = "".join(f"{line}\r\n" for line in lines)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        return await self.request("POST", path, json.dumps(body).encode())

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """The reply's status and body."""
        async with asyncio.timeout(self.timeout):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            head = f"{method} {path} HTTP/1.1\r\n{self._headers}"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            self._writer.write(b"".join((head.encode(), b"\r\n", body or b"")))
            try:
                status, length, close = _head(await self._reader.readuntil(b"\r\n\r\n"))
                reply = await self._reader.readexactly(length) if length else b""
            except BaseException:
                self._drop()  # a connection left mid-reply is never used again
                raise
            if close:
                self._drop()
            return status, reply

    async def close(self) -> None:
        writer = self._drop()
        if writer is not None:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _drop(self) -> asyncio.StreamWriter | None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
        return writer


def _head(raw: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server closes the connection."""
    lines = raw.split(b"\r\n")
    status, length, close = int(lines[0].split(b" ", 2)[1]), 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            raise ReplyError(f"a reply with Transfer-Encoding: {value.strip().decode()} is not read here")
    return status, length, close
