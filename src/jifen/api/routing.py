"""UnitOfWorkRoute: how a request reaches the database, and Idempotency-Key for POST.

Before the endpoint runs (and before its body is read) the caller is admitted: the
guard authenticates and authorises in a short read transaction of its own.

A write (POST, PUT, PATCH, DELETE) runs as one unit of the group committer
(jifen.committer): the endpoint, its Idempotency-Key lookup and stored answer, and its
audit event run in the committer's thread, in the same database transaction as the other
writes that arrived with it, and the caller is answered after that transaction
commits. The response body is serialised there, against the route's response model, so
that the first answer and every replay are the very same bytes. A write that is refused
refuses only itself.

A read runs in the thread pool, in a read transaction of its own that ends in the same
thread, whatever happens. Routes declared `direct` (the token endpoint, password
hashing, what-if replays: slow work that would hold up every other write) run as reads
do, in a write transaction of their own.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import typing
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, cast

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jifen.access import guard
from jifen.access.errors import Forbidden, RateLimited, Unauthenticated
from jifen.access.guard import Access, Caller, Scope
from jifen.access.ratelimit import RateLimiter
from jifen.api import batches, idempotency
from jifen.db import Database, DatabaseUnavailable, write_batch
from jifen.kit.clock import local_date, utc_now
from jifen.kit.ids import new_id
from jifen.kit.schemas import DETAIL_VALUE_SCHEMA
from jifen.models import AuditEvent
from jifen.problems import (
    DATABASE_SLOW,
    PROBLEM_MEDIA_TYPE,
    InternalError,
    NotFound,
    Problem,
    ServiceUnavailable,
    ValidationFailed,
    problem_responses,
    unavailable,
)

log = logging.getLogger(__name__)

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_E = TypeVar("_E", bound=Callable[..., Any])
_INSERT_AUDIT = insert(cast(Table, AuditEvent.__table__)).inline()


class _GroupSession:
    """What a write endpoint's session parameter holds until its unit runs: the
    committer's session of the group replaces it."""


GROUP_SESSION = _GroupSession()


@dataclass
class _Keyed:
    """What an Idempotency-Key request stores, and the body it answered with."""

    principal: str
    key: str
    fingerprint: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class _Request:
    db: Database
    session: Session | None = None
    keyed: _Keyed | None = None
    caller: Caller | None = None
    scope: Scope | None = None
    method: str = ""
    path: str = ""


# The request's state, seen by the endpoint wrapper (in the committer's or a worker
# thread: each call runs in a copy of the caller's context, or is handed the state).
_current: ContextVar[_Request] = ContextVar("jifen_request")


class UnitOfWorkRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: database endpoints are plain functions")
        access = guard.access_of(endpoint)
        if access is None:
            raise TypeError(
                f"{endpoint.__name__}: declare who may call it with @requires(...) or @public"
            )
        if access.on is not None and access.on not in guard.target_params():
            raise TypeError(f"{endpoint.__name__}: no resolver for target {access.on!r}")
        self.access: Access = access
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        self._is_write = bool(methods & _WRITE_METHODS)
        self._grouped = self._is_write and not access.direct
        _document(access, kwargs)
        if access.batch:
            wrapped = self._batch_units(endpoint)
        elif self._grouped:
            wrapped = self._grouped_unit(endpoint)
        else:
            wrapped = self._in_thread(endpoint)
        super().__init__(path, wrapped, **kwargs)

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.response_model)

    def _finish(self, state: _Request, session: Session, result: Any) -> Response:
        """Check, serialise, store for idempotency, audit: all in the request's
        transaction. The caller commits."""
        if isinstance(result, Response):
            # An endpoint that answers in a format of its own (the OAuth2 token
            # endpoint); it is never stored for idempotency.
            return result
        caller = state.caller
        if self.access.checked_by_endpoint and caller is not None and not caller.checked:
            # The route left the permission to the endpoint (it depends on the body),
            # and the endpoint did not check one: refuse rather than let it through.
            raise InternalError(
                "the endpoint did not check a permission", detail_zh="该接口没有检查权限"
            )
        body = self._adapter.dump_json(result, by_alias=True)
        status_code = self.status_code or 200
        keyed = state.keyed
        if keyed is not None:
            if self.access.shows_secret:
                # The secret is never stored: a retry learns that the work was done,
                # and which resource it made, but not the secret.
                keyed.body = _secret_shown_once(result)
                _store(session, keyed, SecretShownOnce.status)
            else:
                keyed.body = body
                _store(session, keyed, status_code)
        if caller is not None and self._is_write:
            _audit(session, state, self.name, status_code, result)
        return Response(body, status_code=status_code, media_type="application/json")

    def _grouped_unit(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        expects: Callable[..., None] | None = getattr(endpoint, "__jifen_prepare__", None)

        @functools.wraps(endpoint)
        async def submit(*args: Any, **kwargs: Any) -> Response:
            state = _current.get()

            def given(session: Session) -> dict[str, Any]:
                return {k: session if v is GROUP_SESSION else v for k, v in kwargs.items()}

            def prepare(session: Session) -> None:
                if state.keyed is not None:
                    idempotency.expect(
                        session, principal=state.keyed.principal, key=state.keyed.key
                    )
                if expects is not None:
                    expects(**given(session))

            def work(session: Session) -> Response:
                if state.keyed is not None:
                    stored = _lookup(session, state.keyed)
                    if stored is not None:
                        return _replay(stored)
                return self._finish(state, session, endpoint(*args, **given(session)))

            return await state.db.committer.run(work, prepare)

        return submit

    def _batch_units(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(endpoint)
        async def submit(*args: Any, **kwargs: Any) -> Response:
            state = _current.get()
            if state.keyed is not None:
                raise ValidationFailed(
                    f"a batch takes no {idempotency.HEADER} header: each item has its own "
                    "idempotency_key",
                    detail_zh=f"批量请求不接受 {idempotency.HEADER} 请求头：每一项有自己的 "
                    "idempotency_key",
                    errors=[
                        {
                            "location": ["header", idempotency.HEADER],
                            "message": "not accepted on a batch",
                            "message_zh": "批量请求不接受此请求头",
                            "type": "value_error",
                        }
                    ],
                )
            # The endpoint only parses: it reads and writes nothing.
            plan: batches.BatchPlan = endpoint(*args, **kwargs)
            committer = state.db.committer
            outcomes: list[batches.ItemOutcome]
            if plan.atomic:
                outcomes = await committer.run(functools.partial(self._all_items, state, plan))
            else:
                done = await committer.run_all(
                    [
                        functools.partial(self._batch_item, state, index, item)
                        for index, item in enumerate(plan.items)
                    ],
                    [functools.partial(_expect_item, state, item) for item in plan.items],
                )
                outcomes = [
                    await self._refused_item(state, index, item, outcome)
                    if isinstance(outcome, BaseException)
                    else outcome
                    for index, (item, outcome) in enumerate(zip(plan.items, done, strict=True))
                ]
            return Response(batches.answer(plan, outcomes), media_type="application/json")

        return submit

    def _batch_item(
        self, state: _Request, index: int, item: batches.BatchItem, session: Session
    ) -> batches.ItemOutcome:
        """One item of a batch, in the committer: as a request of its own would be."""
        principal = state.caller.actor if state.caller else "anonymous"
        stored = idempotency.lookup(
            session, principal=principal, key=item.key, fingerprint=item.fingerprint
        )
        if stored is not None:
            return batches.ItemOutcome(stored.status_code, replayed=True, body=stored.body)
        result = item.work(session)
        body = result.__pydantic_serializer__.to_json(result, by_alias=True)
        status_code = 201
        idempotency.store(
            session,
            principal=principal,
            key=item.key,
            method=state.method,
            path=f"{state.path}#item",
            fingerprint=item.fingerprint,
            status_code=status_code,
            body=body,
            now=utc_now(),
        )
        if state.caller is not None:
            _audit(session, state, self.name, status_code, result, index=index)
        return batches.ItemOutcome(status_code, body=body)

    def _all_items(
        self, state: _Request, plan: batches.BatchPlan, session: Session
    ) -> list[batches.ItemOutcome]:
        outcomes = []
        for index, item in enumerate(plan.items):
            try:
                outcomes.append(self._batch_item(state, index, item, session))
            except Problem as refusal:
                raise batches.BatchRefused(
                    f"item {index} ({item.key!r}) was refused: {refusal.detail}",
                    detail_zh=f"第 {index} 项（{item.key!r}）被拒绝："
                    + refusal.body(language="zh")["detail"],
                    index=index,
                    idempotency_key=item.key,
                    problem=refusal.body(instance=f"{state.path}#items/{index}"),
                ) from refusal
        return outcomes

    async def _refused_item(
        self, state: _Request, index: int, item: batches.BatchItem, error: BaseException
    ) -> batches.ItemOutcome:
        """What to say of an item whose unit raised."""
        instance = f"{state.path}#items/{index}"
        if isinstance(error, IntegrityError):
            # Another request with this key committed first: answer as it did.
            principal = state.caller.actor if state.caller else "anonymous"
            stored = await _stored_answer(
                state.db, _Keyed(principal, item.key, item.fingerprint, state.method, "")
            )
            if stored is not None:
                return batches.ItemOutcome(stored.status_code, replayed=True, body=stored.body)
        problem: Problem
        if isinstance(error, Problem):
            problem = error
        elif isinstance(error, DatabaseUnavailable):
            problem = unavailable(error, state.db.settings.retry_after_seconds)
        elif isinstance(error, OperationalError):
            problem = unavailable(DATABASE_SLOW, state.db.settings.retry_after_seconds)
        else:
            log.error("batch item %s failed", instance, exc_info=error)
            problem = InternalError(
                "An unexpected error occurred; this item was not written.",
                detail_zh="发生了意外错误，此项未写入。",
            )
        return batches.ItemOutcome(problem.status, problem=problem.body(instance=instance))

    def _in_thread(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        is_write = self._is_write

        @functools.wraps(endpoint)
        def run_and_end(*args: Any, **kwargs: Any) -> Response:
            state = _current.get()
            session = state.session
            assert session is not None
            try:
                with state.db.watchdog.deadline(state.db.operation_timeout_seconds):
                    if state.keyed is not None:
                        stored = _lookup(session, state.keyed)
                        if stored is not None:
                            return _replay(stored)
                    response = self._finish(state, session, endpoint(*args, **kwargs))
                    if is_write:
                        session.commit()
                return response
            finally:
                # Ended here, in this thread, before anything else waits on it.
                session.close()

        return run_and_end

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        methods = self.methods or set()
        is_post = "POST" in methods
        access = self.access
        grouped = self._grouped
        is_write = self._is_write
        # Query parameters typed as a calendar day: Pydantic would also read a bare
        # number as a Unix timestamp (`on=0` as 1970-01-01); only YYYY-MM-DD is taken.
        day_params = tuple(
            sorted(
                {
                    param.alias
                    for param in _query_params(self.dependant)
                    if _is_day(param.field_info.annotation)
                }
            )
        )

        async def route_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            token = (
                None if access.public else guard.bearer_token(request.headers.get("authorization"))
            )
            if not access.public and token is None:
                raise Unauthenticated(
                    "This endpoint needs credentials: Authorization: Bearer <token>",
                    error="invalid_request",
                    detail_zh="此接口需要凭证：Authorization: Bearer <令牌>",
                )
            _check_days(request, day_params)
            if is_write:
                _refuse_duplicate_keys(request, await request.body())
            state = _Request(db, method=request.method, path=request.url.path)
            key = request.headers.get(idempotency.HEADER) if is_post else None
            fingerprint = None
            if key is not None:
                idempotency.check_key(key, request.app.state.settings.idempotency_key_length_max)
                fingerprint = idempotency.request_hash(
                    request.method,
                    request.url.path,
                    request.url.query,
                    idempotency.without_boundary(
                        request.headers.get("content-type", ""), await request.body()
                    ),
                )
            if token is not None:
                params = {**request.query_params, **request.path_params}
                if db.settings.is_sqlite:
                    # A read of the file in this process, which never waits for a writer
                    # (WAL): cheaper here than a trip to the thread pool and back.
                    caller, state.scope = _admit(db, access, token, params)
                else:
                    caller, state.scope = await run_in_threadpool(_admit, db, access, token, params)
                state.caller = caller
                limiter: RateLimiter = request.app.state.rate_limiter
                limiter.hit(caller.rate_key)
                now = utc_now()
                if guard.key_use_is_stale(caller, now):
                    # At most once a minute per key: a write like any other.
                    await db.committer.run(lambda s: guard.touch_api_key(s, caller, now))
            if key is not None and fingerprint is not None:
                # Keys are the caller's own: two callers may use the same key for
                # different work.
                state.keyed = _Keyed(
                    principal=state.caller.actor if state.caller else "anonymous",
                    key=key,
                    fingerprint=fingerprint,
                    method=request.method,
                    path=request.url.path,
                )
            request.state.caller = state.caller
            if grouped:
                request.state.session = GROUP_SESSION
            else:
                state.session = request.state.session = db.session(write=is_write)
            context = _current.set(state)
            try:
                return await handler(request)
            except IntegrityError:
                # Another request with the same key committed first (another process, on
                # PostgreSQL): nothing of this one was kept, and it answers as the first.
                stored = await _stored_answer(db, state.keyed)
                if stored is None:
                    raise
                return _replay(stored)
            finally:
                _current.reset(context)
                if state.session is not None:
                    # Ended by the endpoint's own thread; closing again only matters if
                    # the endpoint never ran (a refused body), and then there is no
                    # connection to give back.
                    state.session.close()

        return route_handler


class MalformedRequest(Problem):
    """What Starlette's own 400 answers as (a body that is not JSON): declared here so
    that every operation documents it."""

    code = "malformed_request"
    title = "The request could not be read"
    title_zh = "无法识别的请求"
    status = 400


class DuplicateJsonKey(Problem):
    code = "duplicate_json_key"
    title = "The JSON body names the same key twice in one object"
    title_zh = "JSON 请求体的同一对象中有重复的键"
    status = 400


_DAY = re.compile(r"^(\d{4})-\d{2}-\d{2}$")
DAY_YEAR_MIN, DAY_YEAR_MAX = 2000, 2999


# What the schema says of the constraints checked above and in idempotency.check_key,
# so that a client (or a fuzzer) reading the OpenAPI document sends only what is taken.
DAY_PATTERN = r"^2[0-9]{3}-[0-9]{2}-[0-9]{2}$"
INSTANT_PATTERN = r"^2[0-9]{3}-"
TEXT_PATTERN = "^[^\\x00]*$"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"


def document_constraints(openapi: dict[str, Any]) -> None:
    """Add the real constraints of shared parameters to every operation's schema."""

    def constrain(schema: dict[str, Any], **extra: Any) -> None:
        for member in schema.get("anyOf", [schema]):
            if member.get("type") == "string":
                member.update(extra)

    def text_without_nul(node: Any) -> None:
        # Request text never holds NUL (kit.schemas.InputSchema refuses it) and dates
        # lie in 2000-2999 (kit.schemas.Instant); responses only carry what was taken.
        if isinstance(node, dict):
            if node.get("type") == "string" and "pattern" not in node and "enum" not in node:
                if node.get("format") == "date-time":
                    node["pattern"] = INSTANT_PATTERN
                elif node.get("format") is None:
                    node["pattern"] = TEXT_PATTERN
            for value in node.values():
                text_without_nul(value)
        elif isinstance(node, list):
            for value in node:
                text_without_nul(value)

    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    # Free-form details (an entry's metadata) name this for their values.
    schemas["DetailValue"] = DETAIL_VALUE_SCHEMA
    text_without_nul(schemas)
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = param.get("schema", {})
                formats = {m.get("format") for m in schema.get("anyOf", [schema])}
                if param["in"] == "query" and "date" in formats:
                    constrain(schema, pattern=DAY_PATTERN)
                elif param["in"] == "query" and "date-time" in formats:
                    constrain(schema, pattern=INSTANT_PATTERN)
                elif param["in"] == "header" and param["name"] == idempotency.HEADER:
                    constrain(schema, minLength=1, pattern=IDEMPOTENCY_KEY_PATTERN)


def _query_params(dependant: Dependant) -> list[Any]:
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found.extend(_query_params(sub))
    return found


def _is_day(annotation: Any) -> bool:
    return annotation is date or date in typing.get_args(annotation)


def _check_days(request: Request, names: tuple[str, ...]) -> None:
    for name in names:
        for value in request.query_params.getlist(name):
            match = _DAY.match(value)
            if match and DAY_YEAR_MIN <= int(match.group(1)) <= DAY_YEAR_MAX:
                continue  # the calendar itself (2025-02-30) is checked by the schema
            message = f"a day as YYYY-MM-DD between {DAY_YEAR_MIN} and {DAY_YEAR_MAX}"
            message_zh = f"应为 {DAY_YEAR_MIN} 至 {DAY_YEAR_MAX} 年间的日期（YYYY-MM-DD）"
            error = {"location": ["query", name], "message": message, "type": "date_format"}
            raise ValidationFailed(
                f"{name}={value!r}: {message}",
                detail_zh=f"{name}={value!r}：{message_zh}",
                errors=[{**error, "message_zh": message_zh}],
            )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise DuplicateJsonKey(
                f"the key {name!r} appears twice in one object",
                detail_zh=f"键 {name!r} 在同一个对象中出现了两次",
                key=name,
            )
        seen[name] = value
    return seen


def _refuse_duplicate_keys(request: Request, body: bytes) -> None:
    """Refuse `{"points": 1, "points": 100}`: which one the client meant is unknown, and
    the idempotency hash (like most parsers) would see only the last one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body or not (content_type == "application/json" or content_type.endswith("+json")):
        return
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        return  # not JSON: refused by the body's own validation, as before


def prepares(expects: Callable[..., None]) -> Callable[[_E], _E]:
    """Declare what a grouped write endpoint will read, given its arguments (the session
    among them), so that the group committer reads it with the group's other writes at
    once. `expects(**endpoint_arguments)` announces it (e.g. ledger.expect_booking)."""

    def mark(endpoint: _E) -> _E:
        endpoint.__jifen_prepare__ = expects  # type: ignore[attr-defined]
        return endpoint

    return mark


def _expect_item(state: _Request, item: batches.BatchItem, session: Session) -> None:
    principal = state.caller.actor if state.caller else "anonymous"
    idempotency.expect(session, principal=principal, key=item.key)
    if item.prepare is not None:
        item.prepare(session)


async def _stored_answer(db: Database, keyed: _Keyed | None) -> idempotency.Stored | None:
    if keyed is None:
        return None

    def lookup_again() -> idempotency.Stored | None:
        with db.unit_of_work(write=False) as session:
            return _lookup(session, keyed)

    return await run_in_threadpool(lookup_again)


def _document(access: Access, kwargs: dict[str, Any]) -> None:
    """Put the route's permission into its OpenAPI operation."""
    extra = dict(kwargs.get("openapi_extra") or {})
    responses = dict(kwargs.get("responses") or {})
    if not access.public:
        extra["x-jifen-permission"] = access.permission.value if access.permission else None
        if access.on:
            extra["x-jifen-target"] = access.on
        if access.in_request:
            # Checked by the endpoint, on what the request carries.
            extra["x-jifen-checked-on"] = access.in_request
        if access.client_scope:
            extra["x-jifen-client-scope"] = access.client_scope.value
        security: list[dict[str, list[str]]] = []
        if access.staff:
            security.append({"ApiKey": []})
        if access.client_scope:
            security.append({"ClientCredentials": [access.client_scope.value]})
        extra["security"] = security
        for status, response in problem_responses(
            Unauthenticated, Forbidden, RateLimited, NotFound
        ).items():
            responses.setdefault(status, response)
    # Any request may meet a database that does not answer within its bounds, and any
    # request may be unreadable (a body that is not JSON, a key given twice).
    for status, response in problem_responses(
        ServiceUnavailable, MalformedRequest, DuplicateJsonKey
    ).items():
        if status in responses and status == MalformedRequest.status:
            merged = dict(responses[status])
            described = str(merged.get("description", ""))
            missing = [
                c for c in (MalformedRequest.code, DuplicateJsonKey.code) if c not in described
            ]
            if missing:
                merged["description"] = f"{described}, {', '.join(missing)}".lstrip(", ")
            responses[status] = merged
        else:
            responses.setdefault(status, response)
    kwargs["openapi_extra"] = extra
    kwargs["responses"] = responses


def _admit(
    db: Database, access: Access, token: str, params: dict[str, str]
) -> tuple[Caller, Scope]:
    """Authenticate and authorise, in a read transaction of its own (so that a write
    does not hold a lock while the body is read); what the endpoint checks itself, it
    checks in its own transaction."""
    now = utc_now()
    with db.watchdog.deadline(db.operation_timeout_seconds):
        reader = db.session(write=False)
        try:
            caller = guard.authenticate(reader, token, now, local_date(now, db.settings.zone))
            scope = guard.authorize(reader, caller, access, params)
        finally:
            reader.close()
    return caller, scope


def _audit(
    session: Session,
    state: _Request,
    action: str,
    status_code: int,
    result: Any,
    *,
    index: int | None = None,
) -> None:
    caller = state.caller
    assert caller is not None
    scope = caller.scope or state.scope
    target: dict[str, Any] = {}
    if scope is not None and scope.resource != "platform":
        target[scope.resource] = str(scope.identifier)
    created = getattr(result, "id", None)
    if created is not None:
        target["result_id"] = str(created)
    if index is not None:
        target["batch_index"] = index
    # What the audit log must say of the result itself (a manual adjustment's reason).
    note = getattr(result, "audit_note", None)
    if isinstance(note, str) and note:
        target["note"] = note[:500]
    write_batch(session).defer(
        _INSERT_AUDIT,
        {
            "id": new_id(),
            "at": utc_now(),
            "principal_id": caller.principal_id,
            "principal_name": caller.name,
            "action": action,
            "method": state.method,
            "path": state.path[:500],
            "status_code": status_code,
            "township_id": scope.township_id if scope else None,
            "village_id": scope.village_id if scope else None,
            "target": target,
        },
    )


class SecretShownOnce(Problem):
    code = "secret_shown_once"
    title = "Done already; its secret was shown once and is not kept"
    title_zh = "已完成；密钥只显示一次，系统不保存"
    status = 409


def _secret_shown_once(result: Any) -> bytes:
    created = getattr(result, "id", None)
    problem = SecretShownOnce(
        "This request was carried out before, and its secret was in that answer only. "
        "If it was lost, revoke what was made and make another.",
        detail_zh="该请求此前已执行，其密钥只在那次应答中出现。如已遗失，请撤销所建之物并重新创建。",
        resource_id=str(created) if created is not None else None,
    )
    return json.dumps(problem.body(), ensure_ascii=False).encode()


def _store(session: Session, keyed: _Keyed, status_code: int) -> None:
    assert keyed.body is not None
    idempotency.store(
        session,
        principal=keyed.principal,
        key=keyed.key,
        method=keyed.method,
        path=keyed.path,
        fingerprint=keyed.fingerprint,
        status_code=status_code,
        body=keyed.body,
        now=utc_now(),
    )


def _lookup(session: Session, keyed: _Keyed) -> idempotency.Stored | None:
    return idempotency.lookup(
        session, principal=keyed.principal, key=keyed.key, fingerprint=keyed.fingerprint
    )


def _replay(stored: idempotency.Stored) -> Response:
    media_type = PROBLEM_MEDIA_TYPE if stored.status_code >= 400 else "application/json"
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        media_type=media_type,
        headers={idempotency.REPLAYED_HEADER: "true"},
    )


def api_routes(app: Any) -> list[APIRoute]:
    """Every API route of an app, through the routers it includes."""
    found: list[APIRoute] = []

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.16x)
                walk(route.original_router.routes)

    walk(app.routes)
    return found
