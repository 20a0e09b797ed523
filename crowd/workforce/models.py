"""Groups as the rest of the code sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crowd.ids import GroupId, OrganizationId


@dataclass(frozen=True, slots=True)
class Group:
    """A named set of one organization's workers (a qualification)."""

    id: GroupId
    organization_id: OrganizationId
    name: str
    created_at: datetime
    workers: int = 0
    """How many workers are in it, where the query counted them."""
