"""The one settings object, read from the environment (``CROWD_`` prefix) by
the CLI and passed down. Library modules never read ``os.environ``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crowd.addresses import trusted_networks

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./crowd.db"

EventLoop = Literal["auto", "uvloop", "asyncio"]


class Settings(BaseSettings):
    # An empty variable (CROWD_REDIS_URL= in a compose file) means "unset".
    model_config = SettingsConfigDict(env_prefix="CROWD_", extra="ignore", env_ignore_empty=True)

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "crowd:"
    redis_wait_seconds: float = Field(10.0, ge=0)
    """How long a starting process asks again for a Redis that does not answer (one still
    starting, or restarting) before it gives up. A running process rides out outages by itself."""
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    """Where ``/metrics`` listens: a listener of its own, apart from the API's port, so the figures
    (which workers could read side channels from) never reach the public edge. Set it to an address
    only Prometheus reaches (``0.0.0.0`` inside a container network that publishes no such port)."""
    metrics_port: int = Field(9464, ge=0, le=65535)
    """The metrics listener's port; 0: no metrics listener."""
    log_level: str = "INFO"
    event_loop: EventLoop = "auto"
    """What ``crowd serve`` runs on: ``uvloop``, ``asyncio``, or ``auto`` (uvloop where it is
    installed). uvloop cuts a server's CPU per request: ``crowd/eventloop.py``."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)

    db_pool_size: int = Field(10, ge=1)
    """Connections a process keeps, and all it opens. PostgreSQL does more work per request with
    more transactions open at once (rows locked longer, claims stepping over more of them): in
    bench/assignment.py, two processes of 20 (+10 overflow) each cost it 3.9-4.1 ms of CPU per
    cycle, two of 10 cost 2.9-3.2 ms, and 8 or 12 each gave 7-14% more cycles per second side by
    side; two of 5 (10 in all on 2 cores) 6% more again than two of 10. What it costs: under
    saturation requests queue here, in order, not in the database. Size it to the database's
    cores, not to the workers: about 5 connections per core across all processes
    (docs/architecture.md)."""
    db_max_overflow: int = Field(0, ge=0)
    """Connections opened beyond the pool when it runs dry, and closed again as they come back."""
    db_timeout_seconds: float = Field(5.0, gt=0)
    """How long a request waits for a pooled connection or a statement before 503."""

    sweep_interval_seconds: float = Field(5.0, gt=0)
    """How often the leader sweeps expired leases (claims also release a project's overdue leases, at
    most once a second per process)."""
    refit_interval_seconds: float = Field(60.0, gt=0)
    """How often each process looks for projects with new answers to refit."""
    approve_interval_seconds: float = Field(60.0, gt=0)
    """How often the leader approves rewards whose review period is over."""
    max_wait_seconds: int = Field(30, ge=0, le=300)
    """Upper bound of ``GET /api/v1/work/next?wait=N``."""
    shutdown_timeout_seconds: float = Field(30.0, ge=0)
    """On SIGTERM, how long requests in flight may take to finish (long-polls
    end at once) before their connections are closed."""

    auth_cache_seconds: float = Field(5.0, ge=0)
    """How long a process trusts a key or token it has looked up (0: not at
    all). A revoked key or a blocked worker is refused within this time."""
    worker_rate_limit: int = Field(10, ge=0)
    """Requests per second per worker token; 0 disables."""
    key_rate_limit: int = Field(200, ge=0)
    """Requests per second per API key; 0 disables."""
    auth_failure_limit: int = Field(20, ge=0)
    """Failed authentications (a missing, unknown or revoked key or token) a client address may
    make per ``auth_failure_window_seconds``; past it, every request from that address that is
    not already known to the process is answered 429 (nothing is looked up) until the window
    ends. 0 disables."""
    auth_failure_window_seconds: float = Field(60.0, gt=0)
    trusted_proxies: str = ""
    """Addresses or networks of the proxies in front (``10.0.0.5,172.16.0.0/12``): a request from
    one is counted under the right-most X-Forwarded-For address that is not a proxy. Unset, the
    header is ignored (anyone may send it) and a request counts under its peer's address."""

    webhooks_allow_private: bool = False
    """Allow webhook URLs on loopback and private networks (tests, closed networks)."""
    webhook_interval_seconds: float = Field(1.0, gt=0)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    secret_key: str | None = None
    """Base64 of 32 random bytes: seals webhook secrets at rest. Unset on
    SQLite, a key file beside the database is made; unset on PostgreSQL,
    webhooks cannot be created."""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        trusted_networks(value)  # a typo fails at start, not silently
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
