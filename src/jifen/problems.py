"""RFC 9457 problem details: one base class for every refusal, one renderer.

Each refusal has a stable `code` (also the last part of its `type` URI) that clients
switch on; `title` and `detail` are for people. Extra fields explain the refusal
(`balance_points`, `requested_points`, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
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

# Refusals the HTTP layer answers itself: code, Chinese title (the catalog's) and detail.
_HTTP_CODES = {
    400: ("malformed_request", "无法识别的请求", "无法解析该请求的内容"),
    405: ("method_not_allowed", "该路径不支持此方法", "该路径不支持 {method} 方法"),
    413: ("request_too_large", "提交内容过大", "提交的内容超出了允许的大小"),
    415: ("unsupported_media_type", "不支持该内容类型", "不支持该请求的内容类型"),
}
_HTTP_OTHER = ("http_error", "HTTP 请求被拒绝", "HTTP 请求被拒绝（状态码 {status}）")


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


# What the resources NotFound names are called in Chinese; one not listed keeps its name.
RESOURCE_ZH = {
    "account": "账户",
    "activity": "活动",
    "allied settlement": "联盟商户结算",
    "allied shop": "联盟商户",
    "api_key": "API 密钥",
    "binding": "绑定",
    "board": "红黑榜",
    "card sheet page": "卡片页",
    "chain entry": "账本分录",
    "charter version": "章程版本",
    "client": "客户端",
    "entry": "分录",
    "evidence photo": "证据照片",
    "expiry account of village": "村的过期积分账户",
    "goods": "商品",
    "grant": "授权",
    "household": "户",
    "member": "村民",
    "member with phone or member number": "该手机号或成员编号对应的村民",
    "notice list": "公示清单",
    "objection": "异议",
    "organisation": "组织",
    "project": "项目",
    "record": "记录",
    "role": "角色",
    "route": "路径",
    "sale": "兑换单",
    "space": "公共空间",
    "space claim": "空间认领",
    "subsidy scheme version": "以奖代补方案版本",
    "subsidy settlement": "以奖代补结算",
    "township": "乡镇",
    "user": "用户",
    "village": "村",
    "webhook delivery": "Webhook 投递",
    "webhook_delivery": "Webhook 投递",
    "webhook_endpoint": "Webhook 端点",
}


class NotFound(Problem):
    code = "not_found"
    title = "Not found"
    title_zh = "资源不存在"
    status = 404

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(
            f"{resource} {identifier} does not exist",
            detail_zh=f"{RESOURCE_ZH.get(resource, resource)} {identifier} 不存在",
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

    def __init__(
        self, detail: str, *, detail_zh: str, retry_after_seconds: int, outcome: str
    ) -> None:
        super().__init__(
            detail, detail_zh=detail_zh, outcome=outcome, retry_after_seconds=retry_after_seconds
        )
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


# Pydantic's error types in Chinese; `{name}` is filled from the error's `ctx`.
_MESSAGES_ZH = {
    "missing": "缺少此项",
    "extra_forbidden": "不允许此字段",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数，不能有小数部分",
    "int_parsing_size": "整数超出范围",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "decimal_max_places": "小数最多 {decimal_places} 位",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "bool_type": "应为布尔值（true 或 false）",
    "bool_parsing": "应为布尔值（true 或 false）",
    "string_type": "应为字符串",
    "string_unicode": "应为有效的 Unicode 字符串",
    "string_pattern_mismatch": "格式不符合要求（应匹配 {pattern}）",
    "uuid_type": "不是有效的 UUID",
    "uuid_parsing": "不是有效的 UUID",
    "uuid_version": "UUID 版本应为 {expected_version}",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不能带时刻",
    "datetime_type": "应为日期时间（ISO 8601）",
    "datetime_parsing": "应为日期时间（ISO 8601）",
    "datetime_from_date_parsing": "应为日期时间（ISO 8601）",
    "timezone_aware": "日期时间应带时区",
    "time_type": "应为时刻（HH:MM）",
    "time_parsing": "应为时刻（HH:MM）",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "json_invalid": "不是有效的 JSON",
    "json_type": "应为 JSON 文本",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "set_type": "应为不重复的列表",
    "url_parsing": "不是有效的网址",
    "url_type": "不是有效的网址",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "value_error": "取值无效",
    "assertion_error": "取值无效",
}


def chinese_message(error: Mapping[str, Any]) -> str:
    """The Chinese message of one pydantic error: its type's template, filled from its
    `ctx`; a validator's own `message_zh` (kit.schemas.Invalid) for a value error; a
    general one for a type not listed."""
    ctx = dict(error.get("ctx") or {})
    own = getattr(ctx.get("error"), "message_zh", None)
    if isinstance(own, str) and own:
        return own
    if isinstance(ctx.get("expected"), str):  # "'a', 'b' or 'c'" -> "'a'、'b'、'c'"
        ctx["expected"] = ctx["expected"].replace(" or ", ", ").replace(", ", "、")
    template = _MESSAGES_ZH.get(str(error.get("type", "")), "取值无效")
    try:
        return template.format(**ctx)
    except (KeyError, IndexError, ValueError):
        return _MESSAGES_ZH["value_error"]


def validation_errors(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as a problem's `errors`: where, what (in English and Chinese)."""
    errors = []
    for error in raw:
        errors.append(
            {
                "location": [str(part) for part in error.get("loc", ())],
                "message": error.get("msg", ""),
                "message_zh": chinese_message(error),
                "type": error.get("type", ""),
            }
        )
    return errors


