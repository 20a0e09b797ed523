"""The bulk bracket count agrees with a walk of the parsed value."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from crowd.api.bodies import nesting, too_deep

TRICKY_STRINGS = ["", "[", "]]]", "{[", '"', '\\"', "\\", "\\\\", '\\\\"]', 'a\\\\\\"b', "}\n{", "é[ü"]


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def random_value(rng: random.Random, room: int) -> Any:
    roll = rng.random()
    if room == 0 or roll < 0.3:
        return rng.choice([*TRICKY_STRINGS, 1, 2.5, None, True])
    if roll < 0.65:
        return [random_value(rng, room - 1) for _ in range(rng.randrange(4))]
    return {rng.choice(TRICKY_STRINGS) + str(i): random_value(rng, room - 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("seed", range(300))
def test_nesting_matches_the_parsed_depth(seed: int) -> None:
    rng = random.Random(seed)
    value = random_value(rng, rng.randrange(1, 12))
    raw = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])).encode()
    assert nesting(raw) == depth(value)
    assert too_deep(raw, 3) == (depth(value) > 3)


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting(json.dumps({"a": "[[[[{{{{", "b": ["]]]]"]}).encode()) == 2
    assert not too_deep(json.dumps(["[" * 500]).encode())
    assert too_deep(json.dumps([[[["x"]]]]).encode(), 3)
