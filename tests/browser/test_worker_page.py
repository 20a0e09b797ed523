"""The worker page in a real browser: labelling by keyboard, long-poll,
lost connections, expired leases, blocking, gold feedback, accessibility."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.browser.harness import DESKTOP, PHONE, Page, Pages, Route, audit, expect, sign_in
from tests.support.crowd import Crowd

IMAGE = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>'


async def new_worker(crowd: Crowd, name: str) -> tuple[str, str]:
    created = await crowd.ok("POST", "/api/v1/workers", crowd.operator, {"name": name})
    return created["id"], created["token"]


async def submit(crowd: Crowd, project_id: str, tasks: list[dict[str, Any]], external_id: str) -> None:
    body = {"external_id": external_id, "tasks": tasks}
    await crowd.ok("POST", f"/api/v1/projects/{project_id}/batches", crowd.platform, body)


def text_tasks(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"{prefix}-{i}", "data": {"text": f"Text of {prefix}-{i}", "ref": f"{prefix}-{i}"}}
        for i in range(n)
    ]


async def answers_of(crowd: Crowd, project_id: str, worker_id: str) -> dict[str, str]:
    """The worker's stored answers in the project, task external id -> label."""
    page = await crowd.ok("GET", f"/api/v1/projects/{project_id}/answers?limit=1000", crowd.platform)
    rows = [(a["task"], a["label"]) for a in page["items"] if a["worker"] == worker_id]
    assert len(rows) == len({task for task, _ in rows}), rows  # never twice for one task
    return dict(rows)


REF = "#task-data dt:text-is('ref') + dd"


async def next_ref(page: Page, previous: str | None) -> str:
    """Wait until the page shows a task other than ``previous``; its ``ref``
    (every test task carries one, which the page lists as a key/value)."""
    await expect(page.locator("#task-body")).to_be_visible()
    if previous is not None:
        await expect(page.locator(REF)).not_to_have_text(previous)
    return (await page.locator(REF).inner_text()).strip()


