"""The one exception tree. Every class carries a stable ``type`` slug and an
HTTP status; the error middleware renders them as ``application/problem+json``.

Clients branch on ``type``, never on ``title`` or ``detail``.
"""

from __future__ import annotations

from typing import Any, ClassVar


def describe(exc: BaseException) -> str:
    """``Type: message`` for logs and stored failure reasons, or just the type
    when there is no message (a bare timeout)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class CrowdError(Exception):
    """Base of every error a client may see."""

    type: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class BadRequest(CrowdError):
    type = "bad-request"
    title = "Bad request"
    status = 400


class InvalidJson(CrowdError):
    type = "invalid-json"
    title = "Request body is not valid JSON"
    status = 400


class JsonTooDeep(CrowdError):
    type = "json-too-deep"
    title = "Request body nests too deeply"
    status = 400


class ValidationFailed(CrowdError):
    """422 with an ``errors`` list: ``[{"loc": [...], "msg": ...}]`` or, for
    batches, ``[{"row": i, "field": ..., "reason": ...}]``."""

    type = "validation-error"
    title = "Request failed validation"
    status = 422


class UnknownLabel(CrowdError):
    type = "unknown-label"
    title = "Label is not one of the project's labels"
    status = 422


class Unauthorized(CrowdError):
    type = "unauthorized"
    title = "Missing or invalid credentials"
    status = 401


class Forbidden(CrowdError):
    type = "forbidden"
    title = "This credential may not do that"
    status = 403


class WorkerBlocked(CrowdError):
    type = "worker-blocked"
    title = "Worker is blocked"
    status = 403


class NotQualified(CrowdError):
    type = "not-qualified"
    title = "This worker's reliability is below what the project asks"
    status = 403


class NotFound(CrowdError):
    type = "not-found"
    title = "Not found"
    status = 404


class MethodNotAllowed(CrowdError):
    type = "method-not-allowed"
    title = "Method not allowed"
    status = 405


class Conflict(CrowdError):
    type = "conflict"
    title = "Conflict with the current state"
    status = 409


class LeaseExpired(Conflict):
    type = "lease-expired"
    title = "The lease expired and the task no longer needs this answer"


class AlreadyAnswered(Conflict):
    type = "already-answered"
    title = "This assignment was already answered with another label"


class AssignmentClosed(Conflict):
    type = "assignment-closed"
    title = "This assignment is no longer open"


class TooManyWebhooks(Conflict):
    type = "too-many-webhooks"
    title = "The project has as many webhooks as it may have"


class IdempotencyKeyReused(CrowdError):
    type = "idempotency-key-reused"
    title = "Idempotency-Key was used before with a different request"
    status = 422


class PayloadTooLarge(CrowdError):
    type = "payload-too-large"
    title = "Request body is too large"
    status = 413


class UnsupportedMediaType(CrowdError):
    type = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class RateLimited(CrowdError):
    type = "rate-limited"
    title = "Too many requests"
    status = 429


class ServiceUnavailable(CrowdError):
    type = "service-unavailable"
    title = "Service temporarily unavailable"
    status = 503


class DatabaseUnavailable(ServiceUnavailable):
    type = "database-unavailable"
    title = "The database is unavailable"


class DatabaseBusy(ServiceUnavailable):
    """Every pooled connection stayed in use for ``db_timeout_seconds``: the
    process is overloaded, not the database down. Worth retrying soon."""

    type = "database-busy"
    title = "The server is busy; try again shortly"

    def __init__(self, detail: str = "no database connection came free in time") -> None:
        super().__init__(detail, retry_after=1)


class BrokerUnavailable(ServiceUnavailable):
    type = "broker-unavailable"
    title = "The broker is unavailable"


class InvalidCursor(CrowdError):
    type = "invalid-cursor"
    title = "The cursor is not one this server issued"
    status = 400
