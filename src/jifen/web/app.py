"""The web pages' application: sign-in, sign-out and the home page, mounted under /web."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from jifen.access.guard import Caller
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.web import service, till, township
from jifen.web.pages import (
    WebState,
    clear_session_cookie,
    current_user,
    form_of,
    render,
    render_error,
    root_of,
    set_session_cookie,
    signed_in,
    web_of,
)
from jifen.web.security import CsrfGuard, SecurityHeaders, SignInThrottle
from jifen.web.sessions import SESSION_COOKIE, new_nonce, safe_next

log = logging.getLogger("jifen.web")

WRONG_CREDENTIALS = "用户名或密码错误"


def login_page(request: Request) -> Response:
    root = root_of(request)
    next_path = safe_next(request.query_params.get("next"), root)
    if current_user(request) is not None:
        return RedirectResponse(next_path or f"{root}/", status_code=303)
    response = render(request, "login.html", error=None, username="", next=next_path or "")
    if SESSION_COOKIE in request.cookies:
        clear_session_cookie(request, response)  # expired, tampered or its user disabled
    return response


def login_submit(request: Request) -> Response:
    web = web_of(request)
    root = root_of(request)
    form = form_of(request)
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "")), root)
    address = request.client.host if request.client else "unknown"

    def again(status_code: int, error: str, headers: dict[str, str] | None = None) -> Response:
        return render(
            request,
            "login.html",
            status_code=status_code,
            headers=headers,
            error=error,
            username=username[: service.USERNAME_LENGTH_MAX],
            next=next_path or "",
        )

    retry_after = web.throttle.retry_after(username, address)
    if retry_after is not None:
        log.warning("web sign-in throttled: username=%r address=%s", username, address)
        minutes = -(-retry_after // 60)
        return again(
            429, f"尝试次数过多，请 {minutes} 分钟后再试", {"Retry-After": str(retry_after)}
        )
    user = None
    if (
        username
        and password
        and len(username) <= service.USERNAME_LENGTH_MAX
        and len(password) <= service.PASSWORD_LENGTH_MAX
    ):
        with web.database.unit_of_work(write=False) as session:
            user = service.sign_in(session, username=username, password=password)
    if user is None:
        web.throttle.record_failure(username, address)
        log.info("web sign-in failed: username=%r address=%s", username, address)
        return again(401, WRONG_CREDENTIALS)
    cookie = service.session_cookie_for(user, key=web.signer().key, nonce=new_nonce())
    response = RedirectResponse(next_path or f"{root}/", status_code=303)
    set_session_cookie(request, response, cookie)
    log.info("web sign-in: principal=%s address=%s", user.id, address)
    return response


def logout(request: Request) -> Response:
    response = RedirectResponse(f"{root_of(request)}/login", status_code=303)
    clear_session_cookie(request, response)
    return response


@signed_in
def home(request: Request, caller: Caller) -> Response:
    with web_of(request).database.unit_of_work(write=False) as session:
        roles = service.roles_held(session, caller)
    return render(request, "home.html", user=caller, roles=roles)


def _http_error(request: Request, exc: Exception) -> Response:
    status_code = exc.status_code if isinstance(exc, HTTPException) else 500
    return render_error(request, status_code, "not_found" if status_code == 404 else "default")


def build_web_app(
    settings: Settings,
    database: Database,
    *,
    clock: Callable[[], datetime] = utc_now,
    throttle: SignInThrottle | None = None,
) -> Starlette:
    """The web pages, to mount under /web (a Starlette app of its own: its routes are
    pages, not access-checked API routes)."""
    state = WebState(settings, database, clock=clock, throttle=throttle or SignInThrottle())
    app = Starlette(
        routes=[
            Route("/", home, methods=["GET"], name="home"),
            Route("/login", login_page, methods=["GET"], name="login"),
            Route("/login", login_submit, methods=["POST"], name="login_submit"),
            Route("/logout", logout, methods=["POST"], name="logout"),
            *till.routes(),
            *township.routes(),
            Mount("/static", StaticFiles(packages=[("jifen.web", "static")]), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                CsrfGuard,
                signer=state.signer_async,
                token_ttl_seconds=settings.web_session_ttl_seconds,
                refuse=till.refusal,
            ),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.web = state
    return app
