"""Webhook secrets at rest: sealed with AES-GCM under the server's key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crowd.config import Settings
from crowd.errors import ServiceUnavailable

_CONTEXT = b"crowd webhook secret v1"


class Sealer:
    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key is not None else None

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._cipher().encrypt(nonce, secret.encode(), _CONTEXT)).decode()

    def unseal(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._cipher().decrypt(raw[:12], raw[12:], _CONTEXT).decode()

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            raise ServiceUnavailable("webhooks need CROWD_SECRET_KEY (base64 of 32 random bytes)")
        return self._aead


def sealer_for(settings: Settings) -> Sealer:
    """The configured key; on SQLite without one, a key file beside the
    database (made on first use, readable by its owner only)."""
    if settings.secret_key:
        return Sealer(base64.b64decode(settings.secret_key))
    if not settings.is_sqlite:
        return Sealer(None)
    path = Path(settings.database_url.split("///", 1)[-1] + ".key")
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return Sealer(base64.b64decode(path.read_text()))
