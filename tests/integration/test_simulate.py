"""``crowd simulate`` against the real app on SQLite: the simulated crowd
finishes its batch, consensus beats the spammers, gold blocks them, and
every answer the server acknowledged is stored exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from crowd.clock import ManualClock
from crowd.simulate import EVENTS, PROFILES, Options, draw_crowd, simulate
from tests.support.crowd import Crowd

SUMMARY_FIELDS = {
    "completed",
    "ended_by",
    "duration_seconds",
    "tasks",
    "tasks_completed",
    "gold_tasks",
    "answers",
    "gold_answers",
    "answers_per_second",
    "latency_ms",
    "accuracy",
    "spammers",
    "spammers_blocked",
    "blocked",
    "workers_stopped",
    "spend",
    "events",
    "profiles",
    "statuses",
    "project_id",
    "batch_ids",
    "seed",
    "workers",
}


class WallClock(ManualClock):
    """Real time: abandoned leases must run out while the crowd works."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def clock() -> ManualClock:
    return WallClock()


def server_url(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_a_simulated_crowd_finishes_its_batch(client: TestClient[Any, Any], crowd: Crowd) -> None:
    options = Options(
        url=server_url(client),
        platform_key=crowd.platform,
        operator_key=crowd.operator,
        workers=12,
        tasks=40,
        seed=7,
        max_overlap=4,
        lease_seconds=2,  # abandoned leases run out while the crowd works
        think=0.3,  # careful workers think, spammers click: they meet gold fast
        wait=1,
        duration=60,
    )
    outcome = await simulate(options)
    summary = outcome.summary

    assert summary["completed"], summary
    assert summary["tasks_completed"] == 40
    accuracy = summary["accuracy"]
    assert accuracy["tasks_scored"] == 40
    assert accuracy["consensus"] >= 0.85 > accuracy["spammer_baseline"] + 0.4
    assert summary["spammers"] >= 1
    assert summary["spammers_blocked"] == summary["spammers"]
    assert summary["profiles"]["diligent"]["blocked"] == 0
    events = summary["events"]
    assert events["resend_mismatches"] == events["unexpected"] == events["network_errors"] == 0
    assert events["resent"] > 0
    assert events["abandoned"] > 0
    assert not [status for status in summary["statuses"] if status.startswith("5")]
    assert summary["spend"]["posted"] == 5 * (summary["answers"] + summary["gold_answers"])

    stored = await crowd.call("GET", f"/api/v1/projects/{summary['project_id']}/answers?format=jsonl", crowd.platform)
    rows = [json.loads(line) for line in stored.text.splitlines()]
    times = Counter((row["task"], row["worker"]) for row in rows)
    labels = {(row["task"], row["worker"]): row["label"] for row in rows}
    acknowledged = outcome.tally.acknowledged
    assert len(acknowledged) == summary["answers"] > 0
    assert {key: times[key] for key in acknowledged} == dict.fromkeys(acknowledged, 1)
    assert {key: labels[key] for key in acknowledged} == acknowledged


async def test_the_command_prints_its_summary_as_json(
    client: TestClient[Any, Any], crowd: Crowd, tmp_path: Path
) -> None:
    out = tmp_path / "summary.json"
    command = (
        "import argparse, sys; from crowd import simulate; parser = argparse.ArgumentParser(); "
        "simulate.add_arguments(parser); sys.exit(simulate.run(parser.parse_args()))"
    )
    args = ["--url", server_url(client), "--platform-key", crowd.platform, "--operator-key", crowd.operator]
    args += ["--workers", "6", "--tasks", "8", "--overlap", "2", "--max-overlap", "3", "--seed", "3"]
    args += ["--lease-seconds", "2", "--wait", "1", "--duration", "30", "--json", str(out)]
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", command, *args, stdout=asyncio.subprocess.PIPE)
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    summary = json.loads(stdout.decode().splitlines()[-1])
    assert json.loads(out.read_text()) == summary
    assert set(summary) == SUMMARY_FIELDS
    assert summary["completed"]
    assert summary["tasks_completed"] == 8
    assert set(summary["latency_ms"]) == {"next", "answer"}
    assert set(summary["latency_ms"]["next"]) == {"count", "p50", "p90", "p99"}
    assert set(summary["accuracy"]) == {"consensus", "answers", "spammer_baseline", "tasks_scored"}
    assert set(summary["events"]) == set(EVENTS)
    assert set(summary["profiles"]) == set(PROFILES)
    assert set(summary["spend"]) == {"committed", "posted", "pending", "currency"}
    assert "batch completed" in stdout.decode()


def test_the_crowd_is_drawn_from_the_seed() -> None:
    crowd = draw_crowd(np.random.default_rng(5), 20, 4)
    again = draw_crowd(np.random.default_rng(5), 20, 4)
    assert [(p.name, p.confusion.tolist()) for p in crowd] == [(p.name, p.confusion.tolist()) for p in again]
    assert Counter(p.profile for p in crowd) == {"diligent": 10, "noisy": 4, "biased": 3, "spammer": 3}
    for persona in crowd:
        assert np.allclose(persona.confusion.sum(axis=1), 1)
        diagonal = np.diag(persona.confusion)
        if persona.profile == "spammer":
            assert np.allclose(persona.confusion, 0.25)
        elif persona.profile == "diligent":
            assert diagonal.min() >= 0.9
    assert any(p.abandon_rate for p in crowd)
    assert any(p.resend_rate for p in crowd)
    assert not any(p.abandon_rate for p in crowd if p.profile == "spammer")
