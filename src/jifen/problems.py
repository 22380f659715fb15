"""RFC 9457 problem details: one base class for every refusal, one renderer.

Each refusal has a stable `code` (also the last part of its `type` URI) that clients
switch on; `title` and `detail` are for people. Extra fields explain the refusal
(`balance_points`, `requested_points`, ...).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from jifen.db import DatabaseUnavailable
from jifen.kit.pagination import CursorError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:jifen:problem:"

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "malformed_request",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


class Problem(Exception):
    code: ClassVar[str] = "problem"
    title: ClassVar[str] = "Request refused"
    # The title in Chinese (zh-CN) for villagers and clerks; every refusal names its own.
    title_zh: ClassVar[str] = "请求被拒绝"
    status: ClassVar[int] = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        # Response headers the refusal needs (WWW-Authenticate, Retry-After).
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(Problem):
    code = "not_found"
    title = "Not found"
    status = 404

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(f"{resource} {identifier} does not exist", resource=resource)


class ValidationFailed(Problem):
    code = "validation_failed"
    title = "The request is not valid"
    status = 422


class AlreadyExists(Problem):
    code = "already_exists"
    title = "It already exists"
    status = 409


class IdempotencyKeyReused(Problem):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used for a different request"
    status = 422


class InvalidCursor(Problem):
    code = "invalid_cursor"
    title = "The pagination cursor is not valid"
    status = 422


class InternalError(Problem):
    code = "internal_error"
    title = "Internal error"
    status = 500


class ServiceUnavailable(Problem):
    """A bounded wait ran out: the database is down, frozen or busy past the bound.

    `outcome` says what became of the request: `not_written` (nothing of it was kept;
    retry), or `unknown` (the commit was under way: retry with the same Idempotency-Key,
    which answers as the first did if it was kept).
    """

    code = "service_unavailable"
    title = "The service cannot answer right now; try again shortly"
    status = 503

    def __init__(self, detail: str, *, retry_after_seconds: int, outcome: str) -> None:
        super().__init__(detail, outcome=outcome, retry_after_seconds=retry_after_seconds)
        self.headers["Retry-After"] = str(retry_after_seconds)


class ProblemBody(BaseModel):
    """The shape of every error response (RFC 9457), for the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:jifen:problem:insufficient_points"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable reason; clients switch on it.")
    instance: str | None = None


def problem_responses(*problems: type[Problem]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that may answer with these problems."""
    by_status: dict[int, list[str]] = {}
    declared: tuple[type[Problem], ...] = (*problems, ValidationFailed)
    for problem in declared:
        by_status.setdefault(problem.status, []).append(problem.code)
    return {
        status: {
            "model": ProblemBody,
            "description": "Refused: " + ", ".join(sorted(set(codes))),
            "content": {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
            },
        }
        for status, codes in sorted(by_status.items())
    }


def render(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers or None,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        errors.append(
            {
                "location": [str(part) for part in error.get("loc", ())],
                "message": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return errors


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return render(exc, request)

    @app.exception_handler(CursorError)
    async def _cursor(request: Request, exc: CursorError) -> JSONResponse:
        return render(InvalidCursor(f"cursor {exc} is not one this list gave out"), request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = ValidationFailed(
            "The request does not match the schema", errors=_validation_errors(exc)
        )
        return render(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return render(NotFound("route", request.url.path), request)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        body = {
            "type": PROBLEM_TYPE_PREFIX + code,
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "code": code,
            "instance": request.url.path,
        }
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=exc.headers
        )

    def _unavailable(request: Request, detail: str, outcome: str) -> JSONResponse:
        retry_after: int = request.app.state.settings.retry_after_seconds
        problem = ServiceUnavailable(detail, retry_after_seconds=retry_after, outcome=outcome)
        return render(problem, request)

    @app.exception_handler(DatabaseUnavailable)
    async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return _unavailable(request, exc.detail, exc.outcome)

    @app.exception_handler(OperationalError)
    async def _database_failed(request: Request, exc: OperationalError) -> JSONResponse:
        # A lock or statement wait ran out, or the database is unreachable: the
        # transaction was rolled back.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(request, "the database did not answer in time", "not_written")

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        return _unavailable(request, "every database connection stayed busy", "not_written")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return render(InternalError("An unexpected error occurred; nothing was booked."), request)
