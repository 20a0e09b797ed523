"""What the browser tests use to drive and judge a page: opening pages with
watchers for console errors, uncaught exceptions, CSP violations and leaked
secrets; the accessibility audit; signing in by keyboard.

Importing this module without Playwright skips the importing test module,
except under ``CI=true``, where the ImportError stands.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route, expect
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

__all__ = ["DESKTOP", "PHONE", "Page", "Pages", "Route", "audit", "expect", "sign_in"]

HERE = Path(__file__).resolve().parent
AUDIT_SCRIPT = (HERE / "audit.js").read_text()
OUTPUT = Path(os.environ.get("CROWD_BROWSER_OUTPUT") or HERE.parents[1] / "build" / "browser")
#: How every crowd secret starts (crowd/identity/tokens.py).
SECRET = re.compile(r"crowd_[a-z]{2}_")

#: No sandbox (the tests run as root), and nothing that reaches outside
#: this machine.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000


@dataclass
class Watch:
    """What went wrong in a page: console errors, uncaught exceptions and
    Content-Security-Policy violations. Tests name the console errors they
    cause on purpose (an HTTP 409 the page handles, a dropped connection)."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def expect(self, *patterns: str) -> None:
        """Console errors matching one of these regexes are part of the test."""
        self.expected.extend(patterns)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({where})")

    def unexpected(self) -> list[str]:
        console = [e for e in self.console_errors if not any(re.search(p, e) for p in self.expected)]
        return console + [f"uncaught: {e}" for e in self.page_errors] + self.leaks()

    def leaks(self) -> list[str]:
        """Secrets never go in a URL; API calls carry them as a bearer header."""
        problems = [f"secret in URL {r.url}" for r in self.requests if SECRET.search(r.url)]
        for r in self.requests:
            if "/api/" in r.url and not r.headers.get("authorization", "").startswith("Bearer crowd_"):
                problems.append(f"no bearer secret on {r.method} {r.url}")
        return problems


#: Collects CSP violations inside the page (they also reach the console).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI} at ${where}`);
});
"""


@dataclass
class Pages:
    """Opens pages of the server under test, each in a fresh browser context
    (fresh sessionStorage), and checks them when the test ends."""

    browser: Browser
    base_url: str
    opened: list[tuple[Page, Watch]] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def open(self, path: str, viewport: dict[str, int] = DESKTOP, *, fake_clock: bool = False) -> Page:
        context = await self.browser.new_context(viewport=viewport, base_url=self.base_url)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        watch = Watch()
        page.on("console", watch.on_console)
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("request", lambda request: watch.requests.append(request))
        await page.add_init_script(CSP_WATCH)
        if fake_clock:
            await page.clock.install()
        self.opened.append((page, watch))
        response = await page.goto(path)
        assert response is not None
        assert response.ok, response.status
        return page

    def watch(self, page: Page) -> Watch:
        return next(w for p, w in self.opened if p is page)

    async def problems(self, page: Page) -> list[str]:
        violations: list[str] = await page.evaluate("window.__cspViolations || []")
        return [f"CSP: {v}" for v in violations] + self.watch(page).unexpected()

    async def assert_clean(self) -> None:
        """No console error, uncaught exception or CSP violation in any page."""
        for page, _ in self.opened:
            if not page.is_closed():
                assert await self.problems(page) == []

    async def screenshot(self, page: Page, name: str) -> Path:
        path = OUTPUT / f"{name}.png"  # Playwright makes the folder
        await page.screenshot(path=str(path), full_page=True)
        return path

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def audit(page: Page) -> list[str]:
    """The in-page accessibility audit (audit.js) plus a keyboard walk:
    every stop of the Tab order shows where the focus is."""
    problems: list[str] = await page.evaluate(AUDIT_SCRIPT)
    return problems + await focus_walk(page)


#: The focused element: a name for messages, a key to notice the walk has
#: come round, and whether an outline or box shadow shows it.
FOCUSED_SCRIPT = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = Boolean(style.boxShadow) && style.boxShadow !== 'none';
  const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? `[name=${el.name}]` : '');
  return { name, visible: outline || shadow, key: name + '|' + (el.textContent || '').slice(0, 30) };
}"""


async def focus_walk(page: Page, limit: int = 80) -> list[str]:
    """Tab through the page from the top; each focused element must show a
    visible focus indicator (an outline or a box shadow)."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.evaluate("window.scrollTo(0, 0)")
    problems = []
    first = None
    for _ in range(limit):
        await page.keyboard.press("Tab")
        state: dict[str, Any] = await page.evaluate(FOCUSED_SCRIPT)
        if state is None:
            break
        if state["key"] == first:
            break
        first = first or state["key"]
        if not state["visible"]:
            problems.append(f"{state['name']} shows no focus indicator")
    return problems


async def sign_in(page: Page, secret: str) -> None:
    """Sign in with the keyboard only: type the secret, press Enter."""
    await page.locator("#token").focus()
    await page.keyboard.type(secret)
    await page.keyboard.press("Enter")
