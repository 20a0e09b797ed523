"""Routing benchmark: consensus accuracy of ``routing=uncertainty`` against ``depth_first`` at equal spend.

    .venv/bin/python bench/routing.py [--quick] [--seed N] [--seeds K] [--jobs J] [--json PATH]

What runs is the real server: for each seed and each routing mode, ``create_app``
serves on a loopback port over a fresh SQLite database (a copy of one migrated
file) with the in-process broker, rate limits off and its periodic jobs idle
(interval one hour), and everything below goes through its HTTP API. Runs go
``--jobs`` at a time (default 2), each in its own process.

* **Set-up** (``crowd.simulate.set_up``, as ``crowd simulate`` does it): a project
  with 4 labels, dynamic overlap ``--min-overlap``..``--max-overlap`` (2..6), reward
  5, gold (``max(30, tasks / 10)`` gold tasks; gold rate 0.1, 0.5 for a worker's
  first 10 answers; a worker is blocked once 5+ gold answers put them surely
  below 0.7, their answers leave consensus and their tasks ask again),
  ``--tasks`` real tasks (150) whose true labels, drawn from seeded Dirichlet
  priors, only the benchmark knows, and ``--workers`` workers (8) from
  ``crowd.simulate.draw_crowd``: 50% diligent (90-97% right per label), 20% noisy
  (60-80%), 15% biased (a third to a half of every other label drifts to one
  favourite), 15% spammers (uniform). Then ``PATCH`` sets ``routing``,
  ``confidence_target`` (``--confidence``, 0.95) and a ``budget`` of
  ``--answers-per-task`` (3.0) × tasks × reward. Gold answers are paid too, so
  they come out of the same budget. The server reserves the reward at every
  lease and grants none once the budget is spent: both modes buy the same
  number of answers, unless every task completes first (then ``paid`` shows it).
* **Crowd**: one worker at a time, in a seeded arrival order (uniform over the
  workers not blocked), ``GET /api/v1/work/next?wait=0``, then ``POST …/answer``
  with a label drawn from the worker's confusion row at the true label. The draw
  is keyed on (seed, worker, task): a worker who meets the same task in both
  modes gives the same answer (common random numbers: the modes differ in
  routing, not luck). ``draw_crowd``'s habits (abandoned leases, resent answers,
  think time) are left out: they test robustness, not routing, and would tie
  runs to wall time. A run ends when every worker still allowed has been
  refused a lease (204) since the last lease was granted: the budget is spent,
  or nothing is left that they may take.
* **Refits**: routing needs the server to know who is reliable
  (``reliability_low >= RELIABLE``, ``crowd/assignment/policy.py``), and only a
  full Dawid-Skene refit writes that. A server refits every project with new
  answers every ``CROWD_REFIT_INTERVAL_SECONDS`` (60 s); here the benchmark asks
  for the same refit (``POST /api/v1/projects/{id}/consensus``) every
  ``--refit-every`` answers (50, gold included), so refits fall at the same
  points in both modes whatever the machine's speed. A last refit, then
  ``GET …/results`` and ``GET …/spend``. A diligent worker needs some 20
  answers before its interval clears ``RELIABLE``: hence a small crowd by
  default (8 workers, ~55 answers each), where about a third of the answers
  come from workers the server calls reliable. With 16 workers it is a
  tenth, and ``uncertainty`` routing is mostly confident-first for everyone.

Reproducible: the seed fixes the truth, the crowd, the arrival order, every
answer and the server's own draws (``create_app(rng=...)``: whether a lease is
gold, and which gold). What differs between seeds is luck, which is why the
difference is reported per seed with its spread.

Scored against the truth, over the real (non-gold) tasks:

* ``accuracy``: completed tasks whose consensus label is right, over **all**
  tasks (a task the budget left open counts as wrong);
* ``acc_done``: the same over completed tasks only (``completed``: how many);
* ``best_guess``: every task's top posterior label, open tasks included (a task
  with no answer counts as wrong): what a buyer who reads posteriors gets.

Diagnostics: answers paid for (``paid``, real + gold, from the spend report) and
real ones; workers the last refit found reliable; the share of real answers
given by workers reliable at the time (whom ``uncertainty`` sends
uncertain-first); and of those, the share that went to a task nobody had
answered yet. Prints a table per mode and seed, the means, the difference
uncertainty − depth_first per seed with its mean and spread, a verdict (a mean
difference within two standard errors is "no difference"), then the same
figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import emit

from crowd import simulate
from crowd.api.keys import DATABASE
from crowd.app import create_app
from crowd.assignment.policy import RELIABLE
from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.migrate import upgrade
from crowd.identity import service as identity
from crowd.identity.tokens import Role

MODES = ("depth_first", "uncertainty")
LABELS = ("cat", "dog", "bird", "other")
REWARD = 5
IDLE = 3600.0
"""Interval of the server's own periodic jobs: never, within a run."""


