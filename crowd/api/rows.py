"""Task rows, whichever route or format brings them: the limits of a batch,
and errors that name the row they are about."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from crowd.api.bodies import field_errors
from crowd.api.models import BatchIn
from crowd.errors import ValidationFailed

MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key``, if it has one of 1 to 200 characters (else 422)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


def as_batch(external_id: str | None, tasks: list[dict[str, Any]]) -> BatchIn:
    """Task rows from another format (a Label Studio export) checked as the
    body of ``POST …/batches`` is, with the same limits (task count, external
    id length, data an object): a 422 naming each bad row."""
    try:
        return BatchIn.model_validate({"external_id": external_id, "tasks": tasks}, strict=True)
    except ValidationError as exc:
        detail = f"{exc.error_count()} problem(s) in the tasks; nothing was stored"
        raise ValidationFailed(detail, errors=row_errors(field_errors(exc))) from exc


def row_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name the row of each problem: ``loc ["tasks", 7, "data"]`` -> row 7
    (the rows are ``tasks`` of a batch or of gold, or ``predictions``)."""
    rows = []
    for error in errors:
        loc = error["loc"]
        if len(loc) >= 2 and isinstance(loc[1], int):
            field = ".".join(str(part) for part in loc[2:]) or None
            rows.append({"row": loc[1], "field": field, "reason": error["msg"]})
        else:
            rows.append(error)
    return rows
