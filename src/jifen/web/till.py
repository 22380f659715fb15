"""The supermarket's till (积分超市收银): the page at /web/till and the JSON it calls.

The page is for a signed-in user who may redeem points (points:redeem) in a village: a
cashier (积分超市收银员), or an administrator over the village. Its script (static/till.js)
calls the endpoints under /web/till/villages/{village_id}/, authenticated by the session
cookie, each checking its permission on the village with the guard as the API's routes do.
Refusals are RFC 9457 problem details with the supermarket's stable codes.

Invariants:
- A write (a sale, a refund) passes the CSRF guard (the page's token in the X-CSRF-Token
  header) and runs as one unit of the group committer, like the API's writes: the
  permission check, the booking, the receipt and the audit event in one transaction.
- A sale carries the till's Idempotency-Key (one per basket, kept in the browser until
  the outcome is known) and the cashier's actor (`user:<id>`, as on the API): the market
  books it once per key, and a resubmission answers with the first sale
  (Idempotent-Replayed: true). A refund likewise, with a key per refund attempt.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from jifen.access import guard
from jifen.access.guard import Caller, Scope
from jifen.access.permissions import Permission
from jifen.api import idempotency
from jifen.db import DatabaseUnavailable, write_batch
from jifen.kit.clock import utc_now
from jifen.kit.ids import new_id
from jifen.kit.schemas import InputSchema
from jifen.ledger import service as ledger
from jifen.market import service as market
from jifen.market import till as market_till
from jifen.market.router import goods_read, receipt, refund_read, sale_reads
from jifen.market.schemas import GoodsRead, RefundCreate, SaleLineInput
from jifen.market.service import BASKET_LINES_MAX
from jifen.models import AuditEvent, RefundLine
from jifen.problems import (
    DATABASE_SLOW,
    PROBLEM_MEDIA_TYPE,
    Problem,
    ValidationFailed,
    internal_error,
    preferred_language,
    unavailable,
    validation_errors,
    validation_failed,
)
from jifen.web import till_reads
from jifen.web.pages import current_user, render, render_error, signed_in, web_of
from jifen.web.security import route_path

log = logging.getLogger("jifen.web.till")

# The mount path of the web pages (main.py mounts them there): where /till leads.
WEB_ROOT = "/web"
TILL_API_PREFIX = "/till/villages/"


class SignedOut(Problem):
    code = "unauthenticated"
    title = "请先登录 / Sign in first: the session is missing or has expired"
    title_zh = "请先登录"
    status = 401


class CsrfRefused(Problem):
    code = "csrf_failed"
    title = "页面已过期，请刷新页面 / The page's CSRF token is missing, expired or not yours"
    title_zh = "页面已过期，请刷新页面"
    status = 403


class OriginRefused(Problem):
    code = "origin_refused"
    title = "请求并非来自本站页面 / The request does not come from this site's pages"
    title_zh = "请求并非来自本站页面"
    status = 403


class TooLarge(Problem):
    code = "request_too_large"
    title = "提交内容过大 / The request is too large"
    title_zh = "提交内容过大"
    status = 413


class Malformed(Problem):
    code = "malformed_request"
    title = "无法识别的请求 / The request could not be read"
    title_zh = "无法识别的请求"
    status = 400


_REFUSALS: dict[str, type[Problem]] = {
    "csrf": CsrfRefused,
    "origin": OriginRefused,
    "too_large": TooLarge,
    "malformed": Malformed,
}


def refusal(request: Request, status_code: int, reason: str) -> Response:
    """The CSRF guard's refusal: problem+json for the till's endpoints (a script reads
    it), the error page for anything else."""
    if route_path(request.scope).startswith(TILL_API_PREFIX):
        problem = _REFUSALS.get(reason, CsrfRefused)()
        return _problem(request, problem, status_code)
    return render_error(request, status_code, reason)


# --- the page ---------------------------------------------------------------------------


def redirect_to_till(request: Request) -> Response:
    """/till is where people type it; the page lives with the other web pages."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{WEB_ROOT}/till{query}", status_code=307)


