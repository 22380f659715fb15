"""/docs and /redoc render the API with every non-local request blocked."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Page, Route

from tests.web.support import LiveServer


def _block_the_internet(page: Page, blocked: list[str]) -> None:
    def handle(route: Route) -> None:
        host = urlparse(route.request.url).hostname
        if host in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            blocked.append(f"{route.request.resource_type} {route.request.url}")
            route.abort()

    page.route("**/*", handle)


def test_swagger_ui_renders_offline(page: Page, live_server: LiveServer) -> None:
    blocked: list[str] = []
    _block_the_internet(page, blocked)
    page.goto(live_server.url + "/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="jifen").wait_for()
    # An operation of the API is listed.
    page.locator(".opblock-summary-path", has_text="/v1/entries").first.wait_for()
    assert blocked == []


def test_redoc_renders_offline(page: Page, live_server: LiveServer) -> None:
    blocked: list[str] = []
    _block_the_internet(page, blocked)
    page.goto(live_server.url + "/redoc")
    page.locator("h1", has_text="jifen").first.wait_for()
    page.get_by_text("/v1/entries").first.wait_for()
    # ReDoc's bundle still asks for one decorative image (the Redocly logo in its
    # sidebar); the page works without it. Nothing it needs (script, style, font, data)
    # goes off the machine.
    assert all(b.startswith("image ") for b in blocked), blocked
