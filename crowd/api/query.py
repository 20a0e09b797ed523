"""Query-string parameters, checked like bodies."""

from __future__ import annotations

import re
from collections.abc import Collection

from aiohttp import web

from crowd.errors import InvalidCursor, ValidationFailed


def integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _bad(name, f"must be an integer from {low} to {high}")
    return value


def choice(request: web.Request, name: str, default: str | None, allowed: Collection[str]) -> str | None:
    value = request.query.get(name, default)
    if value is not None and value not in allowed:
        raise _bad(name, f"must be one of {sorted(allowed)}")
    return value


def id_cursor(request: web.Request, prefix: str) -> str:
    """Where a page of objects listed by id starts: after the ``cursor``
    (the ``next_cursor`` of the page before, an id ``prefix_…``); "" for
    the first page."""
    cursor = request.query.get("cursor", "")
    if cursor and re.fullmatch(rf"{prefix}_[0-9a-z]{{1,40}}", cursor) is None:
        raise InvalidCursor(f"bad cursor {cursor!r}")
    return cursor


def _bad(name: str, msg: str) -> ValidationFailed:
    return ValidationFailed(f"query parameter {name!r} {msg}", errors=[{"loc": ["query", name], "msg": msg}])
