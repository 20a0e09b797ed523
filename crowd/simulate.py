"""``crowd simulate``: a simulated crowd against a running server, through its HTTP API only.

    crowd simulate --url URL --platform-key KEY --operator-key KEY --workers N --tasks M
                   [--duration S] [--seed X] [--json PATH]

Against ``crowd demo``: paste its ``export`` lines, then
``crowd simulate --url $CROWD_URL --platform-key $PLATFORM_KEY --operator-key $OPERATOR_KEY
--workers 20 --tasks 200`` (the demo keeps its rate limits: 429s are waited out).

Creates a project (``--labels``, overlap ``--overlap``..``--max-overlap``,
``--reward``, ``--gold-rate``, ``--lease-seconds``; new workers see gold half
the time for their first 10 answers; gold blocks a worker whose accuracy is
surely below ``--min-accuracy``; a blocked worker's answers leave consensus),
uploads ``--gold`` gold tasks and ``M`` tasks whose true labels only the
simulator knows, creates ``N`` workers (operator key) and runs them at once
until every task is completed, ``--duration`` seconds pass, or the run stalls
(no answer accepted for a long while: nobody left who may take the open
tasks). Each worker has a confusion matrix drawn from a seeded
``numpy.random.Generator``: *diligent* (90-97% right), *noisy* (60-80%),
*biased* (a third to a half of every other label drifts to one favourite) or
*spammer* (uniform at random, and fast: ``--think`` is the mean seconds the
others spend on a task). Some workers abandon leases (they never answer, and
come back when the lease ran out); some resend answers (the same request
again after the reply, or twice at once). A worker asks for work with
``wait=0``; after a 204 it long-polls (``--wait``).

Replies: 403 ``worker-blocked`` stops that worker; 409 ``lease-expired`` drops
the lease; 429 waits ``Retry-After``; 503 and connection errors retry with
exponential backoff. After the run: a consensus refit, then the results
against the simulated truth, the spend, and who got blocked.

Output: a live progress line on stderr (only when it is a terminal), a report
on stdout, then the summary as JSON on stdout's last line (and in ``--json``):

- ``completed`` (bool), ``ended_by`` (``completed``, ``duration``, ``stalled``,
  ``interrupted``), ``duration_seconds``, ``tasks``, ``tasks_completed``, ``gold_tasks``
- ``answers`` (real answers acknowledged with a 200), ``gold_answers``, ``answers_per_second``
- ``latency_ms``: ``next`` and ``answer``, each ``{"count", "p50", "p90", "p99"}`` over
  HTTP requests that got a reply (long-polls after a 204 are not counted in ``next``)
- ``accuracy``: ``consensus`` (result labels against the truth), ``answers`` (raw
  answers against the truth), ``spammer_baseline`` (1 / labels), ``tasks_scored``
- ``spammers``, ``spammers_blocked`` and ``blocked`` (all workers), from the project's
  worker list; ``workers_stopped`` (workers that got a 403)
- ``spend``: the server's ``committed``, ``posted``, ``pending``, ``currency``
- ``events``: ``abandoned``, ``resent``, ``resend_mismatches`` (a resend that got a
  different reply: a server bug), ``late_rejected``, ``rate_limited``,
  ``unavailable``, ``network_errors``, ``unexpected`` (any other status)
- ``profiles``: per profile ``workers``, ``answers``, ``accuracy``, ``gold_answers``, ``blocked``
- ``statuses``: how many replies of each HTTP status the workers got
- ``project_id``, ``batch_ids``, ``seed``, ``workers``

Exit status 0 after a run (completed or not), 1 if the server refused the set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_BATCH = 10_000
PROFILES = ("diligent", "noisy", "biased", "spammer")
PROFILE_SHARES = (0.5, 0.2, 0.15, 0.15)
PACE = {"diligent": (1.0, 1.5), "noisy": (0.5, 1.0), "biased": (0.8, 1.2), "spammer": (0.05, 0.15)}
ABANDONER_SHARE, RESENDER_SHARE = 0.1, 0.2
RETRIES = 8
BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 0.05, 2.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Options:
    url: str
    platform_key: str
    operator_key: str
    workers: int
    tasks: int
    duration: float | None = None
    seed: int = 0
    labels: tuple[str, ...] = ("cat", "dog", "bird", "other")
    min_overlap: int = 3
    max_overlap: int = 5
    gold_tasks: int | None = None
    gold_rate: float = 0.1
    min_accuracy: float = 0.7
    lease_seconds: int = 30
    reward: int = 5
    think: float = 0.0
    wait: int = 5
    progress: TextIO | None = None

    @property
    def stall_seconds(self) -> float:
        """No answer accepted and no task completed for this long ends the run."""
        return max(10.0, 2.0 * self.lease_seconds + 2.0 * self.wait, 10.0 * self.think)

    @property
    def gold_count(self) -> int:
        return self.gold_tasks if self.gold_tasks is not None else max(30, self.tasks // 10)


@dataclass(frozen=True)
class Persona:
    """A simulated worker: profile, confusion matrix (rows: truth) and habits."""

    name: str
    profile: str
    confusion: FloatArray
    pace: float
    """Think time as a multiple of ``--think``: spammers hardly read the task."""
    abandon_rate: float
    resend_rate: float


def draw_crowd(rng: np.random.Generator, n: int, n_labels: int) -> list[Persona]:
    """``n`` personas in random order: profiles in fixed shares (at least one
    spammer from 4 workers up); resenders drawn across profiles, abandoners
    among the others (at least one of each from 5 workers up)."""
    counts = [int(share * n) for share in PROFILE_SHARES]
    if n >= 4:
        counts[3] = max(counts[3], 1)
    counts[0] += n - sum(counts)
    profiles = rng.permutation(np.repeat(np.arange(len(PROFILES)), counts)).tolist()
    careless = [i for i, p in enumerate(profiles) if PROFILES[p] != "spammer"]  # spammers never dawdle
    abandoners = set(rng.choice(careless, _at_least_one(n, ABANDONER_SHARE), replace=False).tolist())
    resenders = set(rng.choice(n, _at_least_one(n, RESENDER_SHARE), replace=False).tolist())
    crowd = []
    for i, p in enumerate(profiles):
        profile = PROFILES[p]
        crowd.append(
            Persona(
                name=f"sim-{i:04d}-{profile}",
                profile=profile,
                confusion=confusion_matrix(rng, profile, n_labels),
                pace=float(rng.uniform(*PACE[profile])),
                abandon_rate=float(rng.uniform(0.05, 0.2)) if i in abandoners else 0.0,
                resend_rate=float(rng.uniform(0.3, 0.8)) if i in resenders else 0.0,
            )
        )
    return crowd


def _at_least_one(n: int, share: float) -> int:
    return max(int(share * n), 1 if n >= 5 else 0)


def confusion_matrix(rng: np.random.Generator, profile: str, k: int) -> FloatArray:
    if profile == "spammer":
        return np.full((k, k), 1.0 / k)
    low, high = (0.9, 0.97) if profile in ("diligent", "biased") else (0.6, 0.8)
    matrix = np.empty((k, k))
    for row, accuracy in enumerate(rng.uniform(low, high, k).tolist()):
        mistakes = rng.dirichlet(np.ones(k - 1)) * (1 - accuracy)  # spread over the other labels
        matrix[row] = np.insert(mistakes, row, accuracy)
    if profile == "biased":  # a share of every other row drifts to the favourite label
        favourite, drift = int(rng.integers(k)), float(rng.uniform(0.3, 0.5))
        for row in range(k):
            if row != favourite:
                matrix[row] *= 1 - drift
                matrix[row, favourite] += drift
    result: FloatArray = matrix
    return result


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    seconds: float


class Api:
    """JSON over HTTP with the retries a well-behaved client does: 429 after
    ``Retry-After``, 503 and connection errors with exponential backoff."""

    def __init__(self, session: aiohttp.ClientSession, url: str, stop: asyncio.Event, events: Counter[str]) -> None:
        self.session, self.url, self.stop, self.events = session, url.rstrip("/"), stop, events

    async def call(self, method: str, path: str, token: str, body: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(RETRIES):
            started = time.perf_counter()
            try:
                async with self.session.request(method, self.url + path, json=body, headers=headers) as response:
                    text = await response.text()
                    seconds = time.perf_counter() - started
                    if response.status == 429:
                        self.events["rate_limited"] += 1
                        await nap(self.stop, float(response.headers.get("Retry-After", "1")))
                        continue
                    if response.status == 503:
                        self.events["unavailable"] += 1
                        await nap(self.stop, backoff(attempt))
                        continue
                    return Reply(response.status, _json(text), seconds)
            except (aiohttp.ClientError, TimeoutError):
                self.events["network_errors"] += 1
                await nap(self.stop, backoff(attempt))
        return Reply(0, None, 0.0)

    async def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        reply = await self.call(method, path, token, body)
        if not 200 <= reply.status < 300:
            raise SimulationError(f"{method} {path}: HTTP {reply.status}: {reply.body}")
        return reply.body


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


class SimulationError(Exception):
    """The server refused a set-up or report call."""


def backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt))


async def nap(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if the run stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


# --- set-up ----------------------------------------------------------------------------------


@dataclass
class Setup:
    project_id: str
    batch_ids: list[str]
    truth: dict[str, int]
    """``external_id`` -> true label index, for real and gold tasks (``g-…``)."""
    workers: list[tuple[Persona, str, str]]
    """(persona, worker id, token)."""


async def set_up(api: Api, options: Options, rng: np.random.Generator) -> Setup:
    k = len(options.labels)
    priors = rng.dirichlet(np.full(k, 5.0))
    truth = {f"t-{i}": int(label) for i, label in enumerate(rng.choice(k, options.tasks, p=priors))}
    gold = {f"g-{i}": int(label) for i, label in enumerate(rng.choice(k, options.gold_count))}
    project = await api.ok("POST", "/api/v1/projects", options.platform_key, project_body(options))
    pid = project["id"]
    if gold:
        rows = [{"external_id": g, "data": task_data(g), "label": options.labels[y]} for g, y in gold.items()]
        await api.ok("POST", f"/api/v1/projects/{pid}/gold", options.platform_key, {"tasks": rows})
    batch_ids = []
    ids = list(truth)
    for start in range(0, len(ids), MAX_BATCH):
        tasks = [{"external_id": t, "data": task_data(t)} for t in ids[start : start + MAX_BATCH]]
        body = {"external_id": f"sim-{start // MAX_BATCH}", "tasks": tasks}
        batch_ids.append((await api.ok("POST", f"/api/v1/projects/{pid}/batches", options.platform_key, body))["id"])
    crowd = draw_crowd(rng, options.workers, k)
    gate = asyncio.Semaphore(10)

    async def hire(persona: Persona) -> tuple[Persona, str, str]:
        async with gate:
            made = await api.ok("POST", "/api/v1/workers", options.operator_key, {"name": persona.name})
        return persona, made["id"], made["token"]

    workers = await asyncio.gather(*(hire(p) for p in crowd))
    return Setup(pid, batch_ids, truth | gold, list(workers))


def project_body(options: Options) -> dict[str, Any]:
    return {
        "name": f"crowd simulate (seed {options.seed})",
        "instructions": "Simulated crowd.",
        "labels": list(options.labels),
        "min_overlap": options.min_overlap,
        "max_overlap": max(options.min_overlap, options.max_overlap),
        "lease_seconds": options.lease_seconds,
        "gold_rate": options.gold_rate,
        "onboarding_gold_rate": max(options.gold_rate, 0.5),
        "onboarding_tasks": 10,
        "min_gold_answers": 5,
        "min_accuracy": options.min_accuracy,
        "reward": options.reward,
        "recollect_blocked": True,
    }


def task_data(external_id: str) -> dict[str, Any]:
    return {"item": external_id, "text": f"simulated item {external_id}"}


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the crowd saw. ``acknowledged``: (task external id, worker id) ->
    label of every real answer the server acknowledged with a 200."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "answer": []})
    statuses: Counter[int] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[tuple[str, str], str] = field(default_factory=dict)
    gold_acknowledged: int = 0
    per_profile: dict[str, Counter[str]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)
    tasks_completed: int = 0


class SimulatedWorker:
    def __init__(self, api: Api, options: Options, setup: Setup, index: int, tally: Tally, seed: int) -> None:
        self.api, self.options, self.setup, self.tally = api, options, setup, tally
        self.persona, self.id, self.token = setup.workers[index]
        self.rng = np.random.default_rng(seed)
        self.abandoned: set[str] = set()
        self.counts = tally.per_profile.setdefault(self.persona.profile, Counter())

    async def run(self) -> None:
        stop = self.api.stop
        while not stop.is_set() and self.id not in self.tally.stopped:
            lease = await self.next_lease()
            if lease is None:
                continue
            assignment = lease["assignment_id"]
            if assignment in self.abandoned:  # back too early: the lease is still live
                await nap(stop, self.options.lease_seconds / 4)
                continue
            if self.rng.random() < self.persona.abandon_rate:
                self.abandoned.add(assignment)
                self.tally.events["abandoned"] += 1
                await nap(stop, self.options.lease_seconds + 0.5)  # back when the lease ran out
                continue
            if self.options.think > 0:
                await nap(stop, float(self.rng.exponential(self.options.think * self.persona.pace)))
            await self.answer(assignment, lease["data"]["item"])

    async def next_lease(self) -> dict[str, Any] | None:
        """A lease, or None: no work yet, or this worker stops (403)."""
        path = f"/api/v1/work/next?project_id={self.setup.project_id}&wait=0"
        reply = await self.api.call("GET", path, self.token)
        self.note("next", reply)
        if reply.status == 204:  # nothing now: hold the request until work appears
            reply = await self.api.call("GET", path.replace("wait=0", f"wait={self.options.wait}"), self.token)
            self.tally.statuses[reply.status] += 1
        if reply.status == 200:
            lease: dict[str, Any] = reply.body
            return lease
        if reply.status == 403:
            self.halt()
        elif reply.status not in (204, 0):
            self.tally.events["unexpected"] += 1
            await nap(self.api.stop, 1.0)
        return None

    async def answer(self, assignment: str, item: str) -> None:
        """Answer by the persona's confusion matrix; some personas resend."""
        truth = self.setup.truth[item]
        label = self.options.labels[int(self.rng.choice(len(self.options.labels), p=self.persona.confusion[truth]))]
        path, body = f"/api/v1/work/assignments/{assignment}/answer", {"label": label}
        resend = self.rng.random() < self.persona.resend_rate
        if resend and self.rng.random() < 0.5:  # a double click: the same request twice at once
            replies = await asyncio.gather(*(self.api.call("POST", path, self.token, body) for _ in range(2)))
        else:
            replies = [await self.api.call("POST", path, self.token, body)]
            if resend and replies[0].status == 200:  # the reply got lost: send it again
                replies.append(await self.api.call("POST", path, self.token, body))
        for reply in replies:
            self.note("answer", reply)
        self.tally.events["resent"] += len(replies) - 1
        first = replies[0]
        if any(r.status == 200 for r in replies):
            ok = [r.body for r in replies if r.status == 200]
            self.tally.events["resend_mismatches"] += sum(b != ok[0] for b in ok) + len(replies) - len(ok)
            self.accepted(item, label, truth)
        elif first.status == 403:
            self.halt()
        elif first.status == 409 and isinstance(first.body, dict) and first.body.get("type") == "lease-expired":
            self.tally.events["late_rejected"] += 1
        else:
            self.tally.events["unexpected"] += 1

    def accepted(self, item: str, label: str, truth: int) -> None:
        correct = label == self.options.labels[truth]
        if item.startswith("g-"):
            self.tally.gold_acknowledged += 1
            self.counts["gold_answers"] += 1
        else:
            self.tally.acknowledged[(item, self.id)] = label
            self.counts["answers"] += 1
            self.counts["correct"] += correct

    def note(self, kind: str, reply: Reply) -> None:
        self.tally.statuses[reply.status] += 1
        if reply.status:
            self.tally.latencies[kind].append(reply.seconds)

    def halt(self) -> None:
        self.tally.stopped.add(self.id)


