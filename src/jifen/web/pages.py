"""What every web page uses: the app's state, templates, the signed-in user, forms.

Pages are plain `def` endpoints (Starlette runs them in its thread pool, as the API's
routes run): decorate one with `@signed_in` to get the `Caller`, read its posted form
with `form_of(request)` (the CSRF guard has checked it already), answer with
`render(request, "page.html", ...)`; templates get `root` (the mount path) and
`csrf_token()` for their forms.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jifen.access import credentials
from jifen.access.guard import Caller
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import local_date
from jifen.web import service
from jifen.web.security import SignInThrottle
from jifen.web.sessions import (
    PRESESSION_COOKIE,
    PRESESSION_TTL_SECONDS,
    SESSION_COOKIE,
    Clock,
    SessionCookie,
    Signer,
    cookie_key,
    new_nonce,
    safe_next,
)

templates = Environment(
    loader=PackageLoader("jifen.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
)


class WebState:
    """The web pages' settings, database, clock and signing key (loaded once, from the
    database, by whichever request needs it first)."""

    def __init__(
        self, settings: Settings, database: Database, *, clock: Clock, throttle: SignInThrottle
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.throttle = throttle
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def signer(self) -> Signer:
        signer = self._signer
        if signer is None:
            with self._lock:
                signer = self._signer
                if signer is None:
                    # A write unit of work: the first use anywhere creates the key.
                    with self.database.unit_of_work() as session:
                        key = credentials.signing_key(session, self.clock())
                    signer = self._signer = Signer(cookie_key(key), self.clock)
        return signer

    async def signer_async(self) -> Signer:
        signer = self._signer
        return signer if signer is not None else await run_in_threadpool(self.signer)

    @property
    def session_ttl_seconds(self) -> int:
        return self.settings.web_session_ttl_seconds


def web_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def root_of(request: Request) -> str:
    """Where the pages are mounted ("/web"): links, redirects and the cookie path."""
    return str(request.scope.get("root_path", ""))


# --- who is signed in ---------------------------------------------------------------------


@dataclass(frozen=True)
class _SignedIn:
    caller: Caller
    cookie: SessionCookie


def _signed_in(request: Request) -> _SignedIn | None:
    if hasattr(request.state, "web_signed_in"):
        cached: _SignedIn | None = request.state.web_signed_in
        return cached
    web = web_of(request)
    found: _SignedIn | None = None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        signer = web.signer()
        cookie = signer.load_session(raw, web.session_ttl_seconds)
        if cookie is not None:
            today = local_date(web.clock(), web.settings.zone)
            with web.database.unit_of_work(write=False) as session:
                caller = service.find_signed_in(session, cookie, key=signer.key, today=today)
            if caller is not None:
                found = _SignedIn(caller, cookie)
    request.state.web_signed_in = found
    return found


def current_user(request: Request) -> Caller | None:
    """The signed-in user of this request, or None. Reads the database: call it from a
    plain `def` page (or through run_in_threadpool)."""
    signed = _signed_in(request)
    return signed.caller if signed else None


Page = Callable[[Request], Response]


def signed_in(page: Callable[[Request, Caller], Response]) -> Page:
    """A page for signed-in users only; others are sent to sign in, and come back."""

    @functools.wraps(page)
    def guarded(request: Request) -> Response:
        caller = current_user(request)
        if caller is None:
            return redirect_to_login(request)
        return page(request, caller)

    return guarded


def redirect_to_login(request: Request) -> Response:
    root = root_of(request)
    target = f"{root}/login"
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if safe_next(here, root):
            target += f"?next={quote(here, safe='')}"
    response = RedirectResponse(target, status_code=303)
    if SESSION_COOKIE in request.cookies:
        clear_session_cookie(request, response)
    return response


# --- cookies and forms --------------------------------------------------------------------


def _cookie_options(request: Request) -> dict[str, Any]:
    return {
        "path": root_of(request) or "/",
        "secure": web_of(request).settings.web_cookie_secure,
        "httponly": True,
        "samesite": "lax",
    }


def set_session_cookie(request: Request, response: Response, cookie: SessionCookie) -> None:
    web = web_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        web.signer().dump_session(cookie),
        max_age=web.session_ttl_seconds,
        **_cookie_options(request),
    )
    # The pre-session served the sign-in form; the session's own nonce takes over.
    response.delete_cookie(PRESESSION_COOKIE, **_cookie_options(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, **_cookie_options(request))


def csrf_token(request: Request) -> str:
    """The token for a form on this page: bound to the session, or before sign-in to a
    pre-session cookie (made here if the browser has none; `render` sets it)."""
    web = web_of(request)
    signer = web.signer()
    signed = _signed_in(request)
    if signed is not None:
        return signer.csrf_token(signed.cookie.nonce)
    nonce: str | None = getattr(request.state, "web_new_presession", None)
    if nonce is None:
        nonce = signer.load_presession(request.cookies.get(PRESESSION_COOKIE))
    if nonce is None:
        nonce = new_nonce()
        request.state.web_new_presession = nonce
    return signer.csrf_token(nonce)


def form_of(request: Request) -> FormData:
    """The posted form, as the CSRF guard read and checked it (empty for a GET)."""
    form: FormData = request.scope.get("state", {}).get("web_form", FormData())
    return form


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    html = templates.get_template(template).render(
        root=root_of(request), csrf_token=lambda: csrf_token(request), **context
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    nonce: str | None = getattr(request.state, "web_new_presession", None)
    if nonce is not None:
        response.set_cookie(
            PRESESSION_COOKIE,
            web_of(request).signer().dump_presession(nonce),
            max_age=PRESESSION_TTL_SECONDS,
            **_cookie_options(request),
        )
    return response


def render_error(request: Request, status_code: int, reason: str) -> HTMLResponse:
    """An error page. Reads no database and sets no cookie."""
    title, message = ERRORS.get(reason, ERRORS["default"])
    html = templates.get_template("error.html").render(
        root=root_of(request), title=title, message=message, status_code=status_code
    )
    return HTMLResponse(html, status_code=status_code)


ERRORS: dict[str, tuple[str, str]] = {
    "csrf": ("页面已过期", "表单已失效或来源不明，请返回并刷新页面后重试。"),
    "origin": ("请求被拒绝", "该请求并非来自本站页面。"),
    "too_large": ("提交内容过大", "提交的内容超出了允许的大小。"),
    "malformed": ("无法识别的请求", "提交的表单格式不正确。"),
    "not_found": ("页面不存在", "找不到您要访问的页面。"),
    "default": ("出错了", "无法完成此请求。"),
}
