"""Pure rules about project settings."""

from __future__ import annotations

from typing import Any


def settings_errors(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Rules that tie several settings together, as problem ``errors``."""
    if values["max_overlap"] < values["min_overlap"]:
        return [{"loc": ["max_overlap"], "msg": "max_overlap must be at least min_overlap"}]
    return []
