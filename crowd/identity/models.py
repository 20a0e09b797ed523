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


@dataclass(frozen=True, slots=True)
class Worker:
    id: WorkerId
    name: str
    blocked: bool
    created_at: datetime


Principal = ApiKey | Worker