@dataclass(frozen=True)
class Plan:
    tasks: int
    workers: int
    answers_per_task: float
    min_overlap: int
    max_overlap: int
    confidence_target: float
    refit_every: int
    seeds: tuple[int, ...]

    @property
    def budget_answers(self) -> int:
        return round(self.answers_per_task * self.tasks)


# --- the server ----------------------------------------------------------------------------------


def migrated_template(directory: Path) -> Path:
    """One migrated SQLite file; every run gets a copy."""
    path = directory / "template.db"

    async def migrate() -> None:
        db = create_database(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(migrate())
    return path


@dataclass(frozen=True)
class Served:
    url: str
    platform_key: str
    operator_key: str


@asynccontextmanager
async def serve(template: Path, directory: Path, seed: int) -> AsyncIterator[Served]:
    """The real app on a loopback port over a fresh copy of the database, with
    its keys; the engine's random draws (gold or not) seeded."""
    path = directory / "crowd.db"
    shutil.copy(template, path)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        sweep_interval_seconds=IDLE,
        refit_interval_seconds=IDLE,
        approve_interval_seconds=IDLE,
        webhook_interval_seconds=IDLE,
        worker_rate_limit=0,
        key_rate_limit=0,
    )
    runner = web.AppRunner(create_app(settings, rng=random.Random(seed)), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        db, clock = runner.app[DATABASE], SystemClock()
        _, platform_key = await identity.create_api_key(db, clock, organization="bench", role=Role.PLATFORM, name="p")
        _, operator_key = await identity.create_api_key(db, clock, organization="bench", role=Role.OPERATOR, name="o")
        yield Served(f"http://127.0.0.1:{port}", platform_key, operator_key)
    finally:
        await runner.cleanup()


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Crowd:
    """What the simulated crowd did in one run."""

    answers: int = 0
    gold_answers: int = 0
    refits: int = 0
    reliable: int = 0
    reliable_answers: int = 0
    """Real answers of workers the last refit found reliable (routed uncertain-first)."""
    reliable_ids: frozenset[str] = frozenset()
    reliable_fresh: int = 0
    """Of those, answers to a task nobody had answered before."""
    answered: Counter[str] = field(default_factory=Counter)
    """Real answers per task, as the crowd counts them."""
    blocked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    """Replies by request and HTTP status."""

    def accepted(self, worker_id: str, item: str) -> None:
        """Count an acknowledged answer: gold, or real (and by whom, on what)."""
        if item.startswith("g-"):
            self.gold_answers += 1
            return
        self.answers += 1
        if worker_id in self.reliable_ids:
            self.reliable_answers += 1
            self.reliable_fresh += self.answered[item] == 0
        self.answered[item] += 1


async def run_once(template: Path, plan: Plan, mode: str, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crowd-routing-") as directory:
        async with serve(template, Path(directory), seed) as served, aiohttp.ClientSession() as session:
            api = simulate.Api(session, served.url, asyncio.Event(), Counter())
            options = simulate.Options(
                url=served.url,
                platform_key=served.platform_key,
                operator_key=served.operator_key,
                workers=plan.workers,
                tasks=plan.tasks,
                seed=seed,
                labels=LABELS,
                min_overlap=plan.min_overlap,
                max_overlap=plan.max_overlap,
                reward=REWARD,
                lease_seconds=600,
            )
            setup = await simulate.set_up(api, options, np.random.default_rng(seed))
            budget = plan.budget_answers * REWARD
            patch = {"routing": mode, "budget": budget, "confidence_target": plan.confidence_target}
            await api.ok("PATCH", f"/api/v1/projects/{setup.project_id}", served.platform_key, patch)
            crowd = await drive(api, options, setup, plan, seed)
            report = await simulate.read_back(api, options, setup)
    return score(plan, mode, seed, setup, crowd, report) | {"seconds": round(time.perf_counter() - started, 1)}


async def drive(api: simulate.Api, options: simulate.Options, setup: simulate.Setup, plan: Plan, seed: int) -> Crowd:
    """Workers arrive one at a time, in a seeded order, until every one still
    allowed has been refused a lease since the last lease was granted."""
    arrivals = np.random.default_rng([seed, 1])
    crowd = Crowd()
    active, refused = list(range(len(setup.workers))), set[int]()
    path = f"/api/v1/work/next?project_id={setup.project_id}&wait=0"
    while waiting := [i for i in active if i not in refused]:
        index = waiting[int(arrivals.integers(len(waiting)))]
        persona, worker_id, token = setup.workers[index]
        lease = await api.call("GET", path, token)
        crowd.statuses[f"next {lease.status}"] += 1
        if lease.status == 403:  # blocked by gold
            active.remove(index)
            continue
        if lease.status != 200:
            refused.add(index)
            continue
        refused.clear()
        item = lease.body["data"]["item"]
        label = LABELS[answer_of(persona, setup.truth[item], seed, index, item)]
        body = {"label": label}
        reply = await api.call("POST", f"/api/v1/work/assignments/{lease.body['assignment_id']}/answer", token, body)
        crowd.statuses[f"answer {reply.status}"] += 1
        if reply.status != 200:
            continue
        crowd.accepted(worker_id, item)
        if (crowd.answers + crowd.gold_answers) % plan.refit_every == 0:
            await refit(api, options, setup, crowd)
    crowd.blocked = len(setup.workers) - len(active)
    return crowd


def answer_of(persona: simulate.Persona, truth: int, seed: int, worker: int, item: str) -> int:
    """The worker's label for this task: a draw from their confusion row at
    the truth, the same in every mode (keyed on seed, worker and task)."""
    draw = np.random.default_rng([seed, 2, worker, zlib.crc32(item.encode())]).random()
    row = np.cumsum(persona.confusion[truth])
    return int(min(np.searchsorted(row, draw * row[-1], side="right"), len(row) - 1))


async def refit(api: simulate.Api, options: simulate.Options, setup: simulate.Setup, crowd: Crowd) -> None:
    """What the background refitter does; then how many workers it found reliable."""
    await api.ok("POST", f"/api/v1/projects/{setup.project_id}/consensus", options.operator_key)
    crowd.refits += 1
    path = f"/api/v1/projects/{setup.project_id}/workers?limit=1000"
    standings = await simulate.pages(api, path, options.operator_key)
    crowd.reliable_ids = frozenset(w["worker_id"] for w in standings if (w["reliability_low"] or 0.0) >= RELIABLE)
    crowd.reliable = len(crowd.reliable_ids)


def score(
    plan: Plan, mode: str, seed: int, setup: simulate.Setup, crowd: Crowd, report: simulate.ServerReport
) -> dict[str, Any]:
    real = {r["external_id"]: r for r in report.results if r["external_id"] in setup.truth}
    truth = {t: LABELS[y] for t, y in setup.truth.items() if not t.startswith("g-")}
    done = [t for t in truth if real.get(t, {}).get("status") == "completed"]
    right = sum(real[t]["label"] == truth[t] for t in done)
    guessed = sum(best_guess(real.get(t)) == truth[t] for t in truth)
    paid = (report.spend.get("committed") or 0) // REWARD
    return {
        "mode": mode,
        "seed": seed,
        "paid_answers": paid,
        "answers": crowd.answers,
        "gold_answers": crowd.gold_answers,
        "budget_answers": plan.budget_answers,
        "tasks": len(truth),
        "completed": len(done),
        "accuracy": round(right / len(truth), 4),
        "acc_done": round(right / len(done), 4) if done else None,
        "best_guess": round(guessed / len(truth), 4),
        "reliable": crowd.reliable,
        "reliable_share": _share(crowd.reliable_answers, crowd.answers),
        "reliable_fresh": _share(crowd.reliable_fresh, crowd.reliable_answers),
        "blocked": crowd.blocked,
        "refits": crowd.refits,
        "statuses": dict(sorted(crowd.statuses.items())),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def best_guess(result: dict[str, Any] | None) -> str | None:
    posterior = (result or {}).get("posterior")
    return max(posterior, key=posterior.get) if posterior else None


# --- the report ----------------------------------------------------------------------------------

#: Per run, in the table: JSON key -> column heading.
COLUMNS = {
    "paid_answers": "paid",
    "answers": "real",
    "completed": "completed",
    "accuracy": "accuracy",
    "acc_done": "acc_done",
    "best_guess": "best_guess",
    "reliable": "reliable",
    "reliable_share": "by_reliable",
    "reliable_fresh": "rel_fresh",
    "blocked": "blocked",
}
LEGEND = """paid: answers paid for (real + gold); real: answers to real tasks; completed: of the real tasks;
accuracy: right consensus labels / all tasks (open = wrong); acc_done: / completed tasks; best_guess: top
posterior of every task (unanswered = wrong); reliable: workers at reliability_low >= RELIABLE after the last
refit; by_reliable: share of real answers given by workers reliable at the time; rel_fresh: share of those
that went to a task with no answer yet; blocked: workers gold blocked"""
SHARES = frozenset({"accuracy", "acc_done", "best_guess", "reliable_share", "reliable_fresh"})
DIFFS = ("completed", "accuracy", "acc_done", "best_guess")


def summarise(plan: Plan, runs: list[dict[str, Any]]) -> dict[str, Any]:
    by = {(r["mode"], r["seed"]): r for r in runs}
    means = {mode: {key: mean([by[mode, s][key] for s in plan.seeds]) for key in COLUMNS} for mode in MODES}
    diffs = [
        {"seed": s} | {c: _minus(by["uncertainty", s][c], by["depth_first", s][c]) for c in DIFFS} for s in plan.seeds
    ]
    spread = {c: _spread([d[c] for d in diffs]) for c in DIFFS}
    return {"plan": asdict(plan), "machine": machine(), "runs": runs, "means": means, "diffs": diffs, "diff": spread}


def mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _spread(values: list[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    sd = statistics.stdev(present) if len(present) > 1 else None
    return {
        "mean": mean(present),
        "sd": None if sd is None else round(sd, 4),
        "better": sum(v > 0 for v in present),
        "worse": sum(v < 0 for v in present),
        "seeds": len(present),
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}


def print_report(report: dict[str, Any]) -> None:
    plan = report["plan"]
    print(
        f"{plan['tasks']} tasks + gold, {plan['workers']} workers, labels {len(LABELS)}, overlap "
        f"{plan['min_overlap']}..{plan['max_overlap']}, confidence {plan['confidence_target']}, budget "
        f"{plan['answers_per_task']} answers per task ({round(plan['answers_per_task'] * plan['tasks'])} answers, "
        f"gold included), refit every {plan['refit_every']} answers"
    )
    header = f"{'routing':<12}{'seed':>5}" + "".join(f"{c:>{_width(c)}}" for c in COLUMNS.values())
    print("\n" + header + f"{'seconds':>8}")
    for r in report["runs"]:
        cells = "".join(_cell(r[key], _width(c), share=key in SHARES) for key, c in COLUMNS.items())
        print(f"{r['mode']:<12}{r['seed']:>5}{cells}{r['seconds']:>8.1f}")
    for mode in MODES:
        cells = "".join(_cell(report["means"][mode][key], _width(c), share=key in SHARES) for key, c in COLUMNS.items())
        print(f"{mode:<12}{'mean':>5}{cells}")
    print(LEGEND)
    print(f"\n{'uncertainty − depth_first':<26}" + "".join(f"{c:>12}" for c in DIFFS))
    rows = [(f"  seed {d['seed']}", d, True) for d in report["diffs"]]
    rows.append(("  mean", {c: report["diff"][c]["mean"] for c in DIFFS}, True))
    rows.append(("  sd over seeds", {c: report["diff"][c]["sd"] for c in DIFFS}, False))
    for name, row, signed in rows:
        print(f"{name:<26}" + "".join(_cell(row[c], 12, signed=signed, share=c in SHARES) for c in DIFFS))
    print("\nverdict, uncertainty against depth_first at equal spend:")
    for name in ("accuracy", "best_guess"):
        print("  " + verdict(name, report["diff"][name]))


def verdict(name: str, diff: dict[str, Any]) -> str:
    """Whether ``uncertainty`` moved ``name``: a mean difference beyond two
    standard errors over the seeds, or no difference."""
    m, sd, n = diff["mean"], diff["sd"], diff["seeds"]
    if m is None or sd is None:
        return f"{name}: too few seeds to tell"
    noise = 2 * sd / n**0.5
    if abs(m) <= noise:
        call = "no difference beyond seed noise"
    else:
        call = "uncertainty routing HELPS" if m > 0 else "uncertainty routing HURTS"
    return (
        f"{name}: {call} ({m:+.4f} ± {noise:.4f} at 2 standard errors;"
        f" better on {diff['better']} of {n} seeds, worse on {diff['worse']})"
    )


def _width(heading: str) -> int:
    return max(len(heading), 8) + 2


def _cell(value: Any, width: int, signed: bool = False, share: bool = True) -> str:
    """A share to four decimals; a count as it is, a mean of counts to one decimal."""
    if value is None:
        return f"{'-':>{width}}"
    sign = "+" if signed else ""
    if share:
        return f"{value:>{sign}{width}.4f}"
    decimals = 0 if isinstance(value, int) or value.is_integer() else 1
    return f"{value:>{sign}{width}.{decimals}f}"


# --- command line --------------------------------------------------------------------------------


def plan_of(args: argparse.Namespace) -> Plan:
    seeds = tuple(range(args.seed, args.seed + (args.seeds or (2 if args.quick else 10))))
    return Plan(
        tasks=args.tasks or (100 if args.quick else 150),
        workers=args.workers or (6 if args.quick else 8),
        answers_per_task=args.answers_per_task,
        min_overlap=args.min_overlap,
        max_overlap=args.max_overlap,
        confidence_target=args.confidence,
        refit_every=args.refit_every,
        seeds=seeds,
    )


def run_in_process(template: Path, plan: Plan, mode: str, seed: int) -> dict[str, Any]:
    return asyncio.run(run_once(template, plan, mode, seed))


async def bench(plan: Plan, jobs: int) -> dict[str, Any]:
    """Every (seed, mode) run in its own process, ``jobs`` at a time: the runs
    share nothing, and each is sequential, so the order they finish in does
    not change their figures."""
    loop = asyncio.get_running_loop()
    with (
        tempfile.TemporaryDirectory(prefix="crowd-routing-template-") as directory,
        ProcessPoolExecutor(jobs) as pool,
    ):
        template = await asyncio.to_thread(migrated_template, Path(directory))

        async def one(mode: str, seed: int) -> dict[str, Any]:
            r = await loop.run_in_executor(pool, run_in_process, template, plan, mode, seed)
            print(f"... seed {seed} {mode}: accuracy {r['accuracy']} ({r['seconds']} s)", file=sys.stderr, flush=True)
            return r

        runs = await asyncio.gather(*(one(mode, seed) for seed in plan.seeds for mode in MODES))
    return summarise(plan, list(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 tasks, 6 workers, 2 seeds")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--seeds", type=int, help="how many seeds (default 10; 2 with --quick)")
    parser.add_argument("--tasks", type=int, help="real tasks (default 150; 100 with --quick)")
    parser.add_argument("--workers", type=int, help="simulated workers (default 8; 6 with --quick)")
    parser.add_argument("--answers-per-task", type=float, default=3.0, help="budget, gold answers included")
    parser.add_argument("--min-overlap", type=int, default=2)
    parser.add_argument("--max-overlap", type=int, default=6)
    parser.add_argument("--confidence", type=float, default=0.95, help="the project's confidence_target")
    parser.add_argument("--refit-every", type=int, default=50, help="answers between consensus refits")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs at once (default 2)")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(bench(plan_of(args), args.jobs))
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    emit(report, args.json)


if __name__ == "__main__":
    main()
