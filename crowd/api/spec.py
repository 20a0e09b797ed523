"""What each handler takes and gives, for the OpenAPI document: the body
model, the query parameters, the success statuses and who may call it.
Handlers carry it with ``@documented(...)``; ``crowd.api.openapi`` reads it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__crowd_operation__"

BodyLimit = Literal["small", "worker", "bulk"]
"""How large a body an endpoint takes (``crowd.api.bodies``): a worker's 64 KiB,
a bulk upload's ``CROWD_MAX_BODY_BYTES``, any other's 1 MiB."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""


def integer(name: str, low: int, high: int, description: str = "") -> Param:
    return Param(name, {"type": "integer", "minimum": low, "maximum": high}, description)


def choice(name: str, values: Sequence[str], description: str = "") -> Param:
    return Param(name, {"type": "string", "enum": list(values)}, description)


def text(name: str, description: str = "") -> Param:
    return Param(name, {"type": "string"}, description)


#: The opaque page cursor of the list endpoints.
CURSOR = text("cursor", "the next_cursor of the previous page")


@dataclass(frozen=True, slots=True)
class Operation:
    roles: tuple[str, ...]  # "platform", "operator", "reviewer" keys, or "worker" tokens
    body: type[BaseModel] | None = None
    query: tuple[Param, ...] = ()
    statuses: tuple[int, ...] = (200,)
    media: tuple[str, ...] = ("application/json",)  # of the success body, by format
    headers: tuple[Param, ...] = ()
    body_limit: BodyLimit = "small"


def documented(
    *roles: str,
    body: type[BaseModel] | None = None,
    query: Sequence[Param] = (),
    statuses: Sequence[int] = (200,),
    media: Sequence[str] = ("application/json",),
    headers: Sequence[Param] = (),
    limit: BodyLimit | None = None,
) -> Callable[[F], F]:
    """``limit``: a worker's endpoints take small bodies, others 1 MiB unless ``bulk``."""
    body_limit = limit or ("worker" if roles == ("worker",) else "small")
    operation = Operation(tuple(roles), body, tuple(query), tuple(statuses), tuple(media), tuple(headers), body_limit)

    def mark(handler: F) -> F:
        setattr(handler, ATTRIBUTE, operation)
        return handler

    return mark


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    return getattr(handler, ATTRIBUTE, None)
