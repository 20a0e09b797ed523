"""Request bodies: how large each endpoint takes them, read without trusting
Content-Length, and large ones decoded, checked and validated in slices, so
that one 16 MiB batch does not stop the event loop (and every other request
of the process) for the seconds its parsing takes.

Why slices and not a thread: ``json.loads`` and pydantic's validation hold the
GIL for their whole run, so a thread frees the loop no sooner. The depth check
is numpy, which lets the GIL go: that one does run in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
import typing
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, TypeVar

import annotated_types
import numpy as np
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from crowd.api.keys import SETTINGS
from crowd.api.spec import operation_of
from crowd.errors import BadRequest, InvalidJson, JsonTooDeep, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)

WORKER_BODY_BYTES = 64 * 1024
"""Answers, skips and reports: a label or a reason, never more."""
SMALL_BODY_BYTES = 1024 * 1024
"""Every other endpoint but the bulk uploads (a project's instructions fit)."""
INLINE_BYTES = 256 * 1024
"""Bodies up to this size are parsed in one go (a few milliseconds)."""
SLICE_SECONDS = 0.005
"""How long the work on a large body holds the event loop before it lets other requests run."""
SLICED_ROWS = 200
"""Row lists shorter than this are validated in one go."""

#: How deeply a request body may nest arrays and objects. A task's data
#: rarely needs more than a handful of levels; a bound keeps hostile bodies
#: from exhausting the parser's stack or anything that walks the data later.
MAX_DEPTH = 64

BODY_LIMIT = web.RequestKey("body_limit", int)
"""Where :func:`bounded_bodies` leaves the endpoint's limit for :func:`read_body`."""


def body_limit(request: web.Request) -> int:
    """The largest body the matched endpoint takes: 64 KiB for a worker's,
    ``CROWD_MAX_BODY_BYTES`` for a bulk upload, 1 MiB for any other."""
    operation = operation_of(request.match_info.handler)
    kind = operation.body_limit if operation is not None else "small"
    if kind == "bulk":
        return request.app[SETTINGS].max_body_bytes
    return WORKER_BODY_BYTES if kind == "worker" else SMALL_BODY_BYTES


@web.middleware
async def bounded_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """413 at once when Content-Length says the body is over the endpoint's
    limit: nothing of it is read. Bodies without a length (chunked) are
    counted as they are read (:func:`read_body`)."""
    limit = body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"this endpoint takes bodies of at most {limit} bytes")
    request[BODY_LIMIT] = limit
    return await handler(request)


async def read_body(request: web.Request) -> bytes:
    """The body, read until it passes the endpoint's limit (then 413)."""
    limit = request.get(BODY_LIMIT, SMALL_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"this endpoint takes bodies of at most {limit} bytes")
            chunks.append(chunk)
    except ConnectionResetError as exc:  # the client hung up: nobody to answer, nothing to log as a fault
        raise BadRequest("the connection was lost before the body arrived") from exc
    return b"".join(chunks)