@signed_in
def till_page(request: Request, caller: Caller) -> Response:
    web = web_of(request)
    wanted = request.query_params.get("village_id")
    with web.database.unit_of_work(write=False) as session:
        if wanted is not None:
            try:
                village_id = uuid.UUID(wanted)
                scope = guard.require(
                    session, caller, Permission.POINTS_REDEEM, "village_id", village_id
                )
            except (ValueError, Problem) as refused:
                status_code = refused.status if isinstance(refused, Problem) else 404
                return _no_till(request, status_code)
        else:
            villages = till_reads.till_villages(session, caller)
            if not villages:
                return _no_till(request, 403)
            if len(villages) > 1:
                return render(request, "till_villages.html", user=caller, villages=villages)
            village_id = villages[0].id
            scope = guard.resolve(session, "village_id", {"village_id": str(village_id)}, caller)
        village = till_reads.till_village(session, village_id)
    return render(
        request,
        "till.html",
        user=caller,
        village=village,
        can_refund=guard.allows(caller, Permission.POINTS_REFUND, scope),
        zone=web.settings.timezone,
    )


def _no_till(request: Request, status_code: int) -> Response:
    return render(
        request,
        "error.html",
        status_code=status_code,
        title="无法打开收银台",
        message="您在该村没有积分超市收银权限（积分兑换），或该村不存在。请联系村干部授权。",
    )


# --- the JSON endpoints -----------------------------------------------------------------


def _problem(request: Request, problem: Problem, status_code: int | None = None) -> Response:
    # In the language the browser asks for, as the API answers (the page itself is Chinese).
    language = preferred_language(request.headers.get("accept-language"))
    return Response(
        json.dumps(problem.body(instance=request.url.path, language=language), ensure_ascii=False),
        status_code=status_code or problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={
            **problem.headers,
            "Content-Language": "zh-CN" if language == "zh" else "en",
            "Vary": "Accept-Language",
        },
    )


def _as_problem(request: Request, exc: Exception) -> Problem:
    if isinstance(exc, Problem):
        return exc
    retry_after = web_of(request).settings.retry_after_seconds
    if isinstance(exc, DatabaseUnavailable):
        return unavailable(exc, retry_after)
    if isinstance(exc, OperationalError | PoolTimeout):
        return unavailable(DATABASE_SLOW, retry_after)
    if isinstance(exc, ValidationError):
        return validation_failed(validation_errors(exc.errors()))
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return internal_error()


