"""The operator dashboard in a real browser: progress, settings with the
server's validation errors, workers with block / unblock, charts, gold
health, refit, accessibility."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.harness import DESKTOP, PHONE, Page, Pages, audit, expect, sign_in
from tests.support.crowd import LABELS, Crowd


async def project_settings(crowd: Crowd, pid: str) -> dict[str, Any]:
    return dict(await crowd.ok("GET", f"/api/v1/projects/{pid}", crowd.operator))


async def save(page: Page) -> None:
    await page.get_by_role("button", name="Save settings").click()


async def test_the_operator_changes_settings_and_sees_errors_beside_the_fields(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=2, max_overlap=3, gold_rate=0.1)
    pid = project["id"]
    await crowd.submit(pid, 4)
    page = await pages.open("/operator")
    pages.watch(page).expect(r"status of 422")
    await sign_in(page, crowd.operator)
    item = page.locator(f'[data-project="{pid}"]')
    await expect(item).to_contain_text("0 of 4 tasks done · 0 answers")
    await expect(item.locator("progress").first).to_have_attribute("max", "4")
    await expect(page.locator("#project-heading")).to_have_text("Pets")
    min_overlap = page.get_by_label("Minimum answers per task")
    max_overlap = page.get_by_label("Maximum answers per task")
    gold_rate = page.get_by_label("Gold rate", exact=True)
    await expect(min_overlap).to_have_value("2")

    # Out of range: the server's message sits beside the field.
    await gold_rate.fill("1.5")
    await save(page)
    error = page.locator("#setting-gold_rate-error")
    await expect(error).to_have_text(re.compile("less than or equal to 1"))
    await expect(gold_rate).to_have_attribute("aria-invalid", "true")
    await expect(gold_rate).to_be_focused()
    await expect(page.locator("#setting-min_overlap-error")).to_be_hidden()

    # A rule across fields: the server names max_overlap.
    await gold_rate.fill("0.25")
    await min_overlap.fill("4")
    await save(page)
    await expect(page.locator("#setting-max_overlap-error")).to_have_text("max_overlap must be at least min_overlap")
    await expect(max_overlap).to_have_attribute("aria-invalid", "true")
    await expect(error).to_be_hidden()
    assert (await project_settings(crowd, pid))["min_overlap"] == 2  # nothing stored

    # Fixed: saved, and the API says so.
    await max_overlap.fill("5")
    await page.get_by_label("Answers before a worker counts half").fill("30")
    await page.get_by_label("Show workers the right answer after gold tasks").check()
    await save(page)
    await expect(page.locator("#settings-status")).to_have_text(re.compile("^Saved: "))
    await expect(page.locator("#setting-max_overlap-error")).to_be_hidden()
    stored = await project_settings(crowd, pid)
    changed = {
        name: stored[name] for name in ("min_overlap", "max_overlap", "evidence_half", "gold_rate", "gold_feedback")
    }
    assert changed == {
        "min_overlap": 4,
        "max_overlap": 5,
        "evidence_half": 30,
        "gold_rate": 0.25,
        "gold_feedback": True,
    }
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#settings-status")).to_have_text("Nothing changed.")


async def answer_all(crowd: Crowd, pid: str, token: str, pick: Any) -> None:
    while (lease := await crowd.next(token, pid)) is not None:
        label = pick(lease["data"])
        assert (await crowd.answer(token, lease["assignment_id"], label)).status == 200


async def test_workers_charts_gold_and_refit(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=2, gold_rate=0.0, onboarding_gold_rate=0.0, reward=3, budget=500)
    pid = project["id"]
    gold = {"external_id": "g-1", "data": {"text": "gold"}, "label": "cat"}
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": [gold]})
    await crowd.submit(pid, 6)
    ann = await crowd.ok("POST", "/api/v1/workers", crowd.operator, {"name": "ann"})
    bob = await crowd.ok("POST", "/api/v1/workers", crowd.operator, {"name": "bob"})
    await answer_all(crowd, pid, ann["token"], lambda data: "cat")
    await answer_all(crowd, pid, bob["token"], lambda data: LABELS[int(data["text"][-1]) % 3])

    page = await pages.open("/operator")
    spend = await crowd.call("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    if spend.status == 404:
        pages.watch(page).expect(r"status of 404 .*/spend")
    await sign_in(page, crowd.operator)
    await expect(page.locator(f'[data-project="{pid}"]')).to_contain_text("12 answers")

    await page.get_by_role("button", name="Refit consensus").click()
    await expect(page.locator("#status")).to_contain_text("Consensus refit: 6 tasks, 2 workers")
    rows = page.locator("#worker-rows tr")
    await expect(rows).to_have_count(2)
    ann_row = page.locator(f'tr[data-worker="{ann["id"]}"]')
    await expect(ann_row).to_contain_text(re.compile(r"0\.\d\d \[0\.\d\d, [01]\.\d\d\]"))
    await expect(ann_row).to_contain_text("Active")
    # What each worker earned here, as the ledger books it.
    await expect(page.locator("#earnings-col")).to_be_visible()
    earned = (await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator))["items"]
    ann_earned = next(w["earnings"] for w in earned if w["name"] == "ann")
    assert ann_earned["pending"] + ann_earned["approved"] == 3 * 6
    await expect(ann_row).to_contain_text(re.compile(r"\$\d\.\d\d pending, \$\d\.\d\d approved"))
    dollars = f"${ann_earned['approved'] / 100:.2f} approved"
    await expect(ann_row).to_contain_text(dollars)

    # Block and unblock, by keyboard.
    await page.get_by_role("button", name="Block ann").focus()
    await page.keyboard.press("Enter")
    await expect(ann_row).to_contain_text("Blocked")
    await expect(page.get_by_role("button", name="Unblock ann")).to_be_focused()
    workers = await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator)
    assert {w["name"]: w["blocked"] for w in workers["items"]} == {"ann": True, "bob": False}
    await page.keyboard.press("Enter")
    await expect(ann_row).to_contain_text("Active")
    workers = await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator)
    assert not any(w["blocked"] for w in workers["items"])

    # Charts: inline SVG with names a screen reader can read.
    await expect(page.locator("#reliability-chart svg[role=img] rect.bar")).to_have_count(10)
    await expect(page.locator("#reliability-chart svg desc")).to_contain_text("2 workers")
    await page.get_by_label("Worker", exact=True).select_option(label="bob")
    await expect(page.locator("#confusion-chart svg title").first).to_have_text("Confusion matrix of bob")
    await expect(page.locator("#confusion-chart svg rect")).to_have_count(len(LABELS) ** 2)
    await expect(page.locator("#confidence-chart svg desc")).to_contain_text("6 tasks")
    if spend.status == 404:
        await expect(page.locator("#spend-chart")).to_have_text("Spend not available.")
    else:
        await expect(page.locator("#spend-totals")).to_contain_text("Committed")
        await expect(page.locator(f'[data-project="{pid}"] .spend-meter')).to_contain_text("budget")

    # Gold health.
    gold_rows = page.locator("#gold-rows tr")
    await expect(gold_rows).to_have_count(1)
    await expect(gold_rows.first).to_contain_text("g-1")
    await expect(page.locator("#gold-summary")).to_contain_text("1 gold task")
    await pages.screenshot(page, "operator-desktop")


async def test_the_operator_page_passes_the_audit_at_phone_and_desktop_width(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1)
    await crowd.submit(project["id"], 3)
    token = await crowd.new_worker("ann")
    await answer_all(crowd, project["id"], token, lambda data: "dog")
    await crowd.ok("POST", f"/api/v1/projects/{project['id']}/consensus", crowd.operator)
    page = await pages.open("/operator", PHONE)
    spend = await crowd.call("GET", f"/api/v1/projects/{project['id']}/spend", crowd.operator)
    if spend.status == 404:
        pages.watch(page).expect(r"status of 404 .*/spend")
    assert await audit(page) == []
    await sign_in(page, crowd.operator)
    await expect(page.locator("#worker-rows tr")).to_have_count(1)
    await expect(page.locator("#confusion-chart svg")).to_be_visible()
    assert await audit(page) == []
    await pages.screenshot(page, "operator-phone")
    await page.set_viewport_size(DESKTOP)
    assert await audit(page) == []