async def parse(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``: 413 ``payload-too-large`` past the
    endpoint's limit, 400 ``invalid-json`` if it is not JSON, 400
    ``json-too-deep``, 422 ``validation-error`` with every problem if it
    does not fit."""
    return await validate(await decode(await read_body(request)), model)


# decoding --------------------------------------------------------------------


async def decode(raw: bytes, inline: int = INLINE_BYTES) -> Any:
    """``json.loads(raw)``, refusing nesting past :data:`MAX_DEPTH`; a body
    larger than ``inline`` in slices."""
    if len(raw) <= inline:
        return _decode_at_once(raw)
    if await asyncio.to_thread(too_deep, raw):
        raise _too_deep()
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads does
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value, end = await _value(text, _skip(text, 0), 1, _Slices())
        if _skip(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, _skip(text, end))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(exc) from exc
    except RecursionError as exc:
        raise _too_deep() from exc
    return value


def _decode_at_once(raw: bytes) -> Any:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(exc) from exc
    except RecursionError as exc:
        raise _too_deep() from exc
    if too_deep(raw):
        raise _too_deep()
    return body


def _invalid(exc: Exception) -> InvalidJson:
    return InvalidJson(f"the body is not valid JSON: {exc}")


def _too_deep() -> JsonTooDeep:
    return JsonTooDeep(f"the body nests deeper than {MAX_DEPTH} levels")


class _Slices:
    """Hands the event loop back every :data:`SLICE_SECONDS`."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def tick(self) -> None:
        if time.perf_counter() - self._since >= SLICE_SECONDS:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
SPLIT_DEPTH = 3
"""Containers this shallow (the body, its list of rows, each row) are walked
here, one member at a time; deeper values (a task's data) are decoded whole,
in C."""


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


async def _value(text: str, at: int, depth: int, slices: _Slices) -> tuple[Any, int]:
    """The value starting at ``at`` (no whitespace before it) and where it ends."""
    opener = text[at : at + 1]
    if depth <= SPLIT_DEPTH and opener == "[":
        return await _array(text, at, depth, slices)
    if depth <= SPLIT_DEPTH and opener == "{":
        return await _object(text, at, depth, slices)
    value, end = _DECODER.raw_decode(text, at)
    await slices.tick()
    return value, end


async def _array(text: str, at: int, depth: int, slices: _Slices) -> tuple[list[Any], int]:
    items: list[Any] = []
    at = _skip(text, at + 1)
    if text[at : at + 1] == "]":
        return items, at + 1
    while True:
        item, at = await _value(text, at, depth + 1, slices)
        items.append(item)
        at = _skip(text, at)
        if text[at : at + 1] == "]":
            return items, at + 1
        if text[at : at + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


async def _object(text: str, at: int, depth: int, slices: _Slices) -> tuple[dict[str, Any], int]:
    members: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        return members, at + 1
    while True:
        if text[at : at + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
        key, at = scanstring(text, at + 1)
        at = _skip(text, at)
        if text[at : at + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
        members[key], at = await _value(text, _skip(text, at + 1), depth + 1, slices)
        at = _skip(text, at)
        if text[at : at + 1] == "}":
            return members, at + 1
        if text[at : at + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


_STRUCTURAL = np.zeros(256, bool)
_STRUCTURAL[[ord(c) for c in '"[]{}']] = True
_BRACKET_STEP = np.zeros(256, np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether valid JSON nests deeper than ``limit``."""
    # Fewer brackets than the limit cannot nest past it, whatever the strings hold.
    return raw.count(b"[") + raw.count(b"{") > limit and nesting(raw) > limit


def nesting(raw: bytes) -> int:
    """How deeply valid JSON nests arrays and objects, found without walking
    the parsed value: brackets are counted in bulk, outside strings, among
    the structural characters only (a few per cent of a body)."""
    # In valid JSON a backslash only appears in strings, each starting a pair;
    # with the pairs gone, every quote left opens or closes a string.
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(bare, np.uint8)
    marks = codes[_STRUCTURAL[codes]]
    in_string = (np.cumsum(marks == ord('"'), dtype=np.int32) & 1).astype(bool)
    steps = np.where(in_string, 0, _BRACKET_STEP[marks])
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


# validating ------------------------------------------------------------------


async def validate(body: Any, model: type[M], sliced_rows: int = SLICED_ROWS) -> M:
    """``model.model_validate(body, strict=True)``; a model with many rows
    (``ROWS`` names its list of row models; ``sliced_rows`` or more) one row
    at a time, in slices."""
    rows = _rows_of(model)
    if rows is None or not isinstance(body, dict) or not isinstance(body.get(rows[0]), list):
        return _validate_at_once(body, model)
    field, row_model, most = rows
    items = body[field]
    if len(items) < sliced_rows:
        return _validate_at_once(body, model)
    if most is not None and len(items) > most:
        message = f"List should have at most {most} items after validation, not {len(items)}"
        raise _invalid_body([{"loc": [field], "msg": message, "type": "too_long"}])
    valid, row_errors = await _validate_rows(items, row_model, field)
    try:
        result = model.model_validate({**body, field: valid}, strict=True)
    except ValidationError as exc:
        errors = field_errors(exc)
        if row_errors:  # the rows that failed are missing from the list: its length says nothing
            errors = [e for e in errors if e["loc"] != [field]]
        raise _invalid_body(errors + row_errors) from exc
    if row_errors:
        raise _invalid_body(row_errors)
    return result


async def _validate_rows(
    items: list[Any], row_model: type[BaseModel], field: str
) -> tuple[list[BaseModel], list[dict[str, Any]]]:
    valid: list[BaseModel] = []
    errors: list[dict[str, Any]] = []
    slices = _Slices()
    for i, item in enumerate(items):
        try:
            valid.append(row_model.model_validate(item, strict=True))
        except ValidationError as exc:
            errors += [{**e, "loc": [field, i, *e["loc"]]} for e in field_errors(exc)]
        await slices.tick()
    return valid, errors


def _rows_of(model: type[BaseModel]) -> tuple[str, type[BaseModel], int | None] | None:
    """The model's row list: its field, the row model and the most rows it takes."""
    field = getattr(model, "ROWS", None)
    if field is None:
        return None
    info = model.model_fields[field]
    (row_model,) = typing.get_args(info.annotation)
    if not (isinstance(row_model, type) and issubclass(row_model, BaseModel)):
        return None
    most = next((m.max_length for m in info.metadata if isinstance(m, annotated_types.MaxLen)), None)
    return field, row_model, most


def _validate_at_once(body: Any, model: type[M]) -> M:
    try:
        return model.model_validate(body, strict=True)
    except ValidationError as exc:
        raise _invalid_body(field_errors(exc)) from exc


def _invalid_body(errors: list[dict[str, Any]]) -> ValidationFailed:
    return ValidationFailed(f"{len(errors)} problem(s) in the request body", errors=errors)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()]


async def canonical_sha256(body: BaseModel) -> str:
    """SHA-256 of ``json.dumps(body.model_dump(mode="json"), sort_keys=True,
    separators=(",", ":"))``, the rows of a model with many dumped one at a
    time, in slices."""
    rows = _rows_of(type(body))
    if rows is None:
        return hashlib.sha256(_canonical(body.model_dump(mode="json")).encode()).hexdigest()
    field = rows[0]
    # the rows' place in the dump: a string nobody could have sent
    marker = f"rows-{secrets.token_hex(16)}"
    head, tail = _canonical({**body.model_dump(mode="json", exclude={field}), field: marker}).split(f'"{marker}"')
    digest = hashlib.sha256(head.encode() + b"[")
    slices = _Slices()
    for i, row in enumerate(getattr(body, field)):
        digest.update((b"," if i else b"") + _canonical(row.model_dump(mode="json")).encode())
        await slices.tick()
    digest.update(b"]" + tail.encode())
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
