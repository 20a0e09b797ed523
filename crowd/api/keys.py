"""Typed application keys: every resource the handlers reach, in one place."""

from __future__ import annotations

from aiohttp import web

from crowd.assignment.service import Engine
from crowd.broker import Broker
from crowd.clock import Clock
from crowd.config import Settings
from crowd.db.engine import Database
from crowd.webhooks.ports import Resolve
from crowd.webhooks.sealing import Sealer

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
DATABASE = web.AppKey("database", Database)
BROKER = web.AppKey("broker", Broker)
ENGINE = web.AppKey("engine", Engine)
SEALER = web.AppKey("sealer", Sealer)
RESOLVER: web.AppKey[Resolve] = web.AppKey("resolver")
"""How webhook hosts are resolved (the system's resolver; tests inject their own)."""
