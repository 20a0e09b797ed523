"""The assignment benchmark's HTTP client (bench/keepalive.py) against a real
aiohttp server: the figures it reports are only as good as its reading."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from keepalive import KeepAlive, ReplyError


async def _echo(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else None
    peer = request.transport.get_extra_info("peername")[1] if request.transport else None
    return web.json_response(
        {"path": request.path_qs, "auth": request.headers.get("Authorization"), "body": body, "peer": peer}
    )


async def _empty(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _closing(request: web.Request) -> web.Response:
    return web.json_response({"peer": request.transport.get_extra_info("peername")[1]}, headers={"Connection": "close"})


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"{}")
    await response.write_eof()
    return response


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/echo", _echo)
    app.router.add_post("/echo", _echo)
    app.router.add_get("/empty", _empty)
    app.router.add_get("/closing", _closing)
    app.router.add_get("/chunked", _chunked)
    async with TestServer(app) as running:
        yield running


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[KeepAlive]:
    made = KeepAlive("127.0.0.1", server.port, {"Authorization": "Bearer t"})
    yield made
    await made.close()


async def _peer(client: KeepAlive) -> int:
    """The client port the server saw: which connection the request came on."""
    status, raw = await client.get("/echo")
    assert status == 200
    return int(json.loads(raw)["peer"])


async def test_requests_share_one_connection_and_carry_headers_and_bodies(client: KeepAlive) -> None:
    status, raw = await client.get("/echo?a=1")
    first = json.loads(raw)
    assert status == 200
    assert (first["path"], first["auth"], first["body"]) == ("/echo?a=1", "Bearer t", None)
    status, raw = await client.post("/echo", {"label": "cat"})
    second = json.loads(raw)
    assert (status, second["body"]) == (200, {"label": "cat"})
    assert second["peer"] == first["peer"]  # the same connection
    assert await client.get("/empty") == (204, b"")
    assert await _peer(client) == first["peer"]  # still in use after a reply with no body


async def test_a_connection_the_server_closes_is_opened_again(client: KeepAlive) -> None:
    first = json.loads((await client.get("/closing"))[1])["peer"]
    assert await _peer(client) != first


async def test_a_chunked_reply_is_refused_and_the_connection_not_reused(client: KeepAlive) -> None:
    before = await _peer(client)
    with pytest.raises(ReplyError, match="chunked"):
        await client.get("/chunked")
    assert await _peer(client) != before