def _json(
    result: BaseModel | bytes, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = result if isinstance(result, bytes) else result.model_dump_json().encode()
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


_GOODS_LIST = TypeAdapter(list[GoodsRead])


def _caller(request: Request) -> Caller:
    caller = current_user(request)
    if caller is None:
        raise SignedOut(
            "sign in again: the session is missing, has expired or was ended",
            detail_zh="请重新登录：会话不存在、已过期或已结束",
        )
    return caller


def _village_id(request: Request) -> uuid.UUID:
    village_id: uuid.UUID = request.path_params["village_id"]
    return village_id


Read = Callable[[Request, Caller, Session], BaseModel | bytes]


def _read(permission: Permission) -> Callable[[Read], Callable[[Request], Response]]:
    """A JSON read for a signed-in user holding `permission` in the path's village: run in
    the thread pool, in a read transaction of its own."""

    def wrap(endpoint: Read) -> Callable[[Request], Response]:
        @functools.wraps(endpoint)
        def handle(request: Request) -> Response:
            try:
                caller = _caller(request)
                with web_of(request).database.unit_of_work(write=False) as session:
                    guard.require(session, caller, permission, "village_id", _village_id(request))
                    result = endpoint(request, caller, session)
                return _json(result)
            except Exception as exc:
                return _problem(request, _as_problem(request, exc))

        return handle

    return wrap


@_read(Permission.POINTS_REDEEM)
def find_member(request: Request, caller: Caller, session: Session) -> BaseModel:
    """Who is at the till: ?card_token= (what the card's QR code holds), ?phone= (a phone
    or member number) or ?member_id=."""
    params = request.query_params
    card_token = params.get("card_token")
    phone = params.get("phone")
    member_id = params.get("member_id")
    problems = []
    if card_token is not None and not 1 <= len(card_token) <= 300:
        problems.append(("card_token", "1-300 characters", "应为 1 至 300 个字符"))
    if phone is not None and not 4 <= len(phone) <= 32:
        problems.append(("phone", "4-32 characters", "应为 4 至 32 个字符"))
    parsed_member: uuid.UUID | None = None
    if member_id is not None:
        try:
            parsed_member = uuid.UUID(member_id)
        except ValueError:
            problems.append(("member_id", "a UUID", "应为 UUID"))
    if problems:
        name, _, message_zh = problems[0]
        raise ValidationFailed(
            "the lookup is not valid",
            detail_zh=f"查询条件无效：字段 query.{name}：{message_zh}",
            errors=[
                {
                    "location": ["query", name],
                    "message": message,
                    "message_zh": message_zh,
                    "type": "value_error",
                }
                for name, message, message_zh in problems
            ],
        )
    clock = _clock(request)
    return market_till.member_at_till(
        session,
        _village_id(request),
        clock.local_date(clock.now),
        card_token=card_token,
        phone=phone,
        member_id=parsed_member,
    )


@_read(Permission.CATALOG_READ)
def list_goods(request: Request, caller: Caller, session: Session) -> bytes:
    """The village's catalog with what is on the shelf (inactive goods too, flagged)."""
    shelved = market.catalog(session, _village_id(request))
    return _GOODS_LIST.dump_json([goods_read(s.goods, s.stock) for s in shelved])


@_read(Permission.POINTS_REDEEM)
def day(request: Request, caller: Caller, session: Session) -> till_reads.TillDay:
    """Today's sales and refunds, each good's sold, refunded and stock, and the receipts."""
    clock = _clock(request)
    return till_reads.till_day(session, _village_id(request), clock.local_date(clock.now), clock)


@_read(Permission.POINTS_REDEEM)
def get_receipt(request: Request, caller: Caller, session: Session) -> till_reads.TillReceipt:
    sale = till_reads.get_receipt_sale(
        session, _village_id(request), request.path_params["receipt_number"]
    )
    return till_reads.receipts(session, [sale])[0]


def _clock(request: Request) -> ledger.Clock:
    web = web_of(request)
    return ledger.Clock(now=web.clock(), settings=web.settings)


class TillSaleCreate(InputSchema):
    """A basket as the till sends it: the member it looked up, and the total it showed."""

    member_id: uuid.UUID
    lines: list[SaleLineInput] = Field(min_length=1, max_length=BASKET_LINES_MAX)
    expected_total_points: int = Field(
        ge=1, description="The total the till showed: a changed price refuses the sale"
    )


_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)
Write = Callable[[Request], Awaitable[Response]]


