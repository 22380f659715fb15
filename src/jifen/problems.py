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
from starlette.routing import Match

from jifen.db import DatabaseUnavailable
from jifen.kit.pagination import CursorError

PROBLEM_MEDIA_TYPE = "application/problem+json"
# The `type` of every problem links to its entry in the error catalog the app serves
# (resolved against the API's own address, RFC 9457 section 3.1.1); the code is the anchor.
ERROR_CATALOG_PATH = "/v1/errors"
PROBLEM_TYPE_PREFIX = ERROR_CATALOG_PATH + "#"
LANGUAGES = ("en", "zh")

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

    def __init__(
        self, detail: str | None = None, *, detail_zh: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # The detail in Chinese where it is built from a template; otherwise a Chinese
        # reader gets the Chinese title and, if the detail says more, the English detail.
        self.detail_zh = detail_zh
        self.extra = extra
        # Response headers the refusal needs (WWW-Authenticate, Retry-After).
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None, language: str = "en") -> dict[str, Any]:
        title, detail = self.title, self.detail
        if language == "zh":
            title = self.title_zh
            if self.detail_zh:
                detail = self.detail_zh
            elif self.detail == self.title:
                detail = self.title_zh
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": title,
            "status": self.status,
            "detail": detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        for key, value in self.extra.items():
            # An extension member never overwrites an RFC 9457 member (`status` is the
            # HTTP status, not a record's): a colliding key is kept as `extra_<key>`
            # and logged as the bug it is (name domain fields e.g. `record_status`).
            if key in body:
                log.error("problem %s: extension member %r collides; renamed", self.code, key)
                key = "extra_" + key
            body[key] = value
        return body


class NotFound(Problem):
    code = "not_found"
    title = "Not found"
    title_zh = "资源不存在"
    status = 404

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(
            f"{resource} {identifier} does not exist",
            detail_zh=f"{resource} {identifier} 不存在",
            resource=resource,
        )


class ValidationFailed(Problem):
    code = "validation_failed"
    title = "The request is not valid"
    title_zh = "请求内容不符合要求"
    status = 422


class AlreadyExists(Problem):
    code = "already_exists"
    title = "It already exists"
    title_zh = "已存在"
    status = 409


class IdempotencyKeyReused(Problem):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used for a different request"
    title_zh = "该幂等键（Idempotency-Key）已用于另一个请求"
    status = 422


class InvalidCursor(Problem):
    code = "invalid_cursor"
    title = "The pagination cursor is not valid"
    title_zh = "分页游标无效"
    status = 422


class InternalError(Problem):
    code = "internal_error"
    title = "Internal error"
    title_zh = "服务器内部错误"
    status = 500


class ServiceUnavailable(Problem):
    """A bounded wait ran out: the database is down, frozen or busy past the bound.

    `outcome` says what became of the request: `not_written` (nothing of it was kept;
    retry), or `unknown` (the commit was under way: retry with the same Idempotency-Key,
    which answers as the first did if it was kept).
    """

    code = "service_unavailable"
    title = "The service cannot answer right now; try again shortly"
    title_zh = "服务暂时无法响应，请稍后重试"
    status = 503

    def __init__(self, detail: str, *, retry_after_seconds: int, outcome: str) -> None:
        super().__init__(detail, outcome=outcome, retry_after_seconds=retry_after_seconds)
        self.headers["Retry-After"] = str(retry_after_seconds)


class ProblemBody(BaseModel):
    """The shape of every error response (RFC 9457), for the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        examples=[PROBLEM_TYPE_PREFIX + "insufficient_points"],
        description="Link to the code's entry in the error catalog (GET /v1/errors).",
    )
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


def preferred_language(accept_language: str | None) -> str:
    """`zh` when the client's Accept-Language ranks Chinese at least as high as English.

    English is the default: no header, or a header naming neither language. Quality
    values are honoured (`en;q=1, zh-CN;q=0.5` gives English); on a tie Chinese wins.
    """
    best: dict[str, float] = {}
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            best[primary] = max(best.get(primary, 0.0), quality)
    if "zh" in best and best["zh"] >= best.get("en", 0.0):
        return "zh"
    return "en"


def render(problem: Problem, request: Request) -> JSONResponse:
    language = preferred_language(request.headers.get("accept-language"))
    headers = {**problem.headers, "Content-Language": "zh-CN" if language == "zh" else "en"}
    return JSONResponse(
        problem.body(instance=request.url.path, language=language),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**headers, "Vary": "Accept-Language"},
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


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path."""
    allowed: set[str] = set()
    scope = {**request.scope, "method": ""}

    def walk(routes: Any) -> None:
        for route in routes:
            # A router FastAPI includes keeps its routes behind effective_candidates().
            candidates = getattr(route, "effective_candidates", None)
            if candidates is not None:
                walk(candidates())
                continue
            methods = getattr(route, "methods", None)
            if methods and route.matches(scope)[0] != Match.NONE:
                allowed.update(m.upper() for m in methods)

    walk(request.app.router.routes)
    return sorted(allowed)


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
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path
            # only; a path served by several routes allows all of theirs (RFC 9110 15.5.6).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        body = {
            "type": PROBLEM_TYPE_PREFIX + code,
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "code": code,
            "instance": request.url.path,
        }
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=headers
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
