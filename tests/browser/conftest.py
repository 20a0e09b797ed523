"""Browser tests: the real pages in headless Chromium (Debian's ``chromium``
package, driven by Playwright for Python) against the real server over real
HTTP, on SQLite.

Without Chromium or Playwright these tests are skipped, except under
``CI=true``, where that is a failure. ``CROWD_CHROMIUM`` names the Chromium
binary to use instead of the system one. Screenshots go to
``build/browser/`` (or ``CROWD_BROWSER_OUTPUT``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from tests.support.crowd import Crowd

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from tests.browser.harness import Pages

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the browser tests must run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary, or a skip (a failure under CI=true)."""
    chosen = os.environ.get("CROWD_CHROMIUM")
    candidates = [chosen] if chosen else [*CHROMIUM_PATHS, shutil.which("chromium") or ""]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    _unavailable(f"no Chromium at {' or '.join(filter(None, candidates))} (apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture
def backend() -> str:
    """The pages need one backend; the API suites cover both."""
    return "sqlite"


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    from tests.browser.harness import LAUNCH_ARGS

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def pages(browser: Browser, crowd: Crowd) -> AsyncIterator[Pages]:
    """Pages of the server under test; each must end the test with no console
    error, uncaught exception, CSP violation or leaked secret."""
    from tests.browser.harness import Pages

    opened = Pages(browser, str(crowd.client.server.make_url("/")))
    try:
        yield opened
        await opened.assert_clean()
    finally:
        await opened.close()