async def test_a_worker_labels_a_batch_by_keyboard_and_the_long_poll_resumes(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(
        min_overlap=1,
        reward=5,
        gold_rate=0.0,
        onboarding_gold_rate=0.0,
        instructions="Which **animal** is it?\n\n<script>alert('x')</script>",
    )
    pid = project["id"]
    worker_id, token = await new_worker(crowd, "ann")
    tasks = [
        *text_tasks("t", 4),
        {"external_id": "t-img", "data": {"image_url": "https://images.test/dog.svg", "alt": "A dog", "ref": "t-img"}},
        {"external_id": "t-raw", "data": {"text": "<b>not bold</b>", "ref": "t-raw", "meta": {"html": "<i>x</i>"}}},
    ]
    await submit(crowd, pid, tasks, "b-1")

    page = await pages.open("/")
    await page.route("https://images.test/**", lambda route: route.fulfill(body=IMAGE, content_type="image/svg+xml"))
    await sign_in(page, token)
    await expect(page.locator("#who")).to_have_text("Signed in as ann")
    choices = page.locator("#project-choices")
    await expect(choices).to_contain_text("Any project")
    await expect(choices).to_contain_text("Pets")
    await expect(choices).to_contain_text("$0.05 per answer · 6 open tasks")
    # Instructions are the server's safe HTML: markdown applied, raw HTML shown as text.
    await expect(page.locator("#instructions-body strong")).to_have_text("animal")
    await expect(page.locator("#instructions-body")).to_contain_text("<script>alert('x')</script>")
    assert await page.locator("#instructions-body script").count() == 0
    await expect(page.get_by_role("button", name="cat")).to_have_attribute("aria-keyshortcuts", "1")

    # Five answers by number key and one skip, whatever order the tasks come in.
    keys = ["1", "2", "3", "1", "2", "s"]
    given: dict[str, str] = {}
    ref = None
    for key in keys:
        ref = await next_ref(page, ref)
        if ref == "t-img":
            image = page.locator("img.task-image")
            await expect(image).to_have_attribute("alt", "A dog")
            assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
        if ref == "t-raw":
            await expect(page.locator(".task-text")).to_have_text("<b>not bold</b>")
            assert await page.locator("#task-data b, #task-data i").count() == 0
            await expect(page.locator("#task-data")).to_contain_text('"html": "<i>x</i>"')
            await pages.screenshot(page, "worker-task-desktop")
            assert await audit(page) == []
        await expect(page.locator("#countdown")).to_have_text(re.compile(r"^\d:\d\d$"))
        await page.keyboard.press(key)
        if key != "s":
            given[ref] = {"1": "cat", "2": "dog", "3": "other"}[key]
            answered = len(given)
            await expect(page.locator('[data-total="Answers"] dd')).to_have_text(str(answered))
            # Earnings move with every answer, as the server books them.
            me = await crowd.ok("GET", "/api/v1/work/me", token)
            assert me["answers"] == answered
            balance = me["balance"]
            assert balance["pending"] + balance["available"] == 5 * answered
            for term in ("pending", "available"):
                shown = page.locator(f'[data-total="{term.title()} earnings"] dd')
                await expect(shown).to_have_text(f"${balance[term] / 100:.2f}")

    # No work left: the page says so and keeps waiting by itself.
    await expect(page.locator("#idle")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("No work right now. Waiting for new tasks…")
    await submit(crowd, pid, text_tasks("late", 1), "b-2")
    assert await next_ref(page, None) == "late-0"
    await page.keyboard.press("3")
    given["late-0"] = "other"
    await expect(page.locator("#idle")).to_be_visible()

    assert await answers_of(crowd, pid, worker_id) == given
    assert len(given) == 6  # five from the first batch (one skipped), one from the second


async def test_an_answer_lost_on_the_network_is_resent_and_counts_once(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1, gold_rate=0.0, onboarding_gold_rate=0.0)
    pid = project["id"]
    worker_id, token = await new_worker(crowd, "ann")
    await submit(crowd, pid, text_tasks("t", 3), "b-1")
    page = await pages.open("/")
    pages.watch(page).expect(r"net::ERR_(CONNECTION_RESET|INTERNET_DISCONNECTED)")
    await sign_in(page, token)

    # 1. The answer reaches the server, but its reply is lost on the way back.
    first = await next_ref(page, None)
    replies: list[int] = []

    async def lose_reply(route: Route) -> None:
        response = await route.fetch()
        replies.append(response.status)
        await route.abort("connectionreset")

    await page.route("**/answer", lose_reply)
    await page.keyboard.press("2")
    alert = page.locator("#alert")
    await expect(alert).to_contain_text("Connection lost")
    await expect(alert).to_contain_text("counts only once")
    assert replies
    assert set(replies) == {200}  # the server took it each time; the browser never heard
    await expect(page.get_by_role("button", name="cat")).to_have_attribute("aria-disabled", "true")
    await page.keyboard.press("1")  # no second answer while the first is unconfirmed
    await page.unroute("**/answer", lose_reply)
    await page.get_by_role("button", name="Send again now").click()
    second = await next_ref(page, first)
    await expect(alert).to_have_text("")
    assert await answers_of(crowd, pid, worker_id) == {first: "dog"}

    # 2. The browser goes offline before the answer leaves.
    await page.context.set_offline(True)
    await page.keyboard.press("3")
    await expect(alert).to_contain_text("Connection lost")
    assert await answers_of(crowd, pid, worker_id) == {first: "dog"}
    await page.context.set_offline(False)  # the "online" event resends at once
    await next_ref(page, second)
    assert await answers_of(crowd, pid, worker_id) == {first: "dog", second: "other"}
    me = await crowd.ok("GET", "/api/v1/work/me", token)
    assert me["answers"] == 2


async def test_an_expired_lease_is_explained_and_the_page_recovers(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1, lease_seconds=60, gold_rate=0.0, onboarding_gold_rate=0.0)
    pid = project["id"]
    ann_id, ann = await new_worker(crowd, "ann")
    _, bob = await new_worker(crowd, "bob")
    await submit(crowd, pid, text_tasks("t", 3), "b-1")
    page = await pages.open("/", fake_clock=True)
    pages.watch(page).expect(r"status of 409")
    await sign_in(page, ann)
    first = await next_ref(page, None)

    # 1. The server's clock passes the lease; bob takes the task and fills it.
    #    Ann's late answer is refused (409 lease-expired) and she moves on.
    crowd.clock.advance(61)
    lease = await crowd.next(bob, pid)
    assert lease is not None
    assert lease["data"]["ref"] == first
    assert (await crowd.answer(bob, lease["assignment_id"], "dog")).status == 200
    await page.keyboard.press("1")
    await expect(page.locator("#alert")).to_contain_text("Too late")
    second = await next_ref(page, first)

    # 2. The lease runs out on the page: the buttons stop, the page says why
    #    and offers a new task, which the keyboard takes.
    crowd.clock.advance(61)
    await page.clock.fast_forward(61_000)
    await expect(page.locator("#countdown")).to_have_text("0:00")
    await expect(page.locator("#alert")).to_contain_text("Time ran out")
    await expect(page.get_by_role("button", name="cat")).to_have_attribute("aria-disabled", "true")
    await page.keyboard.press("1")  # ignored: the lease is over
    action = page.get_by_role("button", name="Get a new task")
    await expect(action).to_be_focused()
    await page.keyboard.press("Enter")
    third = await next_ref(page, second)
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"^(0:5\d|1:00)$"))
    await page.keyboard.press("2")
    await expect(page.locator("#idle")).to_be_visible()
    assert await answers_of(crowd, pid, ann_id) == {third: "dog"}


