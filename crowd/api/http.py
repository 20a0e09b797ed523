"""Small HTTP helpers shared by the handlers: JSON replies and problems
(bodies are read and parsed in ``crowd.api.bodies``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from crowd.errors import CrowdError


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


PROBLEM_JSON = "application/problem+json"


def problem(error: CrowdError) -> web.Response:
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="crowd"'
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(max(1, round(error.extra["retry_after"])))
    return web.Response(
        text=json.dumps(error.problem(), default=str),
        status=error.status,
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
