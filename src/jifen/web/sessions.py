"""Signed cookies and CSRF tokens, as pure functions of a key and a clock.

The cookie key is derived from the service's database-held signing key, so every worker
agrees on it and the bearer-token key itself never signs a cookie. A session cookie names
the principal, a random nonce and a tag of the password hash (a password change signs the
user out everywhere); it is signed and timestamped, and older than the session lifetime it
is worth nothing. A CSRF token is the nonce of the browser's session (or, before sign-in,
of its pre-session cookie) signed under another salt: a token is good only for the
browser whose HttpOnly cookie carries that nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

SESSION_COOKIE = "jifen_web_session"
PRESESSION_COOKIE = "jifen_web_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A pre-session only carries the sign-in form's CSRF token: two hours to fill it in.
PRESESSION_TTL_SECONDS = 2 * 3600

_COOKIE_KEY_LABEL = b"jifen.web.cookies.v1"
_SESSION_SALT = "jifen.web.session"
_PRESESSION_SALT = "jifen.web.presession"
_CSRF_SALT = "jifen.web.csrf"

Clock = Callable[[], datetime]


def cookie_key(service_key: bytes) -> bytes:
    """The key for cookies and CSRF tokens, derived from the service's signing key."""
    return hmac.new(service_key, _COOKIE_KEY_LABEL, hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def password_tag(key: bytes, password_hash: str) -> str:
    """Changes when the password does; reveals nothing of the hash."""
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class SessionCookie:
    principal_id: uuid.UUID
    nonce: str
    password_tag: str


class _ClockSigner(TimestampSigner):
    """A timestamp signer that reads the injected clock (tests move it forward)."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


class Signer:
    """Dumps and loads the web pages' signed values with one key and one clock."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        def serializer(salt: str) -> URLSafeTimedSerializer:
            return URLSafeTimedSerializer(
                key, salt=salt, signer=_ClockSigner, signer_kwargs={"clock": clock}
            )

        self._session = serializer(_SESSION_SALT)
        self._presession = serializer(_PRESESSION_SALT)
        self._csrf = serializer(_CSRF_SALT)
        self.key = key

    def dump_session(self, cookie: SessionCookie) -> str:
        payload = {"u": str(cookie.principal_id), "n": cookie.nonce, "p": cookie.password_tag}
        return str(self._session.dumps(payload))

    def load_session(self, value: str | None, ttl_seconds: int) -> SessionCookie | None:
        """The session if the cookie is ours, intact and younger than `ttl_seconds`."""
        payload = _load(self._session, value, ttl_seconds)
        if not isinstance(payload, dict):
            return None
        try:
            return SessionCookie(
                principal_id=uuid.UUID(str(payload["u"])),
                nonce=str(payload["n"]),
                password_tag=str(payload["p"]),
            )
        except (KeyError, ValueError):
            return None

    def dump_presession(self, nonce: str) -> str:
        return str(self._presession.dumps(nonce))

    def load_presession(self, value: str | None) -> str | None:
        nonce = _load(self._presession, value, PRESESSION_TTL_SECONDS)
        return nonce if isinstance(nonce, str) else None

    def csrf_token(self, nonce: str) -> str:
        return str(self._csrf.dumps(nonce))

    def csrf_token_matches(self, token: str | None, nonces: set[str], ttl_seconds: int) -> bool:
        signed = _load(self._csrf, token, ttl_seconds)
        if not isinstance(signed, str):
            return False
        # Compare against every candidate, so timing says nothing of which one matched.
        matched = False
        for nonce in nonces:
            matched |= hmac.compare_digest(signed.encode(), nonce.encode())
        return matched


def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> object:
    if not value or len(value) > 4096:
        return None
    try:
        return serializer.loads(value, max_age=max_age)
    except BadData:
        return None


def safe_next(value: str | None, root: str) -> str | None:
    """`value` if it is a path of these pages (under `root` + "/"), else None.

    Refuses anything a browser could take for another origin ("//host", "/\\host",
    "https:..."), control characters, and dot segments that would climb out of `root`.
    """
    if not value or len(value) > 2000:
        return None
    if any(ch in value for ch in "\\\r\n\t\x00") or not value.isprintable():
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return None
    if not parts.path.startswith(f"{root}/"):
        return None
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return None
    # Percent-encoded dots and slashes climb too once a server or proxy decodes them.
    lowered = parts.path.lower()
    if "%2e" in lowered or "%2f" in lowered or "%5c" in lowered:
        return None
    return value
