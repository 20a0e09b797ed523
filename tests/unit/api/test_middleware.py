"""The error middleware's answers to failures that are not the server's."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from crowd.api.middleware import CLIENT_CLOSED_REQUEST, problems


async def test_a_body_cut_off_by_the_client_is_a_499_and_no_error(caplog: pytest.LogCaptureFixture) -> None:
    async def reads_a_lost_body(request: web.Request) -> web.StreamResponse:
        raise ConnectionResetError("Connection lost")

    with caplog.at_level(logging.INFO, logger="crowd.http"):
        response = await problems(make_mocked_request("POST", "/api/v1/work/assignments/x/answer"), reads_a_lost_body)
    assert response.status == CLIENT_CLOSED_REQUEST
    assert [r.getMessage() for r in caplog.records] == ["client disconnected"]


async def test_any_other_failure_is_a_bare_500_logged_with_its_stack(caplog: pytest.LogCaptureFixture) -> None:
    async def fails(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="crowd.http"):
        response = await problems(make_mocked_request("GET", "/x"), fails)
    assert response.status == 500
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
