"""The one check every organization-scoped use case starts with."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.errors import NotFound
from crowd.ids import OrganizationId
from crowd.projects import store
from crowd.projects.models import Project


async def require_project(conn: AsyncConnection, organization_id: OrganizationId, project_id: str) -> Project:
    """The organization's project, or 404: another organization's projects
    do not exist for this caller (their existence is not leaked)."""
    project = await store.project_by_id(conn, project_id, organization_id=organization_id)
    if project is None:
        raise NotFound(f"no project {project_id}")
    return project
