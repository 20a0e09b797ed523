"""What each handler takes and gives, for the OpenAPI document: the body
model, the query parameters, the success statuses and who may call it.
Handlers carry it with ``@documented(...)``; ``crowd.api.openapi`` reads it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__crowd_operation__"


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


def documented(
    *roles: str,
    body: type[BaseModel] | None = None,
    query: Sequence[Param] = (),
    statuses: Sequence[int] = (200,),
    media: Sequence[str] = ("application/json",),
    headers: Sequence[Param] = (),
) -> Callable[[F], F]:
    operation = Operation(tuple(roles), body, tuple(query), tuple(statuses), tuple(media), tuple(headers))

    def mark(handler: F) -> F:
        setattr(handler, ATTRIBUTE, operation)
        return handler

    return mark


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    return getattr(handler, ATTRIBUTE, None)