async def test_a_blocked_worker_is_told_and_gets_no_more_of_that_project(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1, gold_rate=0.0, onboarding_gold_rate=0.0)
    pid = project["id"]
    ann_id, ann = await new_worker(crowd, "ann")
    await submit(crowd, pid, text_tasks("t", 3), "b-1")
    page = await pages.open("/")
    pages.watch(page).expect(r"status of 403")
    await sign_in(page, ann)
    await next_ref(page, None)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/workers/{ann_id}/block", crowd.operator)
    await page.keyboard.press("1")
    await expect(page.locator("#alert")).to_contain_text("You are blocked on Pets")
    await expect(page.locator("#idle")).to_be_visible()
    await expect(page.locator("#standing-rows")).to_contain_text("Blocked")
    await expect(page.locator("#project-choices")).not_to_contain_text("Pets")
    assert await answers_of(crowd, pid, ann_id) == {}


async def test_the_project_list_follows_every_page(crowd: Crowd, pages: Pages) -> None:
    """The server lists open projects a page at a time: the page asks for
    the next until there is none. (Pages of one project here, so five
    projects take five requests.)"""
    names = [f"Project {i}" for i in range(5)]
    for name in names:
        await crowd.new_project(name=name)
    _, ann = await new_worker(crowd, "ann")
    page = await pages.open("/")
    asked: list[str] = []

    async def one_per_page(route: Route) -> None:
        parts = urlsplit(route.request.url)
        url = urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), "limit": "1"})))
        asked.append(url)
        await route.continue_(url=url)

    await page.route("**/api/v1/work/projects*", one_per_page)
    await sign_in(page, ann)
    choices = page.locator("#project-choices")
    for name in names:
        await expect(choices).to_contain_text(name)
    assert sum("cursor=" in url for url in asked) >= len(names) - 1


async def test_gold_feedback_is_shown_after_a_gold_answer(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1, gold_rate=1.0, onboarding_gold_rate=1.0, gold_feedback=True)
    pid = project["id"]
    _, ann = await new_worker(crowd, "ann")
    gold = {
        "external_id": "g-1",
        "data": {"text": "It purrs", "ref": "g-1"},
        "label": "cat",
        "explanation": "Cats purr.",
    }
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": [gold]})
    await submit(crowd, pid, text_tasks("t", 1), "b-1")
    page = await pages.open("/")
    await sign_in(page, ann)
    assert await next_ref(page, None) == "g-1"
    await page.keyboard.press("2")
    feedback = page.locator("#feedback")
    await expect(feedback).to_be_visible()
    await expect(feedback).to_contain_text("Not quite: the expected answer was “cat”. Cats purr.")
    assert await next_ref(page, "g-1") == "t-0"
    await page.keyboard.press("1")
    await expect(page.locator("#idle")).to_be_visible()
    await expect(feedback).to_be_hidden()  # the real task gave no feedback


async def test_the_watch_catches_csp_violations_and_console_errors(crowd: Crowd, pages: Pages) -> None:
    """The checks every browser test ends with do see problems."""
    page = await pages.open("/")
    await page.evaluate(
        """() => {
          const script = document.createElement('script');
          script.textContent = 'window.ran = true';
          document.head.append(script);
          const box = document.createElement('div');
          box.setAttribute('style', 'color: red');
          document.body.append(box);
        }"""
    )
    await page.wait_for_function("window.__cspViolations.length >= 2")
    problems = await pages.problems(page)
    assert any(p.startswith("CSP: script-src") for p in problems)
    assert any(p.startswith("CSP: style-src") for p in problems)
    assert not await page.evaluate("window.ran === true")
    watch = pages.watch(page)
    for _ in range(100):  # the console reports them too, a moment later
        if sum("Content Security Policy" in e for e in watch.console_errors) >= 2:
            break
        await page.wait_for_timeout(20)
    assert sum("Content Security Policy" in e for e in watch.unexpected()) >= 2
    await page.evaluate("window.__cspViolations = []")
    pages.watch(page).console_errors.clear()


async def test_the_worker_page_passes_the_audit_at_phone_width(crowd: Crowd, pages: Pages) -> None:
    project = await crowd.new_project(min_overlap=1, instructions="Pick one.")
    _, ann = await new_worker(crowd, "ann")
    page = await pages.open("/", PHONE)
    pages.watch(page).expect(r"status of 401")
    await expect(page.locator("#token")).to_be_focused()
    assert await audit(page) == []
    await sign_in(page, "crowd_wt_not-a-real-token")
    await expect(page.locator("#token-error")).to_have_text("That worker token was not accepted.")
    await expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    assert await audit(page) == []
    await page.locator("#token").fill("")
    await sign_in(page, ann)
    await expect(page.locator("#idle")).to_be_visible()
    assert await audit(page) == []
    # The token lives in this tab's sessionStorage: a reload keeps the worker signed in.
    await page.reload()
    await expect(page.locator("#idle")).to_be_visible()
    await submit(crowd, project["id"], [{"data": {"text": "A long text " * 40, "ref": "x", "extra": [1, 2]}}], "b")
    await expect(page.locator("#task-body")).to_be_visible()
    await pages.screenshot(page, "worker-task-phone")
    assert await audit(page) == []
    await page.set_viewport_size(DESKTOP)
    assert await audit(page) == []
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#token")).to_be_focused()
    assert await page.evaluate("sessionStorage.length") == 0