def _write(endpoint: Write) -> Write:
    @functools.wraps(endpoint)
    async def handle(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            return _problem(request, _as_problem(request, exc))

    return handle


async def _posted(request: Request, schema: type[_M]) -> tuple[Caller, _M, str]:
    caller = await run_in_threadpool(_caller, request)
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        raise ValidationFailed(
            f"the till sends an {idempotency.HEADER} header with every sale and refund",
            detail_zh=f"收银台每次兑换和退货都须发送 {idempotency.HEADER} 请求头",
            errors=[
                {
                    "location": ["header", idempotency.HEADER],
                    "message": "required",
                    "message_zh": "缺少此项",
                    "type": "missing",
                }
            ],
        )
    idempotency.check_key(key, web_of(request).settings.idempotency_key_length_max)
    body = schema.model_validate_json(await request.body())
    return caller, body, key


async def _unit(request: Request, work: Callable[[Session], _T]) -> _T:
    committer = web_of(request).database.committer
    try:
        return await committer.run(work)
    except IntegrityError:
        # The same key was committed meanwhile by another process (PostgreSQL, several
        # workers): nothing of this attempt was kept, and run again it finds the first.
        return await committer.run(work)


_INSERT_AUDIT = insert(cast(Table, AuditEvent.__table__)).inline()


def _audit(
    session: Session, request: Request, caller: Caller, scope: Scope, action: str, result: Any
) -> None:
    """The write's audit event, as the API records its writes."""
    write_batch(session).defer(
        _INSERT_AUDIT,
        {
            "id": new_id(),
            "at": utc_now(),
            "principal_id": caller.principal_id,
            "principal_name": caller.name,
            "action": action,
            "method": request.method,
            "path": request.url.path[:500],
            "status_code": 201,
            "township_id": scope.township_id,
            "village_id": scope.village_id,
            "target": {"village": str(scope.village_id), "result_id": str(result)},
        },
    )


@_write
async def create_sale(request: Request) -> Response:
    """Redeem the basket: market.service.sell_receipt with the till's key and the
    cashier's actor. A resubmission answers with the first sale."""
    caller, body, key = await _posted(request, TillSaleCreate)
    village_id = _village_id(request)
    clock = _clock(request)

    def work(session: Session) -> tuple[bytes, bool]:
        scope = guard.require(session, caller, Permission.POINTS_REDEEM, "village_id", village_id)
        sold = market.sell_receipt(
            session,
            village_id=village_id,
            member_id=body.member_id,
            lines=[market.BasketLine(line.goods_id, line.quantity) for line in body.lines],
            expected_total_points=body.expected_total_points,
            cashier=caller.actor,
            clock=clock,
            idempotency_key=key,
        )
        read = sale_reads(session, [sold.sale])[0] if sold.replayed else receipt(sold)
        [shown] = till_reads.decorate(session, [read])
        if not sold.replayed:
            _audit(session, request, caller, scope, "till_create_sale", sold.sale.id)
        return shown.model_dump_json().encode(), sold.replayed

    answer, replayed = await _unit(request, work)
    return _json(answer, status_code=201, headers=_replayed(replayed))


def _replayed(replayed: bool) -> dict[str, str] | None:
    return {idempotency.REPLAYED_HEADER: "true"} if replayed else None


@_write
async def create_refund(request: Request) -> Response:
    """Refund the whole receipt (no lines) or some of its lines, in one entry."""
    caller, body, key = await _posted(request, RefundCreate)
    village_id = _village_id(request)
    receipt_number: int = request.path_params["receipt_number"]
    clock = _clock(request)

    def work(session: Session) -> tuple[bytes, bool]:
        scope = guard.require(session, caller, Permission.POINTS_REFUND, "village_id", village_id)
        sale = till_reads.get_receipt_sale(session, village_id, receipt_number)
        earlier = market.refund_by_key(session, village_id, caller.actor, key)
        row = earlier or market.refund(
            session,
            sale_id=sale.id,
            lines=None
            if body.lines is None
            else [market.RefundRequestLine(line.position, line.quantity) for line in body.lines],
            reason=body.reason,
            actor=caller.actor,
            clock=clock,
            idempotency_key=key,
        )
        if row.sale_id != sale.id:
            raise ValidationFailed(
                f"the key {key!r} refunded another receipt",
                detail_zh=f"幂等键 {key!r} 已用于另一张小票的退货",
                errors=[
                    {
                        "location": ["header", idempotency.HEADER],
                        "message": "used for another receipt",
                        "message_zh": "已用于另一张小票",
                        "type": "value_error",
                    }
                ],
            )
        [shown] = till_reads.receipts(session, [sale])
        lines = session.execute(
            select(RefundLine).where(RefundLine.refund_id == row.id).order_by(RefundLine.position)
        ).scalars()
        if earlier is None:
            _audit(session, request, caller, scope, "till_create_refund", row.id)
        answer = till_reads.TillRefund(refund=refund_read(row, list(lines)), receipt=shown)
        return answer.model_dump_json().encode(), earlier is not None

    answer, replayed = await _unit(request, work)
    return _json(answer, status_code=201, headers=_replayed(replayed))


def routes() -> list[Route]:
    """The till's routes, for the web pages' app."""
    village = "/till/villages/{village_id:uuid}"
    return [
        Route("/till", till_page, methods=["GET"], name="till"),
        Route(f"{village}/member", find_member, methods=["GET"], name="till_member"),
        Route(f"{village}/goods", list_goods, methods=["GET"], name="till_goods"),
        Route(f"{village}/day", day, methods=["GET"], name="till_day"),
        Route(f"{village}/sales", create_sale, methods=["POST"], name="till_sale"),
        Route(
            f"{village}/sales/{{receipt_number:int}}",
            get_receipt,
            methods=["GET"],
            name="till_receipt",
        ),
        Route(
            f"{village}/sales/{{receipt_number:int}}/refunds",
            create_refund,
            methods=["POST"],
            name="till_refund",
        ),
    ]
