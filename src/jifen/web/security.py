"""What guards every web page: response headers, the CSRF and origin check on every
state-changing request, and the throttle on failed sign-ins.

The CSRF guard is middleware, so a form added later cannot forget it: every POST (PUT,
PATCH, DELETE) under the web pages is refused with 403 unless its Origin (when sent) is
this very origin, the browser does not call it cross-site, and it carries a token bound
to the nonce of the browser's own session or pre-session cookie — in the form field
`csrf_token` of a urlencoded body, or in the `X-CSRF-Token` header. It reads the body
(at most FORM_BYTES_MAX), leaves the parsed form for the page, and hands the body on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import FormData, MutableHeaders, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.web.sessions import CSRF_FIELD, CSRF_HEADER, PRESESSION_COOKIE, SESSION_COOKIE, Signer

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_BYTES_MAX = 64 * 1024
FORM_FIELDS_MAX = 200

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def route_path(scope: Scope) -> str:
    """The path inside the web pages' mount ("/login" for "/web/login")."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class SecurityHeaders:
    """Sets the security headers on every response; pages are never stored, the
    stylesheet is revalidated."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cache_control = "no-cache" if route_path(scope).startswith("/static/") else "no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["Cache-Control"] = cache_control
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site or origin."""
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers and non-browser clients; the token still decides
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.lower() == own.lower()


Refusal = Callable[[Request, int, str], Response]


class CsrfGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        signer: Callable[[], Awaitable[Signer]],
        token_ttl_seconds: int,
        refuse: Refusal,
    ) -> None:
        self.app = app
        self._signer = signer
        self._ttl = token_ttl_seconds
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)

        async def refuse(status: int, reason: str) -> None:
            await self._refuse(request, status, reason)(scope, receive, send)

        if not is_same_origin(request):
            await refuse(403, "origin")
            return
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > FORM_BYTES_MAX:
            await refuse(413, "too_large")
            return
        body = await _read_body(receive, FORM_BYTES_MAX)
        if body is None:
            await refuse(413, "too_large")
            return
        fields: list[tuple[str, str | UploadFile]] = []
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            try:
                fields = list(
                    parse_qsl(
                        body.decode("utf-8"),
                        keep_blank_values=True,
                        max_num_fields=FORM_FIELDS_MAX,
                    )
                )
            except (UnicodeDecodeError, ValueError):
                await refuse(400, "malformed")
                return
        posted = dict(fields).get(CSRF_FIELD)
        token = posted if isinstance(posted, str) else request.headers.get(CSRF_HEADER)
        signer = await self._signer()
        nonces = set()
        session = signer.load_session(request.cookies.get(SESSION_COOKIE), self._ttl)
        if session is not None:
            nonces.add(session.nonce)
        presession = signer.load_presession(request.cookies.get(PRESESSION_COOKIE))
        if presession is not None:
            nonces.add(presession)
        if not signer.csrf_token_matches(token, nonces, self._ttl):
            await refuse(403, "csrf")
            return
        scope.setdefault("state", {})["web_form"] = FormData(fields)
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class SignInThrottle:
    """Failed sign-ins per username and per client address (moving windows).

    Only failures count, and a throttled attempt is answered before any password is
    checked. Counters live in the process, as the API's rate limits do: with several
    workers each enforces the limits on its share of the attempts.
    """

    def __init__(
        self,
        per_username: RateLimitItem | None = None,
        per_address: RateLimitItem | None = None,
    ) -> None:
        self._per_username = per_username or RateLimitItemPerMinute(5, 5)
        self._per_address = per_address or RateLimitItemPerMinute(30, 5)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _keys(self, username: str, address: str) -> list[tuple[RateLimitItem, str]]:
        return [
            (self._per_username, f"web-signin:user:{username.casefold()}"),
            (self._per_address, f"web-signin:address:{address}"),
        ]

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds to wait if either limit is spent, else None."""
        waits = [
            max(1, math.ceil(self._limiter.get_window_stats(item, key).reset_time - time.time()))
            for item, key in self._keys(username, address)
            if not self._limiter.test(item, key)
        ]
        return max(waits) if waits else None

    def record_failure(self, username: str, address: str) -> None:
        for item, key in self._keys(username, address):
            self._limiter.hit(item, key)
