"""Sign-in to the web pages: the form, its CSRF token, the session cookie, sign-out, the
throttle — through Starlette's TestClient, then in a real browser (Debian's chromium,
driven by Playwright) against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from limits import RateLimitItemPerMinute
from playwright.sync_api import BrowserContext, Page, expect
from starlette.applications import Starlette
from starlette.routing import Mount

from jifen.access import service as access
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.main import create_app
from jifen.web import build_web_app
from jifen.web.security import SignInThrottle
from jifen.web.sessions import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    SessionCookie,
    Signer,
    cookie_key,
    safe_next,
)
from tests.web.support import STAFF_PASSWORD, LiveServer, StaffUser, make_staff_user, sign_in

WRONG = "用户名或密码错误"


@pytest.fixture
def web(settings: Settings, db: Database) -> Iterator[TestClient]:
    """The whole app, as `jifen serve` runs it, with the web pages mounted at /web."""
    with TestClient(create_app(settings, db), raise_server_exceptions=True) as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _web_only(settings: Settings, db: Database, **options: Any) -> TestClient:
    """The web pages alone, with a clock or throttle of the test's own."""
    app = Starlette(routes=[Mount("/web", build_web_app(settings, db, **options))])
    return TestClient(app, raise_server_exceptions=True)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(
    client: TestClient, username: str, password: str, *, next_path: str = ""
) -> httpx.Response:
    page = client.get("/web/login")
    assert page.status_code == 200
    return client.post(
        "/web/login",
        data={
            "csrf_token": _csrf(page.text),
            "username": username,
            "password": password,
            "next": next_path,
        },
        follow_redirects=False,
    )


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """The attributes each Set-Cookie header gives its cookie (lower case), by name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, _, attributes = header.partition(";")
        found[name_value.split("=", 1)[0]] = attributes.lower()
    return found


def _is_login_redirect(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/web/login")


# --- the sign-in page ---------------------------------------------------------------------


def test_login_page_has_a_csrf_field_and_strict_headers(web: TestClient) -> None:
    page = web.get("/web/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for label in ("用户名", "密码", "登录"):
        assert label in page.text
    assert _csrf(page.text)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script" not in page.text and " style=" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    presession = _set_cookies(page)[PRESESSION_COOKIE]
    assert "httponly" in presession and "samesite=lax" in presession and "path=/web" in presession
    # The stylesheet the CSP allows is served from the same origin.
    css = web.get("/web/static/web.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_values_are_escaped_in_pages(web: TestClient, clerk: StaffUser) -> None:
    response = _sign_in(web, '<script>alert("x")</script>', "nope")
    assert response.status_code == 401
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert" in response.text


# --- refusals -----------------------------------------------------------------------------


def test_wrong_password_unknown_user_and_disabled_user_get_one_answer(
    web: TestClient, db: Database, clerk: StaffUser
) -> None:
    disabled = make_staff_user(db, username="former.clerk", name="离任文书")
    with db.unit_of_work() as session:
        access.update_user(
            session, disabled.id, name=None, password=None, disabled=True, now=utc_now()
        )
    for username, password in [
        (clerk.username, "not the password"),
        ("nobody.here", STAFF_PASSWORD),
        (disabled.username, STAFF_PASSWORD),
        ("", ""),
    ]:
        response = _sign_in(web, username, password)
        assert response.status_code == 401, username
        assert WRONG in response.text
        assert SESSION_COOKIE not in _set_cookies(response)
        assert SESSION_COOKIE not in web.cookies
    assert _is_login_redirect(web.get("/web/", follow_redirects=False))


def test_state_changing_posts_need_a_token_of_this_browser_and_this_origin(
    web: TestClient, settings: Settings, db: Database, clerk: StaffUser
) -> None:
    token = _csrf(web.get("/web/login").text)
    form = {"username": clerk.username, "password": STAFF_PASSWORD}

    def post(data: dict[str, str], **headers: str) -> httpx.Response:
        return web.post("/web/login", data=data, headers=headers, follow_redirects=False)

    assert post(form).status_code == 403  # no token
    assert post({**form, "csrf_token": "forged"}).status_code == 403
    # Well formed, but signed with another key.
    forged = Signer(cookie_key(b"another service key"), utc_now).csrf_token("any-nonce")
    assert post({**form, "csrf_token": forged}).status_code == 403
    # Another browser's valid token is worth nothing here.
    with TestClient(create_app(settings, db)) as other:
        theirs = _csrf(other.get("/web/login").text)
    assert post({**form, "csrf_token": theirs}).status_code == 403
    # A valid token, but the browser says the form was posted from elsewhere.
    refused = post({**form, "csrf_token": token}, origin="https://evil.example")
    assert refused.status_code == 403 and "请求被拒绝" in refused.text
    assert post({**form, "csrf_token": token}, origin="null").status_code == 403
    assert (
        post({**form, "csrf_token": token}, **{"sec-fetch-site": "cross-site"}).status_code == 403
    )
    assert SESSION_COOKIE not in web.cookies
    # The same token, from this origin, passes.
    signed_in = post({**form, "csrf_token": token}, origin="http://testserver")
    assert signed_in.status_code == 303 and SESSION_COOKIE in web.cookies

    # Sign-out needs the session's token too: without it the session survives.
    assert web.post("/web/logout", follow_redirects=False).status_code == 403
    assert web.get("/web/").status_code == 200


def test_oversized_and_malformed_posts_are_refused(web: TestClient) -> None:
    token = _csrf(web.get("/web/login").text)
    big = web.post("/web/login", data={"csrf_token": token, "username": "x" * 70_000})
    assert big.status_code == 413
    multipart = web.post("/web/login", files={"csrf_token": (None, token)})
    assert multipart.status_code == 403  # only urlencoded forms carry the token in the body


# --- a session ----------------------------------------------------------------------------


def test_sign_in_sets_a_hardened_cookie_and_home_shows_who(
    web: TestClient, settings: Settings, clerk: StaffUser
) -> None:
    response = _sign_in(web, clerk.username, STAFF_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/"
    cookies = _set_cookies(response)
    session = cookies[SESSION_COOKIE]
    assert "httponly" in session and "samesite=lax" in session and "path=/web" in session
    assert f"max-age={settings.web_session_ttl_seconds}" in session
    assert "secure" not in session  # web_cookie_secure is off by default
    assert "max-age=0" in cookies[PRESESSION_COOKIE]  # the pre-session is done

    home = web.get("/web/")
    assert home.status_code == 200
    assert clerk.name in home.text
    assert "村干部" in home.text and clerk.village_name in home.text
    assert 'action="/web/logout"' in home.text and _csrf(home.text)
    assert home.headers["cache-control"] == "no-store"
    assert home.headers["x-frame-options"] == "DENY"
    # Signed in, the sign-in page sends the user home.
    again = web.get("/web/login", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/web/"


def test_cookie_is_secure_when_configured(
    settings: Settings, db: Database, clerk: StaffUser
) -> None:
    secure = settings.model_copy(update={"web_cookie_secure": True})
    with TestClient(create_app(secure, db), base_url="https://testserver") as client:
        response = _sign_in(client, clerk.username, STAFF_PASSWORD)
    assert response.status_code == 303
    assert "; secure" in _set_cookies(response)[SESSION_COOKIE]


def test_a_tampered_cookie_is_sent_to_sign_in(
    web: TestClient, settings: Settings, db: Database, clerk: StaffUser
) -> None:
    other = make_staff_user(db, username="wang.kuaiji", name="王会计")
    assert _sign_in(web, clerk.username, STAFF_PASSWORD).status_code == 303
    genuine = web.cookies[SESSION_COOKIE]
    payload, timestamp, signature = genuine.rsplit(".", 2)  # a compressed payload starts with "."
    # Claim to be another user: the signature no longer matches.
    claimed = SessionCookie(principal_id=other.id, nonce="n", password_tag="t")
    forged_payload = Signer(b"x" * 32, utc_now).dump_session(claimed).rsplit(".", 2)[0]
    # The first character of the signature carries six bits of it: changing it breaks it.
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for value in [
        f"{forged_payload}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{flipped}",
        Signer(b"x" * 32, utc_now).dump_session(claimed),  # signed with a wrong key
        "garbage",
    ]:
        with TestClient(create_app(settings, db)) as stranger:
            response = stranger.get(
                "/web/", headers={"Cookie": f"{SESSION_COOKIE}={value}"}, follow_redirects=False
            )
            assert _is_login_redirect(response), value
            # The useless cookie is cleared.
            assert "max-age=0" in _set_cookies(response)[SESSION_COOKIE]
    with TestClient(create_app(settings, db)) as browser:
        response = browser.get("/web/", headers={"Cookie": f"{SESSION_COOKIE}={genuine}"})
        assert response.status_code == 200 and clerk.name in response.text


def test_a_session_expires_after_its_lifetime(
    settings: Settings, db: Database, clerk: StaffUser
) -> None:
    clock = Clock()
    short = settings.model_copy(update={"web_session_ttl_seconds": 60})
    with _web_only(short, db, clock=clock) as client:
        response = _sign_in(client, clerk.username, STAFF_PASSWORD)
        assert "max-age=60" in _set_cookies(response)[SESSION_COOKIE]
        clock.now += timedelta(seconds=60)
        assert client.get("/web/").status_code == 200
        clock.now += timedelta(seconds=1)
        assert _is_login_redirect(client.get("/web/", follow_redirects=False))


def test_logout_clears_the_session(web: TestClient, clerk: StaffUser) -> None:
    assert _sign_in(web, clerk.username, STAFF_PASSWORD).status_code == 303
    home = web.get("/web/")
    response = web.post(
        "/web/logout", data={"csrf_token": _csrf(home.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/web/login"
    cleared = _set_cookies(response)[SESSION_COOKIE]
    assert "max-age=0" in cleared and "path=/web" in cleared
    assert SESSION_COOKIE not in web.cookies
    assert _is_login_redirect(web.get("/web/", follow_redirects=False))


def test_disabling_a_user_or_changing_their_password_ends_their_sessions(
    web: TestClient, settings: Settings, db: Database, clerk: StaffUser
) -> None:
    assert _sign_in(web, clerk.username, STAFF_PASSWORD).status_code == 303
    assert web.get("/web/").status_code == 200
    with db.unit_of_work() as session:
        access.update_user(
            session, clerk.id, name=None, password=None, disabled=True, now=utc_now()
        )
    assert _is_login_redirect(web.get("/web/", follow_redirects=False))

    with db.unit_of_work() as session:
        access.update_user(
            session, clerk.id, name=None, password=None, disabled=False, now=utc_now()
        )
    with TestClient(create_app(settings, db)) as browser:
        assert _sign_in(browser, clerk.username, STAFF_PASSWORD).status_code == 303
        assert browser.get("/web/").status_code == 200
        with db.unit_of_work() as session:
            access.update_user(
                session, clerk.id, name=None, password="新的密码 2026", disabled=None, now=utc_now()
            )
        assert _is_login_redirect(browser.get("/web/", follow_redirects=False))


# --- where sign-in leads ------------------------------------------------------------------


def test_sign_in_returns_to_the_page_asked_for_but_never_elsewhere(
    web: TestClient, settings: Settings, db: Database, clerk: StaffUser
) -> None:
    asked = web.get("/web/?tab=till", follow_redirects=False)
    assert asked.headers["location"] == "/web/login?next=%2Fweb%2F%3Ftab%3Dtill"
    response = _sign_in(web, clerk.username, STAFF_PASSWORD, next_path="/web/?tab=till")
    assert response.headers["location"] == "/web/?tab=till"

    for evil in ["https://evil.example", "//evil.example/web/", "/\\evil.example", "/v1/me"]:
        with TestClient(create_app(settings, db)) as browser:
            response = _sign_in(browser, clerk.username, STAFF_PASSWORD, next_path=evil)
            assert response.headers["location"] == "/web/", evil
            signed_in = browser.get(f"/web/login?next={evil}", follow_redirects=False)
            assert signed_in.headers["location"] == "/web/", evil


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("/web/", True),
        ("/web/till?member=1#top", True),
        ("/web", False),
        ("/webhooks", False),
        ("/v1/me", False),
        ("https://evil.example/web/", False),
        ("//evil.example/web/", False),
        ("///evil.example", False),
        ("/\\evil.example", False),
        ("/web/../v1/me", False),
        ("/web/%2e%2e/v1/me", False),
        ("/web/%2F/evil", False),
        ("javascript:alert(1)", False),
        ("/web/\r\nSet-Cookie: x=1", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_next(value: str | None, allowed: bool) -> None:
    assert safe_next(value, "/web") == (value if allowed else None)


# --- the throttle -------------------------------------------------------------------------


def test_repeated_failures_for_a_username_are_throttled(web: TestClient, clerk: StaffUser) -> None:
    for _ in range(5):
        assert _sign_in(web, clerk.username, "guess").status_code == 401
    throttled = _sign_in(web, clerk.username, STAFF_PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 300
    assert "尝试次数过多" in throttled.text
    assert SESSION_COOKIE not in web.cookies


def test_repeated_failures_from_an_address_are_throttled(
    settings: Settings, db: Database, clerk: StaffUser
) -> None:
    throttle = SignInThrottle(
        per_username=RateLimitItemPerMinute(100, 5), per_address=RateLimitItemPerMinute(3, 5)
    )
    with _web_only(settings, db, throttle=throttle) as client:
        for n in range(3):
            assert _sign_in(client, f"guess{n}", "guess").status_code == 401
        throttled = _sign_in(client, clerk.username, STAFF_PASSWORD)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


# --- in a real browser --------------------------------------------------------------------


@pytest.mark.e2e
def test_sign_in_and_out_in_a_real_browser(
    context: BrowserContext,
    page: Page,
    page_errors: list[str],
    live_server: LiveServer,
    clerk: StaffUser,
) -> None:
    page.goto("/web/?tab=till")
    expect(page).to_have_url(f"{live_server.url}/web/login?next=%2Fweb%2F%3Ftab%3Dtill")
    username = page.get_by_label("用户名", exact=True)
    password = page.get_by_label("密码", exact=True)
    expect(username).to_be_focused()

    username.press_sequentially(clerk.username)
    password.press_sequentially("a wrong guess")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(WRONG)
    assert SESSION_COOKIE not in {c["name"] for c in context.cookies()}

    # The username is kept and the password typed again; Enter sends the form, and the page
    # asked for before the failed attempt is where it leads.
    expect(username).to_have_value(clerk.username)
    expect(password).to_have_value("")
    password.press_sequentially(clerk.password)
    password.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/web/?tab=till")
    expect(page.locator("#user-name")).to_have_text(clerk.name)
    expect(page.locator("#roles")).to_contain_text("村干部")
    expect(page.locator("#roles")).to_contain_text(clerk.village_name)

    # The session cookie is out of the page's reach and as hardened as the server made it;
    # the pre-session is gone.
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Lax", "/web")
    assert session["secure"] is False  # web_cookie_secure is off by default
    assert PRESESSION_COOKIE not in cookies
    # The stylesheet passed the CSP.
    expect(page.locator(".bar")).to_have_css("background-color", "rgb(180, 35, 24)")

    page.get_by_role("button", name="退出登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/web/login")
    expect(page.get_by_label("用户名", exact=True)).to_be_visible()
    assert SESSION_COOKIE not in {c["name"] for c in context.cookies()}
    # Back to the signed-in page: it was never stored, so the browser asks again, and is
    # sent to sign in.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/web/login?next=%2Fweb%2F%3Ftab%3Dtill")
    expect(page.locator("#user-name")).to_have_count(0)
    page.goto("/web/")
    expect(page).to_have_url(f"{live_server.url}/web/login?next=%2Fweb%2F")
    # No script error, and nothing the CSP refused.
    assert page_errors == []


@pytest.mark.e2e
def test_the_sign_in_helper_brings_a_cashier_to_the_page_asked_for(
    page: Page, live_server: LiveServer, cashier: StaffUser
) -> None:
    sign_in(page, cashier, next_path="/web/?tab=till")
    expect(page).to_have_url(f"{live_server.url}/web/?tab=till")
    expect(page.locator("#user-name")).to_have_text(cashier.name)
    expect(page.locator("#roles")).to_contain_text("积分超市收银员")
    expect(page.locator("#roles")).to_contain_text(cashier.village_name)
