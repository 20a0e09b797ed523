"""SQL for groups, their members, and the groups projects require.

:func:`in_required_groups` is the one definition of "this worker is in
every group the project requires" (all-of; a project that requires none
serves every worker of its organization). The claim, the claim's choice of
projects and the list of open projects all read it, so what a worker is
listed and what it is leased never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, RowMapping, delete, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.schema import project_required_groups, worker_group_members, worker_groups, workers
from crowd.db.upsert import insert_for
from crowd.identity.models import Worker
from crowd.identity.store import worker_from_row
from crowd.ids import GroupId, OrganizationId, ProjectId, WorkerId, new_id
from crowd.workforce.models import Group

_required = project_required_groups
_members = worker_group_members


def in_required_groups(project_id: ColumnElement[str], worker_id: ColumnElement[str]) -> ColumnElement[bool]:
    """True when no group the project requires lacks the worker: one probe of
    ``project_required_groups``' primary key for a project that requires
    none, one more of the members' per required group."""
    missing = select(_required.c.group_id).where(
        _required.c.project_id == project_id,
        ~exists().where(_members.c.group_id == _required.c.group_id, _members.c.worker_id == worker_id),
    )
    return ~missing.exists()


_MEMBER_COUNT = select(func.count()).where(_members.c.group_id == worker_groups.c.id).scalar_subquery().label("workers")
_GROUPS = select(worker_groups, _MEMBER_COUNT)


async def insert_group(conn: AsyncConnection, organization_id: OrganizationId, name: str, now: datetime) -> Group:
    group = Group(GroupId(new_id("grp")), organization_id, name, now)
    await conn.execute(
        insert(worker_groups).values(id=group.id, organization_id=organization_id, name=name, created_at=now)
    )
    return group


async def group_by_id(conn: AsyncConnection, group_id: str, organization_id: OrganizationId) -> Group | None:
    """The organization's group, or None (another organization's too)."""
    query = _GROUPS.where(worker_groups.c.id == group_id, worker_groups.c.organization_id == organization_id)
    row = (await conn.execute(query)).mappings().first()
    return _group(row) if row else None


async def groups_of(conn: AsyncConnection, organization_id: OrganizationId, after: str, limit: int) -> list[Group]:
    query = (
        _GROUPS.where(worker_groups.c.organization_id == organization_id, worker_groups.c.id > after)
        .order_by(worker_groups.c.id)
        .limit(limit)
    )
    return [_group(row) for row in (await conn.execute(query)).mappings()]


async def groups_named(
    conn: AsyncConnection, organization_id: OrganizationId, names: Sequence[str]
) -> dict[str, GroupId]:
    """The organization's groups among ``names``, name to id."""
    query = select(worker_groups.c.name, worker_groups.c.id).where(
        worker_groups.c.organization_id == organization_id, worker_groups.c.name.in_(names)
    )
    return {name: GroupId(group_id) for name, group_id in await conn.execute(query)}


async def delete_group(conn: AsyncConnection, group_id: GroupId) -> None:
    await conn.execute(delete(_members).where(_members.c.group_id == group_id))
    await conn.execute(delete(worker_groups).where(worker_groups.c.id == group_id))


async def projects_requiring(conn: AsyncConnection, group_id: GroupId) -> list[ProjectId]:
    query = select(_required.c.project_id).where(_required.c.group_id == group_id).order_by(_required.c.project_id)
    return [ProjectId(pid) for pid in (await conn.execute(query)).scalars()]


async def add_member(conn: AsyncConnection, group: Group, worker_id: WorkerId, now: datetime) -> None:
    """Put the worker in the group (already there: nothing changes). The
    composite foreign keys refuse a worker of another organization."""
    statement = (
        insert_for(conn, _members)
        .values(group_id=group.id, worker_id=worker_id, organization_id=group.organization_id, added_at=now)
        .on_conflict_do_nothing(index_elements=[_members.c.group_id, _members.c.worker_id])
    )
    await conn.execute(statement)


async def remove_member(conn: AsyncConnection, group_id: GroupId, worker_id: WorkerId) -> None:
    await conn.execute(delete(_members).where(_members.c.group_id == group_id, _members.c.worker_id == worker_id))


async def members_of(conn: AsyncConnection, group_id: GroupId, after: str, limit: int) -> list[Worker]:
    """The group's workers by id, after ``after``."""
    query = (
        select(workers)
        .join(_members, _members.c.worker_id == workers.c.id)
        .where(_members.c.group_id == group_id, _members.c.worker_id > after)
        .order_by(_members.c.worker_id)
        .limit(limit)
    )
    return [worker_from_row(row) for row in (await conn.execute(query)).mappings()]


async def group_names_of_workers(conn: AsyncConnection, worker_ids: Sequence[str]) -> dict[WorkerId, list[str]]:
    """Each worker's groups, by name."""
    query = (
        select(_members.c.worker_id, worker_groups.c.name)
        .join(worker_groups, worker_groups.c.id == _members.c.group_id)
        .where(_members.c.worker_id.in_(worker_ids))
        .order_by(_members.c.worker_id, worker_groups.c.name)
    )
    found: dict[WorkerId, list[str]] = {}
    for worker_id, name in await conn.execute(query):
        found.setdefault(WorkerId(worker_id), []).append(name)
    return found


async def required_group_names(conn: AsyncConnection, project_ids: Sequence[str]) -> dict[ProjectId, list[str]]:
    """The groups each project requires, by name, sorted."""
    query = (
        select(_required.c.project_id, worker_groups.c.name)
        .join(worker_groups, worker_groups.c.id == _required.c.group_id)
        .where(_required.c.project_id.in_(project_ids))
        .order_by(_required.c.project_id, worker_groups.c.name)
    )
    found: dict[ProjectId, list[str]] = {ProjectId(pid): [] for pid in project_ids}
    for project_id, name in await conn.execute(query):
        found[ProjectId(project_id)].append(name)
    return found


async def set_required_groups(
    conn: AsyncConnection, project_id: ProjectId, organization_id: OrganizationId, group_ids: Sequence[GroupId]
) -> None:
    """The project requires exactly these groups (of its own organization:
    the composite foreign keys refuse any other)."""
    await conn.execute(delete(_required).where(_required.c.project_id == project_id))
    if group_ids:
        rows = [{"project_id": project_id, "group_id": g, "organization_id": organization_id} for g in group_ids]
        await conn.execute(insert(_required), rows)


def _group(row: RowMapping) -> Group:
    return Group(
        id=GroupId(row["id"]),
        organization_id=OrganizationId(row["organization_id"]),
        name=row["name"],
        created_at=row["created_at"],
        workers=int(row["workers"]),
    )
