"""Small HTTP helpers shared by the handlers: body parsing, JSON replies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from crowd.errors import CrowdError, InvalidJson, ValidationFailed

M = TypeVar("M", bound=BaseModel)

PROBLEM_JSON = "application/problem+json"


async def parse(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``: 400 ``invalid-json`` if it is not
    JSON, 422 ``validation-error`` with every problem if it does not fit."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    try:
        return model.model_validate(body, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(f"{exc.error_count()} problem(s) in the request body", errors=field_errors(exc)) from exc


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()]


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


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