async def watch(api: Api, options: Options, setup: Setup, tally: Tally, started: float) -> str:
    """Poll the batches until the run ends; why it ended: ``completed``,
    ``duration``, ``stalled`` (no answer accepted for a long while: no worker
    left who may take the open tasks) or ``interrupted``."""
    progress_at, seen = started, (0, 0)
    while True:
        done = 0
        for batch_id in setup.batch_ids:
            progress = await api.call("GET", f"/api/v1/batches/{batch_id}", options.platform_key)
            if progress.status == 200:
                done += progress.body["completed"]
        tally.tasks_completed = done
        now = time.perf_counter()
        if (done, len(tally.acknowledged)) != seen:
            progress_at, seen = now, (done, len(tally.acknowledged))
        if options.progress is not None:
            show_progress(options.progress, now - started, tally, options)
        if done >= options.tasks:
            return "completed"
        if options.duration is not None and now - started >= options.duration:
            return "duration"
        if now - progress_at >= options.stall_seconds:
            return "stalled"
        if api.stop.is_set():
            return "interrupted"
        await nap(api.stop, POLL_SECONDS)


def show_progress(stream: TextIO, elapsed: float, tally: Tally, options: Options) -> None:
    answers = len(tally.acknowledged)
    stream.write(
        f"\r\033[Kcrowd simulate: {elapsed:6.1f} s  {answers} answers ({answers / max(elapsed, 1e-9):.1f}/s)  "
        f"tasks {tally.tasks_completed}/{options.tasks} done  workers {options.workers - len(tally.stopped)} "
        f"active, {len(tally.stopped)} stopped  retries {tally.events['rate_limited'] + tally.events['unavailable']}"
    )
    stream.flush()