def validation_failed(errors: list[dict[str, Any]]) -> ValidationFailed:
    """The 422 for a request that does not match the schema, naming the first error in
    Chinese (`字段 body.quantity：应大于 0`)."""
    detail_zh = ValidationFailed.title_zh
    if errors:
        first = errors[0]
        detail_zh = f"字段 {'.'.join(first['location'])}：{first['message_zh']}"
        if len(errors) > 1:
            detail_zh += f"（另有 {len(errors) - 1} 处不符合要求）"
    return ValidationFailed(
        "The request does not match the schema", detail_zh=detail_zh, errors=errors
    )


def internal_error() -> InternalError:
    """The 500 for an error nobody expected; the transaction was rolled back."""
    return InternalError(
        "An unexpected error occurred; nothing was booked.",
        detail_zh="发生了意外错误，未记账。",
    )


def unavailable(error: DatabaseUnavailable, retry_after_seconds: int) -> ServiceUnavailable:
    """The 503 for a bounded wait on the database that ran out."""
    return ServiceUnavailable(
        error.detail,
        detail_zh=error.detail_zh,
        retry_after_seconds=retry_after_seconds,
        outcome=error.outcome,
    )


# The database failed under a request (a lock or statement wait ran out, or it is
# unreachable; the transaction was rolled back), or no pooled connection came free.
DATABASE_SLOW = DatabaseUnavailable(
    "the database did not answer in time", detail_zh="数据库未能及时响应"
)
POOL_BUSY = DatabaseUnavailable(
    "every database connection stayed busy", detail_zh="所有数据库连接一直处于忙碌状态"
)


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
        return render(
            InvalidCursor(
                f"cursor {exc} is not one this list gave out",
                detail_zh=f"分页游标 {exc} 不是该列表给出的",
            ),
            request,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(validation_failed(validation_errors(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return render(NotFound("route", request.url.path), request)
        code, title_zh, detail_zh = _HTTP_CODES.get(exc.status_code, _HTTP_OTHER)
        language = preferred_language(request.headers.get("accept-language"))
        headers = dict(exc.headers or {})
        headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
        headers["Vary"] = "Accept-Language"
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path
            # only; a path served by several routes allows all of theirs (RFC 9110 15.5.6).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        title = detail = str(exc.detail)
        if language == "zh":
            title = title_zh
            detail = detail_zh.format(method=request.method, status=exc.status_code)
        body = {
            "type": PROBLEM_TYPE_PREFIX + code,
            "title": title,
            "status": exc.status_code,
            "detail": detail,
            "code": code,
            "instance": request.url.path,
        }
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=headers
        )

    def _unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
        retry_after: int = request.app.state.settings.retry_after_seconds
        return render(unavailable(error, retry_after), request)

    @app.exception_handler(DatabaseUnavailable)
    async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return _unavailable(request, exc)

    @app.exception_handler(OperationalError)
    async def _database_failed(request: Request, exc: OperationalError) -> JSONResponse:
        # A lock or statement wait ran out, or the database is unreachable: the
        # transaction was rolled back.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(request, DATABASE_SLOW)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        return _unavailable(request, POOL_BUSY)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return render(internal_error(), request)
