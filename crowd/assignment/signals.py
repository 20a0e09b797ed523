"""Work-available wake-ups through the broker.

Long-polling workers listen on a project's channel, or, when they take work
from any project, on their organization's channel; whatever frees or adds
work in a project publishes on both of its channels. A worker never listens
on another organization's channel, so another organization's work never
wakes it. A lost wake-up costs only latency: waiters time out and claim again.
"""

from __future__ import annotations

import logging

from crowd.broker import Broker
from crowd.errors import BrokerUnavailable
from crowd.ids import OrganizationId, ProjectId

log = logging.getLogger(__name__)


def project_channel(project_id: ProjectId) -> str:
    return f"work:{project_id}"


def organization_channel(organization_id: OrganizationId) -> str:
    """Work in any project of the organization."""
    return f"work:org:{organization_id}"


async def announce_work(broker: Broker, organization_id: OrganizationId, project_id: ProjectId) -> None:
    try:
        await broker.publish(project_channel(project_id))
        await broker.publish(organization_channel(organization_id))
    except BrokerUnavailable:
        log.warning("broker unavailable: work announcement dropped", extra={"project_id": project_id})
