"""Deciding a task whose answers reached its target overlap."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import store
from crowd.assignment.policy import majority
from crowd.ids import TaskId
from crowd.projects.models import Project


async def settle(conn: AsyncConnection, project: Project, task_id: TaskId, now: datetime) -> None:
    """Complete the task with the majority label of its answers."""
    votes = await store.task_votes(conn, task_id)
    await store.complete_task(conn, task_id, majority(project.labels, votes), now)
