"""Request ids, access logs and the one place errors become problem+json."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from crowd import metrics
from crowd.api.http import problem
from crowd.errors import CrowdError, MethodNotAllowed, NotFound, PayloadTooLarge, UnsupportedMediaType
from crowd.logs import request_id

log = logging.getLogger("crowd.http")

_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

CLIENT_CLOSED_REQUEST = 499

_HTTP_ERRORS: dict[int, type[CrowdError]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag the request with an id (the caller's X-Request-ID if sane), log
    one line for it, and echo the id back."""
    given = request.headers.get("X-Request-ID", "")
    rid = given if _GOOD_REQUEST_ID.match(given) else secrets.token_hex(8)
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = rid
        return response
    except asyncio.CancelledError:
        status = CLIENT_CLOSED_REQUEST  # aiohttp cancels the handler of a client that left
        raise
    finally:
        seconds = time.perf_counter() - started
        route = _route(request)
        metrics.REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(request.method, route).observe(seconds)
        log.info(
            "request",
            extra={"method": request.method, "path": request.path, "status": status, "ms": round(seconds * 1000, 2)},
        )
        request_id.reset(token)


def _route(request: web.Request) -> str:
    """The route's pattern (``/api/v1/projects/{project_id}``), so the
    metrics have one series per endpoint, not per id; ``unmatched`` for
    paths no route serves."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as problem+json. Unknown errors are logged with
    their stack and answered with a bare 500 that leaks nothing."""
    try:
        return await handler(request)
    except CrowdError as exc:
        return problem(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _HTTP_ERRORS.get(exc.status, CrowdError)(exc.reason)
        response = problem(error)
        response.set_status(exc.status)
        if "Allow" in exc.headers:  # a 405 names the methods that would work
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConnectionResetError:
        # The client went away while its request was read (aiohttp raises
        # this from the body): nobody is left to answer and nothing failed
        # here. 499, nginx's "client closed request", keeps it apart from
        # errors in the access log and metrics.
        log.info("client disconnected", extra={"path": request.path})
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return web.json_response(
            {"type": "internal-error", "title": "Internal server error", "status": 500},
            status=500,
            content_type="application/problem+json",
        )
