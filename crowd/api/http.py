"""Small HTTP helpers shared by the handlers: body parsing, JSON replies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from aiohttp import web
from pydantic import BaseModel, ValidationError

from crowd.errors import CrowdError, InvalidJson, JsonTooDeep, ValidationFailed

M = TypeVar("M", bound=BaseModel)

PROBLEM_JSON = "application/problem+json"

#: How deeply a request body may nest arrays and objects. A task's data
#: rarely needs more than a handful of levels; a bound keeps hostile bodies
#: from exhausting the parser's stack or anything that walks the data later.
MAX_DEPTH = 64


async def parse(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``: 400 ``invalid-json`` if it is not
    JSON, 422 ``validation-error`` with every problem if it does not fit."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise JsonTooDeep(f"the body nests deeper than {MAX_DEPTH} levels") from exc
    if too_deep(raw):
        raise JsonTooDeep(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        return model.model_validate(body, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(f"{exc.error_count()} problem(s) in the request body", errors=field_errors(exc)) from exc


_BRACKET_STEP = np.zeros(256, np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether valid JSON nests deeper than ``limit``."""
    # Fewer brackets than the limit cannot nest past it, whatever the strings hold.
    return raw.count(b"[") + raw.count(b"{") > limit and nesting(raw) > limit


def nesting(raw: bytes) -> int:
    """How deeply valid JSON nests arrays and objects, found without walking
    the parsed value: brackets are counted in bulk, outside strings."""
    # In valid JSON a backslash only appears in strings, each starting a pair;
    # with the pairs gone, every quote left opens or closes a string.
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(bare, np.uint8)
    in_string = (np.cumsum(codes == ord('"'), dtype=np.int32) & 1).astype(bool)
    steps = np.where(in_string, 0, _BRACKET_STEP[codes])
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


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
