"""Fixtures for the web pages in a real browser: Debian's chromium driven by Playwright
against the app served by uvicorn on the test's database (SQLite, and PostgreSQL when the
suite runs on it, like every database test).

    def test_x(page: Page, live_server: LiveServer, cashier: StaffUser) -> None:
        sign_in(page, cashier, next_path="/web/till")
        expect(page.get_by_role("heading")).to_have_text("...")

- `browser`: one headless chromium per test process (xdist worker) while it runs the tests
  of tests/web. Missing chromium skips the test, or fails it when
  JIFEN_TEST_REQUIRE_BROWSER=1 (CI sets it). JIFEN_TEST_CHROMIUM names another executable.
- `live_server`: the whole app (`create_app`, as `jifen serve` serves it, less the webhook
  worker) on a port of its own; it shares `db` and `settings` with the test, so what the
  browser did is in `db`. Override the `settings` fixture in a module to serve other
  settings. An exception that escapes the app fails the test.
- `context`, `page`: a fresh browser context (cookies, localStorage, offline switch, routes)
  and a page in it for each test; relative URLs (`page.goto("/web/")`) go to `live_server`.
- `page_errors`: uncaught exceptions and console errors (a CSP refusal is one) of `page`.
- `clerk`, `cashier`: staff users (village_clerk, supermarket_cashier) of one village;
  `support.make_staff_user` makes others, `support.sign_in` signs one in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from contextlib import suppress

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    expect,
    sync_playwright,
)

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from tests.web.support import LiveServer, StaffUser, make_staff_user, serve

# A shared, slow machine runs two workers: give each step room before calling it stuck.
STEP_TIMEOUT_MS = 15_000
expect.set_options(timeout=STEP_TIMEOUT_MS)


def _chromium() -> str:
    """Chromium's path; skips the test if there is none, or fails it if CI asked for one."""
    found = os.environ.get("JIFEN_TEST_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    reason = "chromium not found: `apt-get install -y chromium` to run the browser tests"
    if os.environ.get("JIFEN_TEST_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope, not session: while Playwright's sync API is started, asyncio takes
    # its loop for the main thread's running loop, and asyncio.run() in a later test of the
    # same worker (tests/test_liveness_under_load.py) would refuse to run. Stopping it when
    # the worker leaves tests/web hands the thread back.
    executable = _chromium()
    with sync_playwright() as playwright:
        # Playwright passes --no-sandbox itself (chromium_sandbox defaults to False), which
        # chromium needs when it runs as root, as it does in a container and in CI.
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    with serve(create_app(settings, db), settings, db) as served:
        yield served
        # Like TestClient(raise_server_exceptions=True): an exception in the app fails the test.
        assert not served.errors, [r.getMessage() for r in served.errors]


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    fresh = browser.new_context(
        base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    fresh.set_default_timeout(STEP_TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()  # closed with its context


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """What went wrong in `page`'s scripts, as it happens: uncaught exceptions, and errors
    on the console (`console.error`, what the CSP refused). A response the browser could not
    load (a 401, a 404, no network) is the network's news, not a script's error: left out."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text}")

    page.on("pageerror", lambda error: errors.append(f"uncaught {error.name}: {error.message}"))
    page.on("console", on_console)
    return errors


@pytest.fixture
def clerk(db: Database) -> StaffUser:
    return make_staff_user(db)


@pytest.fixture
def cashier(db: Database, clerk: StaffUser) -> StaffUser:
    """The supermarket's cashier, in the clerk's village."""
    return make_staff_user(
        db,
        role="supermarket_cashier",
        username="zhao.shouyin",
        name="赵收银",
        village_id=clerk.village_id,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """When a browser test fails, its report shows where the page was and what it showed."""
    report: pytest.TestReport = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and isinstance(page, Page):
        with suppress(Error):
            text = page.locator("body").inner_text(timeout=2_000)
            report.sections.append(("the page when the test failed", f"{page.url}\n\n{text}"))
    return report
