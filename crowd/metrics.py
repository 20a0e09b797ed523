"""Prometheus metrics of this process. Every server process exposes its own
at ``/metrics`` on a listener of its own (``CROWD_METRICS_HOST``,
``CROWD_METRICS_PORT``: 127.0.0.1:9464 unless set), never on the port that
serves the API; Prometheus scrapes each and sums. Counters live here so the
services can count what they do without knowing about HTTP.

No figure says whether a lease or an answer was gold: a counter that rises
by one exactly when a worker's lease is gold tells that worker which of
their tasks are gold, wherever it can be read. Gold's own figures are per
project, behind an API key (``GET /api/v1/projects/{id}/gold``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("crowd_http_requests", "HTTP requests answered, by route and status.", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "crowd_http_request_seconds",
    "Time to answer an HTTP request, by route.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LEASES_GRANTED = Counter("crowd_leases_granted", "Leases handed to workers.")
LEASES_EXPIRED = Counter("crowd_leases_expired", "Leases that ran out before an answer, released by the sweeper.")
ANSWERS = Counter("crowd_answers", "Answers stored (a retried answer counts once).")
OPEN_TASKS = Gauge("crowd_open_tasks", "Real tasks still collecting answers, over all projects (read at scrape).")
REFIT_SECONDS = Histogram(
    "crowd_consensus_refit_seconds",
    "Time of a full Dawid-Skene fit of one project (the numeric part).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
