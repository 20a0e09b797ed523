"""Money endpoints: project spend, payouts and the ledger audit for
operators; balance and history for workers (their own only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from crowd.api import query, spec
from crowd.api.auth import api_key, worker
from crowd.api.bodies import parse
from crowd.api.http import iso, reply
from crowd.api.keys import CLOCK, DATABASE
from crowd.api.models import PayoutIn
from crowd.api.spec import documented
from crowd.csvcells import csv_line
from crowd.identity.tokens import Role
from crowd.payments import service as payments

routes = web.RouteTableDef()

ANY_KEY = (Role.PLATFORM, Role.OPERATOR)


@routes.get("/api/v1/projects/{project_id}/spend")
@documented("platform", "operator")
async def spend(request: web.Request) -> web.Response:
    """Budget, committed spend (posted + rewards of live leases), approved,
    bonuses, reversed, and a forecast of the cost to finish at the current
    target overlaps and reward; ``daily`` spend in UTC days."""
    key = await api_key(request, *ANY_KEY)
    report = await payments.spend(request.app[DATABASE], key.organization_id, request.match_info["project_id"])
    project = report.project
    days: dict[str, dict[str, Any]] = {}
    for day, kind, amount in report.daily:
        entry = days.setdefault(day, {"date": day, "rewards": 0, "bonuses": 0, "reversals": 0})
        column = {"reward": "rewards", "bonus": "bonuses", "reversal": "reversals"}.get(kind)
        if column:
            entry[column] += abs(amount)
    return reply(
        {
            "currency": project.currency,
            "budget": project.budget,
            "reward": project.reward,
            "committed": report.committed,
            "posted": report.posted,
            "pending": report.pending,
            "approved": report.approved,
            "bonuses": report.bonuses,
            "reversed": report.reversed,
            "forecast": {
                "remaining_answers": report.remaining_answers,
                "cost_to_finish": report.cost_to_finish,
                "total_at_finish": report.posted + report.cost_to_finish,
            },
            "daily": list(days.values()),
        }
    )


@routes.post("/api/v1/payouts")
@documented("operator", body=PayoutIn, statuses=(201,))
async def create_payout(request: web.Request) -> web.Response:
    """Move every available balance (at least ``minimum``) in ``currency``
    to payouts. Runs of one organization and currency take turns, so
    concurrent runs pay each cent once."""
    key = await api_key(request, Role.OPERATOR)
    body = await parse(request, PayoutIn)
    run = await payments.create_payout_run(
        request.app[DATABASE], request.app[CLOCK], key.organization_id, body.currency, body.minimum
    )
    return reply({**asdict(run), "created_at": iso(run.created_at)}, status=201)


@routes.get("/api/v1/payouts/{run_id}")
@documented("operator", query=[spec.choice("format", ["csv", "json"])], media=("text/csv", "application/json"))
async def payout_export(request: web.Request) -> web.Response:
    """The lines of a payout run: CSV ``worker,amount,currency,reference``
    (``?format=csv``, the default) or JSON."""
    key = await api_key(request, Role.OPERATOR)
    fmt = query.choice(request, "format", "csv", {"csv", "json"})
    lines = await payments.payout_lines(request.app[DATABASE], key.organization_id, request.match_info["run_id"])
    if fmt == "json":
        return reply(
            {"items": [dict(zip(("worker", "amount", "currency", "reference"), line, strict=True)) for line in lines]}
        )
    text = csv_line(["worker", "amount", "currency", "reference"]) + "".join(csv_line(line) for line in lines)
    return web.Response(text=text, content_type="text/csv")


@routes.get("/api/v1/ledger/audit")
@documented("operator")
async def audit(request: web.Request) -> web.Response:
    """The organization's books checked as a whole and account by account:
    ``balanced`` only if every check passes; ``failed`` names those that did
    not, each with what broke it (``unbalanced`` transactions, ``totals``
    per account type, ``negative_balances``, ``settled_twice``,
    ``mismatched_settlements``, ``payout_mismatches``)."""
    key = await api_key(request, Role.OPERATOR)
    return reply(asdict(await payments.audit(request.app[DATABASE], key.organization_id)))


@routes.get("/api/v1/work/ledger")
@documented("worker", query=[spec.integer("limit", 1, 500), spec.integer("cursor", 0, 2**62)])
async def work_ledger(request: web.Request) -> web.Response:
    """The worker's own transactions, newest first: how each moved their
    pending and available money. Paged with ``cursor``."""
    caller = await worker(request)
    limit = query.integer(request, "limit", 50, 1, 500)
    cursor = query.integer(request, "cursor", 0, 0, 2**62) or None
    items = await payments.history(request.app[DATABASE], caller.id, cursor, limit + 1)
    page = items[:limit]
    return reply(
        {
            "items": [
                {
                    "kind": item.kind,
                    "at": iso(item.at),
                    "currency": item.currency,
                    "pending": item.pending,
                    "available": item.available,
                    "project": item.project_name,
                }
                for item in page
            ],
            "next_cursor": str(page[-1].id) if len(items) > limit else None,
        }
    )
