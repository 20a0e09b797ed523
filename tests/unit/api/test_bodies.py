"""Large bodies are decoded, validated and hashed in slices: the result is
the one-shot result, errors included, whatever the body."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest

from crowd.api.bodies import canonical_sha256, decode, validate
from crowd.api.models import BatchIn, GoldIn, PredictionsIn
from crowd.errors import InvalidJson, JsonTooDeep, ValidationFailed
from tests.unit.api.test_nesting import TRICKY_STRINGS, random_value

BAD = [
    "",
    " ",
    "{",
    "[1, 2",
    '{"a": 1,}',
    "[1,]",
    '{"a" 1}',
    '{"a": 1 "b": 2}',
    "[1 2]",
    "{1: 2}",
    '{"a": [1, 2}',
    "[] []",
    "nul",
    '"unterminated',
    "\ufeff[]",
    "[NaN, Infinity, -Infinity]",  # json.loads takes these: so does the sliced decoder
    '{"a": 1, "a": 2}',  # the last one wins, as in json.loads
    ' \n {"tasks": [ {"x": [1, {"y": "}]"}]} , [] , "s" ] } \t',
]


async def sliced(raw: bytes) -> Any:
    return await decode(raw, inline=0)


@pytest.mark.parametrize("seed", range(200))
async def test_sliced_decoding_gives_what_json_loads_gives(seed: int) -> None:
    rng = random.Random(seed)
    value = random_value(rng, rng.randrange(1, 8))
    raw = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1, 2])).encode()
    assert await sliced(raw) == json.loads(raw)


@pytest.mark.parametrize("text", BAD)
async def test_sliced_decoding_takes_and_refuses_what_json_loads_does(text: str) -> None:
    raw = text.encode()
    try:
        expected = json.loads(raw)
    except ValueError:
        with pytest.raises(InvalidJson):
            await sliced(raw)
        return
    got = await sliced(raw)
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN, but it dumps the same


async def test_sliced_decoding_reads_every_encoding_json_loads_reads() -> None:
    value = {"tasks": [{"data": {"text": "é[ü" + s}} for s in TRICKY_STRINGS]}
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"):
        raw = json.dumps(value, ensure_ascii=False).encode(encoding)
        assert await sliced(raw) == json.loads(raw) == value
    with pytest.raises(InvalidJson):
        await sliced(b'{"a": "\xff"}')


async def test_a_large_body_nested_too_deeply_is_refused_before_it_is_decoded() -> None:
    raw = b'{"tasks": [' + b"[" * 65 + b"]" * 65 + b"]}"
    with pytest.raises(JsonTooDeep):
        await sliced(raw)
    assert await sliced(b'{"tasks": [' + b"[" * 62 + b"]" * 62 + b"]}")  # 64 levels in all


def batch(rng: random.Random, rows: int, broken: float) -> dict[str, Any]:
    """A batch body; a share of its rows (and now and then the envelope) wrong."""

    def row(i: int) -> Any:
        good: dict[str, Any] = {"external_id": f"t-{i}", "data": {"text": rng.choice(TRICKY_STRINGS)}}
        if rng.random() < 0.3:
            good["predictions"] = [{"model": "m", "label": "cat", "score": rng.random()}]
        if rng.random() >= broken:
            return good
        return rng.choice(
            [
                {**good, "data": "not an object"},
                {**good, "extra": 1},
                {**good, "priority": 1.5},
                {**good, "external_id": ""},
                {**good, "predictions": [{"model": "m", "label": "cat", "score": 2}]},
                "not a row",
                None,
            ]
        )

    body: dict[str, Any] = {"tasks": [row(i) for i in range(rows)]}
    if rng.random() < 0.3:
        body["external_id"] = rng.choice(["b-1", "", 7])
    if rng.random() < 0.1:
        body["unexpected"] = True
    return body


async def outcome(body: Any, sliced_rows: int) -> Any:
    try:
        return (await validate(body, BatchIn, sliced_rows)).model_dump()
    except ValidationFailed as exc:
        return sorted(json.dumps(e, sort_keys=True) for e in exc.extra["errors"])


@pytest.mark.parametrize("seed", range(60))
async def test_sliced_validation_gives_what_one_validation_gives(seed: int) -> None:
    rng = random.Random(seed)
    body = batch(rng, rng.randrange(1, 40), rng.choice([0.0, 0.0, 0.05, 0.5]))
    assert await outcome(body, 1) == await outcome(body, 10**9)


async def test_too_many_rows_are_refused_without_validating_them() -> None:
    body = {"tasks": [{"data": {}}] * 10_001}
    with pytest.raises(ValidationFailed) as raised:
        await validate(body, BatchIn, 1)
    assert [e["type"] for e in raised.value.extra["errors"]] == ["too_long"]


@pytest.mark.parametrize("seed", range(20))
async def test_the_sliced_hash_is_the_hash_of_the_canonical_dump(seed: int) -> None:
    rng = random.Random(seed)
    body = {"tasks": batch(rng, rng.randrange(1, 30), 0.0)["tasks"]}
    if rng.random() < 0.5:
        body["external_id"] = "b-1"
    for model, value in (
        (BatchIn, body),
        (GoldIn, {"tasks": [{"external_id": f"g-{i}", "data": {}, "label": "cat"} for i in range(3)]}),
        (PredictionsIn, {"predictions": [{"external_id": "t", "model": "m", "label": "a"}]}),
    ):
        parsed = model.model_validate(value, strict=True)
        whole = json.dumps(parsed.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        assert await canonical_sha256(parsed) == hashlib.sha256(whole.encode()).hexdigest()
