"""Query-string parameters, checked like bodies."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from crowd.errors import ValidationFailed


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


def _bad(name: str, msg: str) -> ValidationFailed:
    return ValidationFailed(f"query parameter {name!r} {msg}", errors=[{"loc": ["query", name], "msg": msg}])