@dataclass
class Outcome:
    summary: dict[str, Any]
    setup: Setup
    tally: Tally


async def simulate(options: Options) -> Outcome:
    """Set up, run the crowd, then read the results back; see the module docstring."""
    rng = np.random.default_rng(options.seed)
    tally, stop = Tally(), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=options.workers * 2 + 10)
    timeout = aiohttp.ClientTimeout(total=options.wait + 60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        api = Api(session, options.url, stop, tally.events)
        setup = await set_up(api, options, rng)
        seeds = rng.integers(0, 2**63, len(setup.workers)).tolist()
        started = time.perf_counter()
        with _stop_on_interrupt(stop):
            crowd = [
                asyncio.create_task(SimulatedWorker(api, options, setup, i, tally, s).run())
                for i, s in enumerate(seeds)
            ]
            ended_by = await watch(api, options, setup, tally, started)
            elapsed = time.perf_counter() - started
            stop.set()
            await _finish(crowd)
        if options.progress is not None:
            options.progress.write("\r\033[K")
        api.stop = asyncio.Event()  # the reports below retry as usual
        report = await read_back(api, options, setup)
    return Outcome(summarise(options, setup, tally, report, ended_by, elapsed), setup, tally)


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    """Give in-flight requests a moment, then cancel (an unread reply is not acknowledged)."""
    _, pending = await asyncio.wait(tasks, timeout=1.0)
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result


@contextlib.contextmanager
def _stop_on_interrupt(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C ends the run early; the report still prints."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


@dataclass
class ServerReport:
    results: list[dict[str, Any]]
    spend: dict[str, Any]
    workers: list[dict[str, Any]]


async def read_back(api: Api, options: Options, setup: Setup) -> ServerReport:
    pid = setup.project_id
    for attempt in range(RETRIES):  # 409 while a background refit of the project runs
        reply = await api.call("POST", f"/api/v1/projects/{pid}/consensus", options.operator_key)
        if reply.status != 409:
            break
        await asyncio.sleep(backoff(attempt + 4))
    results = await pages(api, f"/api/v1/projects/{pid}/results?limit=1000", options.platform_key)
    spend = await api.ok("GET", f"/api/v1/projects/{pid}/spend", options.platform_key)
    workers = await pages(api, f"/api/v1/projects/{pid}/workers?limit=1000", options.operator_key)
    return ServerReport(results, spend, workers)


async def pages(api: Api, path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await api.ok("GET", path + (f"&cursor={cursor}" if cursor else ""), key)
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


# --- summary ---------------------------------------------------------------------------------


def percentiles(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50": None, "p90": None, "p99": None}
    ms = np.percentile(np.asarray(seconds) * 1e3, [50, 90, 99]).tolist()
    return {"count": len(seconds), "p50": round(ms[0], 2), "p90": round(ms[1], 2), "p99": round(ms[2], 2)}


def summarise(
    options: Options, setup: Setup, tally: Tally, report: ServerReport, ended_by: str, elapsed: float
) -> dict[str, Any]:
    labels = options.labels
    scored = [r for r in report.results if r["label"] is not None and r["external_id"] in setup.truth]
    right = sum(r["label"] == labels[setup.truth[r["external_id"]]] for r in scored)
    answers = len(tally.acknowledged)
    answered_right = sum(labels[setup.truth[t]] == label for (t, _), label in tally.acknowledged.items())
    profile_of = {worker_id: persona.profile for persona, worker_id, _ in setup.workers}
    blocked = {w["worker_id"] for w in report.workers if w.get("blocked")}
    return {
        "completed": ended_by == "completed",
        "ended_by": ended_by,
        "duration_seconds": round(elapsed, 3),
        "tasks": options.tasks,
        "tasks_completed": tally.tasks_completed,
        "gold_tasks": options.gold_count,
        "answers": answers,
        "gold_answers": tally.gold_acknowledged,
        "answers_per_second": round(answers / max(elapsed, 1e-9), 2),
        "latency_ms": {kind: percentiles(values) for kind, values in tally.latencies.items()},
        "accuracy": {
            "consensus": round(right / len(scored), 4) if scored else None,
            "answers": round(answered_right / answers, 4) if answers else None,
            "spammer_baseline": round(1 / len(labels), 4),
            "tasks_scored": len(scored),
        },
        "spammers": sum(p == "spammer" for p in profile_of.values()),
        "spammers_blocked": sum(profile_of.get(w) == "spammer" for w in blocked),
        "blocked": len(blocked),
        "workers_stopped": len(tally.stopped),
        "spend": {key: report.spend.get(key) for key in ("committed", "posted", "pending", "currency")},
        "events": {key: tally.events[key] for key in EVENTS},
        "profiles": profiles_summary(setup, tally, blocked),
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
        "project_id": setup.project_id,
        "batch_ids": setup.batch_ids,
        "seed": options.seed,
        "workers": options.workers,
    }


EVENTS = (
    "abandoned",
    "resent",
    "resend_mismatches",
    "late_rejected",
    "rate_limited",
    "unavailable",
    "network_errors",
    "unexpected",
)


def profiles_summary(setup: Setup, tally: Tally, blocked: set[str]) -> dict[str, dict[str, Any]]:
    summary = {}
    for profile in PROFILES:
        ids = [worker_id for persona, worker_id, _ in setup.workers if persona.profile == profile]
        counts = tally.per_profile.get(profile, Counter())
        summary[profile] = {
            "workers": len(ids),
            "answers": counts["answers"],
            "accuracy": round(counts["correct"] / counts["answers"], 4) if counts["answers"] else None,
            "gold_answers": counts["gold_answers"],
            "blocked": sum(worker_id in blocked for worker_id in ids),
        }
    return summary


def print_report(summary: dict[str, Any], stream: TextIO) -> None:
    s, accuracy = summary, summary["accuracy"]
    state = "completed" if s["completed"] else f"NOT completed ({s['ended_by']})"
    print(f"batch {state}: {s['tasks_completed']}/{s['tasks']} tasks in {s['duration_seconds']:.1f} s", file=stream)
    print(f"throughput   {s['answers']} answers, {s['answers_per_second']:.1f} answers/s", file=stream)
    for kind, q in s["latency_ms"].items():
        if q["count"]:
            line = f"p50 {q['p50']:.1f}  p90 {q['p90']:.1f}  p99 {q['p99']:.1f} ms  ({q['count']} requests)"
            print(f"latency      {kind:<7}{line}", file=stream)
    print(
        f"accuracy     consensus {accuracy['consensus']}, raw answers {accuracy['answers']}, "
        f"spammer baseline {accuracy['spammer_baseline']} ({accuracy['tasks_scored']} tasks)",
        file=stream,
    )
    spend = s["spend"]
    print(f"spend        committed {spend['committed']}, posted {spend['posted']} {spend['currency']}", file=stream)
    print(f"blocked      {s['spammers_blocked']}/{s['spammers']} spammers, {s['blocked']} workers in all", file=stream)
    for profile, p in s["profiles"].items():
        print(
            f"  {profile:<10}{p['workers']:>4} workers {p['answers']:>7} answers  accuracy {p['accuracy']}  "
            f"blocked {p['blocked']}",
            file=stream,
        )
    print("events       " + ", ".join(f"{k} {v}" for k, v in s["events"].items()), file=stream)


# --- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``crowd simulate`` arguments on ``parser``."""
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--platform-key", required=True, help="creates the project, gold and batch")
    parser.add_argument("--operator-key", required=True, help="creates the workers, reads their standing")
    parser.add_argument("--workers", type=_positive, required=True, metavar="N")
    parser.add_argument("--tasks", type=_positive, required=True, metavar="M")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at completion)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the crowd, the truth and every answer")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the JSON summary here")
    parser.add_argument("--labels", default="cat,dog,bird,other", help="comma-separated label set")
    parser.add_argument("--overlap", type=_positive, default=3, help="min_overlap (max_overlap: --max-overlap)")
    parser.add_argument("--max-overlap", type=_positive, default=5)
    parser.add_argument("--gold", type=int, metavar="G", help="gold tasks (default: max(30, M/10))")
    parser.add_argument("--gold-rate", type=float, default=0.1, help="share of gold once a worker is known")
    parser.add_argument("--min-accuracy", type=float, default=0.7, help="on gold, below which workers are blocked")
    parser.add_argument("--lease-seconds", type=_positive, default=30)
    parser.add_argument("--reward", type=int, default=5, help="per answer, in minor units")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds a worker spends on a task")
    parser.add_argument("--wait", type=int, default=5, help="long-poll seconds after a 204")


def run(args: argparse.Namespace) -> int:
    """Run ``crowd simulate``; returns the process exit status."""
    options = Options(
        url=args.url,
        platform_key=args.platform_key,
        operator_key=args.operator_key,
        workers=args.workers,
        tasks=args.tasks,
        duration=args.duration,
        seed=args.seed,
        labels=tuple(label.strip() for label in args.labels.split(",") if label.strip()),
        min_overlap=args.overlap,
        max_overlap=args.max_overlap,
        gold_tasks=args.gold,
        gold_rate=args.gold_rate,
        min_accuracy=args.min_accuracy,
        lease_seconds=args.lease_seconds,
        reward=args.reward,
        think=args.think,
        wait=args.wait,
        progress=sys.stderr if sys.stderr.isatty() else None,
    )
    try:
        outcome = asyncio.run(simulate(options))
    except (SimulationError, aiohttp.ClientError, OSError) as error:
        print(f"crowd simulate: {error}", file=sys.stderr)
        return 1
    print_report(outcome.summary, sys.stdout)
    text = json.dumps(outcome.summary)
    if args.json:
        args.json.write_text(text + "\n")
    print(text, flush=True)
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number
