"""Real ``crowd serve`` processes for multi-process and fault tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from crowd.config import Settings


def _new_log() -> Path:
    handle, name = tempfile.mkstemp(prefix="crowd-", suffix=".log")
    os.close(handle)
    return Path(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: _new_log())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    async def start(self, timeout: float = 30) -> None:
        self.spawn()
        await self.wait_ready(timeout)

    def spawn(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "CROWD_PORT": str(self.port),
            "CROWD_HOST": "127.0.0.1",
            "CROWD_METRICS_PORT": str(self.metrics_port),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crowd", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

    async def wait_ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log()[-4000:]}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"server on port {self.port} not ready after {timeout}s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        """What the process wrote to stderr (JSON log lines)."""
        return self.log_path.read_text(errors="replace")

    def errors(self) -> list[str]:
        return [line for line in self.log().splitlines() if '"level": "error"' in line]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``crowd serve`` process on ``settings``' database
    and broker, without rate limits, logging warnings and worse."""
    env = {
        "CROWD_DATABASE_URL": settings.database_url,
        "CROWD_REDIS_URL": settings.redis_url or "",
        "CROWD_REDIS_PREFIX": settings.redis_prefix,
        "CROWD_WORKER_RATE_LIMIT": "0",
        "CROWD_KEY_RATE_LIMIT": "0",
        "CROWD_AUTH_FAILURE_LIMIT": "0",
        "CROWD_LOG_LEVEL": "WARNING",
    }
    return {**env, **extra}


@asynccontextmanager
async def running(env: Mapping[str, str], count: int) -> AsyncIterator[list[ServerProcess]]:
    """``count`` server processes sharing ``env``, stopped (and their logs removed) after."""
    procs = [ServerProcess(env) for _ in range(count)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield procs
    finally:
        for proc in procs:
            proc.stop()
            for line in proc.errors():  # shown by pytest when the test fails
                print(f"server {proc.port}: {line}")
            proc.log_path.unlink(missing_ok=True)
