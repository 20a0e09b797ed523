"""Who is calling: organizations, their API keys, and crowd workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crowd.identity.tokens import Role
from crowd.ids import ApiKeyId, OrganizationId, WorkerId


@dataclass(frozen=True, slots=True)
class Organization:
    id: OrganizationId
    name: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A platform's or operator's credential, scoped to one organization."""

    id: ApiKeyId
    organization_id: OrganizationId
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None
    """Set once the key is revoked: from then on it authenticates nobody."""


@dataclass(frozen=True, slots=True)
class Worker:
    """A crowd worker: a member of one organization's workforce, served only
    that organization's projects."""

    id: WorkerId
    organization_id: OrganizationId
    name: str
    blocked: bool
    created_at: datetime
    deactivated_at: datetime | None = None
    """Set while an operator has the worker deactivated: its token then
    authenticates nobody."""

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


Principal = ApiKey | Worker
