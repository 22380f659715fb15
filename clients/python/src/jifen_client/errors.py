"""Refusals from the jifen API, as exceptions: one base class, one subclass per status.

Switch on `error.code` (the problem's stable code, e.g. `insufficient_points`; every
code is listed in the server's docs/errors.md); the subclasses only save an `if` for
the common cases. The token endpoint answers errors in the RFC 6749 format
(`{"error": ..., "error_description": ...}`): its `error` becomes the code.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "Conflict",
    "IdempotencyKeyReused",
    "InsufficientPoints",
    "InvalidRequest",
    "JifenError",
    "NotFound",
    "RateLimited",
    "ServerError",
]

DETAIL_LENGTH_MAX = 500
# The members every problem has (RFC 9457, and jifen's `code`); the others are `fields`.
_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


class JifenError(Exception):
    """The API refused a request: `status`, the problem `code`, `title` and `detail` (in
    the language asked for), the problem's own `fields` (`balance_points`, `errors`,
    ...), and the whole problem body (RFC 9457) in `problem`."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem = problem

    @property
    def title(self) -> str:
        return str(self.problem.get("title") or "")

    @property
    def fields(self) -> dict[str, Any]:
        """What the problem carries beyond its standard members."""
        return {k: v for k, v in self.problem.items() if k not in _STANDARD_MEMBERS}


class InvalidRequest(JifenError):
    """400 or 422: the request is malformed or breaks a rule (`validation_failed`, ...)."""


class AuthenticationFailed(JifenError):
    """401: credentials missing, unknown, expired or revoked (`invalid_client` from the
    token endpoint)."""


class AccessDenied(JifenError):
    """403: the credentials may not do this (a permission or a token scope is missing)."""


class NotFound(JifenError):
    """404: not there, or not the caller's to see."""


class Conflict(JifenError):
    """409: the state does not allow it (`insufficient_points`, `entry_already_reversed`)."""


class RateLimited(JifenError):
    """429: too many requests; `retry_after` is how many seconds to wait, when known."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        problem: dict[str, Any],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code, detail, problem)
        self.retry_after = retry_after


class ServerError(JifenError):
    """5xx: the service failed; nothing was booked (a retry with the same key is safe)."""


class InsufficientPoints(Conflict):
    """Spending would take an account below its floor (`balance_points`, ...)."""


class IdempotencyKeyReused(InvalidRequest):
    """The Idempotency-Key was first used for a different request."""


_BY_CODE: dict[str, type[JifenError]] = {
    "insufficient_points": InsufficientPoints,
    "idempotency_key_reused": IdempotencyKeyReused,
}
_BY_STATUS: dict[int, type[JifenError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
}


def error_from_response(response: httpx.Response) -> JifenError:
    """The exception for an error response, whatever its body."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        problem: dict[str, Any] = body
        code = body["code"]
        detail = str(body.get("detail") or body.get("title") or "")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        problem = body
        code = body["error"]
        detail = str(body.get("error_description") or "")
    else:  # not from jifen itself: a proxy's page, say
        problem = {}
        code = f"http_{status}"
        detail = response.text[:DETAIL_LENGTH_MAX]
    if status == 429:
        return RateLimited(status, code, detail, problem, retry_after_seconds(response))
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else JifenError
    return cls(status, code, detail, problem)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header (seconds or an HTTP date) as seconds from now."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
