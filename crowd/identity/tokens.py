"""Secrets: API keys and worker tokens.

A secret is ``crowd_<kind>_<43 url-safe characters>`` (256 random bits). Only
its SHA-256 is stored. A slow password hash would add nothing: the secret is
random and long, so there is no dictionary to guess from, and hashing on
every request must stay cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Role(StrEnum):
    PLATFORM = "platform"
    OPERATOR = "operator"
    REVIEWER = "reviewer"


class SecretKind(StrEnum):
    PLATFORM_KEY = "pk"
    OPERATOR_KEY = "ok"
    REVIEWER_KEY = "rk"
    WORKER_TOKEN = "wt"


KEY_KIND = {
    Role.PLATFORM: SecretKind.PLATFORM_KEY,
    Role.OPERATOR: SecretKind.OPERATOR_KEY,
    Role.REVIEWER: SecretKind.REVIEWER_KEY,
}


def new_secret(kind: SecretKind) -> str:
    return f"crowd_{kind.value}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_kind(secret: str) -> SecretKind | None:
    """The kind a well-formed secret declares, or None for anything else."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "crowd" or len(parts[2]) < 32:
        return None
    try:
        return SecretKind(parts[1])
    except ValueError:
        return None
