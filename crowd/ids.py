"""Identifiers. Public ids are prefixed random strings, so an id says what it
names ("prj_…" is a project) and reveals neither counts nor order."""

from __future__ import annotations

import secrets
from typing import NewType

OrganizationId = NewType("OrganizationId", str)
ApiKeyId = NewType("ApiKeyId", str)
WorkerId = NewType("WorkerId", str)
ProjectId = NewType("ProjectId", str)
BatchId = NewType("BatchId", str)
GroupId = NewType("GroupId", str)
AssignmentId = NewType("AssignmentId", str)
"""The opaque public id of an assignment: the only handle a worker gets."""
TaskId = NewType("TaskId", int)
"""Internal; never leaves the server toward a worker."""

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str, length: int = 20) -> str:
    """``prefix_`` + ``length`` random base32 characters (100 bits at 20)."""
    # 32 divides 256: the low five bits of a random byte are a uniform character
    return prefix + "_" + "".join(_ALPHABET[byte & 31] for byte in secrets.token_bytes(length))
