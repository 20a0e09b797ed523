"""Reading the event feed."""

from __future__ import annotations

from crowd.db.engine import Database
from crowd.events import store
from crowd.ids import OrganizationId
from crowd.projects.access import require_project


async def feed(
    db: Database, organization_id: OrganizationId, project_id: str, after: int, limit: int
) -> list[store.Event]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        return await store.feed(conn, project.id, after, limit)
