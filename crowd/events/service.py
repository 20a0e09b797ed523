"""Reading the event feed."""

from __future__ import annotations

from crowd.db.engine import Database
from crowd.errors import NotFound
from crowd.events import store
from crowd.ids import OrganizationId
from crowd.projects import store as projects


async def feed(
    db: Database, organization_id: OrganizationId, project_id: str, after: int, limit: int
) -> list[store.Event]:
    async with db.read() as conn:
        project = await projects.project_by_id(conn, project_id, organization_id=organization_id)
        if project is None:
            raise NotFound(f"no project {project_id}")
        return await store.feed(conn, project.id, after, limit)
