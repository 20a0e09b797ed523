"""The command line: migrate, keys, workers, serve, demo, and the README's
walk-through run as written against ``crowd demo``."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def crowd(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "crowd", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def crowd_failing(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "crowd", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done.stdout
    return done


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"CROWD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "CROWD_LOG_LEVEL": "WARNING"}


async def test_keys_and_workers_made_on_the_command_line_work_over_http(sqlite_env: dict[str, str]) -> None:
    assert "latest schema" in crowd("migrate", env=sqlite_env)
    platform = crowd("keys", "create", "--role", "platform", "--name", "p", env=sqlite_env).splitlines()[-1]
    operator = crowd("keys", "create", "--role", "operator", "--name", "o", env=sqlite_env).splitlines()[-1]
    token = crowd("workers", "create", "--name", "ann", env=sqlite_env).splitlines()[-1]
    assert platform.startswith("crowd_pk_")
    assert operator.startswith("crowd_ok_")
    assert token.startswith("crowd_wt_")
    server = ServerProcess({**sqlite_env, "CROWD_LOG_LEVEL": "INFO"})
    try:
        await server.start()
        async with aiohttp.ClientSession(server.url) as session:
            body = {"name": "P", "labels": ["a", "b"]}
            async with session.post(
                "/api/v1/projects", json=body, headers={"Authorization": f"Bearer {platform}"}
            ) as r:
                assert r.status == 201
            async with session.get("/api/v1/work/me", headers={"Authorization": f"Bearer {token}"}) as r:
                assert (await r.json())["name"] == "ann"
            async with session.post(
                "/api/v1/workers", json={"name": "ben"}, headers={"Authorization": f"Bearer {operator}"}
            ) as r:
                assert r.status == 201
            # the metrics have a listener of their own, never the API's port
            async with session.get("/metrics") as r:
                assert r.status == 404
            async with session.get(server.metrics_url) as r:
                assert r.status == 200
                assert "crowd_leases_granted_total" in await r.text()
        assert '"event_loop": "uvloop"' in server.log()  # the default, where it is installed
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


async def test_keys_and_workers_are_managed_on_the_command_line(sqlite_env: dict[str, str]) -> None:
    def last(*args: str) -> str:
        return crowd(*args, env=sqlite_env).splitlines()[-1]

    crowd("migrate", env=sqlite_env)
    platform = last("keys", "create", "--role", "platform", "--name", "p", "--organization", "acme")
    operator = last("keys", "create", "--role", "operator", "--name", "o", "--organization", "acme")
    spare = last("keys", "create", "--role", "platform", "--name", "spare", "--organization", "acme")
    spy = last("workers", "create", "--name", "spy", "--organization", "evil")  # evil: created on first use
    made = crowd("workers", "create", "--name", "ann", "--organization", "acme", env=sqlite_env).splitlines()
    ann_id, ann = re.findall(r"wrk_\w+", made[0])[0], made[-1]
    assert "for organization 'acme'" in made[0]

    listed = crowd("keys", "list", env=sqlite_env).splitlines()
    assert listed[0].split("\t") == ["id", "role", "name", "organization", "created", "revoked"]
    rows = {line.split("\t")[2]: line.split("\t") for line in listed[1:]}
    assert set(rows) == {"p", "o", "spare"}
    assert {row[3] for row in rows.values()} == {"acme"}
    assert all(row[5] == "-" for row in rows.values())
    assert all(secret not in "\n".join(listed) for secret in (platform, operator, spare))
    assert "no organization 'nope'" in crowd("keys", "list", "--organization", "nope", env=sqlite_env)
    assert "revoked platform key" in crowd("keys", "revoke", rows["spare"][0], env=sqlite_env)
    assert crowd("keys", "list", "--organization", "acme", env=sqlite_env).count("\t-") == 2  # spare is revoked
    assert "0 live lease(s) released" in crowd("workers", "deactivate", ann_id, env=sqlite_env)
    missing = crowd_failing("workers", "deactivate", "wrk_missing", env=sqlite_env)
    assert (missing.returncode, missing.stderr.strip()) == (1, "no worker wrk_missing")

    server = ServerProcess({**sqlite_env, "CROWD_LOG_LEVEL": "INFO"})
    try:
        await server.start()
        async with aiohttp.ClientSession(server.url) as session:

            async def status(method: str, path: str, secret: str, body: object = None) -> tuple[int, object]:
                headers = {"Authorization": f"Bearer {secret}"}
                async with session.request(method, path, json=body, headers=headers) as r:
                    return r.status, await r.json() if r.content_type.endswith("json") else None

            assert (await status("GET", "/api/v1/projects", spare))[0] == 401
            assert (await status("GET", "/api/v1/work/me", ann))[0] == 401
            assert (await status("POST", "/api/v1/projects", platform, {"name": "P", "labels": ["a", "b"]}))[0] == 201
            assert (await status("GET", "/api/v1/work/projects", spy))[1] == {"items": [], "next_cursor": None}
            workers = (await status("GET", "/api/v1/workers", operator))[1]
            assert isinstance(workers, dict)
            assert [(w["name"], w["active"]) for w in workers["items"]] == [("ann", False)]
            assert "reactivated worker" in crowd("workers", "reactivate", ann_id, env=sqlite_env)
            assert (await status("GET", "/api/v1/work/me", ann))[0] == 200  # a refusal is never cached
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_help_lists_the_commands() -> None:
    out = crowd("--help", env={})
    for command in ("serve", "demo", "migrate", "keys", "workers", "aggregate"):
        assert command in out


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``crowd demo`` on a free port; the variables it tells you to export."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crowd", "demo", "--port", str(port), "--database", str(tmp_path / "demo.db")],
        cwd=tmp_path,
        env={**os.environ, "CROWD_METRICS_PORT": str(free_port())},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    exports: dict[str, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if match := re.match(r"export (\w+)=(\S+)", line):
                exports[match[1]] = match[2]
            if "WORKER2_TOKEN" in exports:
                break
        no_log = tmp_path / "demo.log"  # its stderr goes nowhere; no temporary log to leave behind
        no_log.touch()
        asyncio.run(ServerProcess({}, port=port, process=process, log_path=no_log).wait_ready(30))
        yield exports
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the walk-through uses curl and jq")
def test_the_readme_walkthrough_works_as_written(demo: dict[str, str]) -> None:
    assert set(demo) >= {"CROWD_URL", "PLATFORM_KEY", "OPERATOR_KEY", "WORKER_TOKEN", "WORKER2_TOKEN", "PROJECT"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        env={**os.environ, **demo},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count('"external_id":"reviews-1"') == 2  # the batch, replayed
    assert '"label": "negative"' in out
    assert '"status": "completed"' in out
    assert "task,worker,label,created_at" in out
    assert '"type": "forbidden"' in out
