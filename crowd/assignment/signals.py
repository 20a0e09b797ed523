"""Work-available wake-ups through the broker.

Long-polling workers listen on a project's channel (or on the channel for
any project); whatever frees or adds work publishes on both. A lost wake-up
costs only latency: waiters time out and claim again.
"""

from __future__ import annotations

import logging

from crowd.broker import Broker
from crowd.errors import BrokerUnavailable
from crowd.ids import ProjectId

log = logging.getLogger(__name__)

ANY_PROJECT = "work"


def project_channel(project_id: ProjectId) -> str:
    return f"work:{project_id}"


async def announce_work(broker: Broker, project_id: ProjectId) -> None:
    try:
        await broker.publish(project_channel(project_id))
        await broker.publish(ANY_PROJECT)
    except BrokerUnavailable:
        log.warning("broker unavailable: work announcement dropped", extra={"project_id": project_id})
