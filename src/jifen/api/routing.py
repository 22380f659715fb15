"""UnitOfWorkRoute: one database transaction per request, and Idempotency-Key for POST.

The transaction commits in the endpoint's own worker thread, right after the endpoint
returns, and before any response leaves: the locks a booking takes (SQLite's write lock,
PostgreSQL's row locks) are held for the service call and the commit only, not while the
event loop serialises the response. Any error rolls everything back.

The response body is serialised in that same thread, against the route's response
model, and returned as is (FastAPI neither validates it again nor sends it to the thread
pool a second time). With an Idempotency-Key, the stored answer is looked up in the same
transaction before the endpoint runs, and a new body is stored in it after: the first
answer and every replay are those very bytes.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jifen.access import guard
from jifen.access.errors import Forbidden, RateLimited, Unauthenticated
from jifen.access.guard import Access, Caller, Scope
from jifen.access.ratelimit import RateLimiter
from jifen.api import idempotency
from jifen.db import Database
from jifen.kit.clock import local_date, utc_now
from jifen.kit.ids import new_id
from jifen.models import AuditEvent, IdempotencyRecord
from jifen.problems import (
    PROBLEM_MEDIA_TYPE,
    InternalError,
    NotFound,
    Problem,
    problem_responses,
)

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_INSERT_AUDIT = insert(cast(Table, AuditEvent.__table__))


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
class _Unit:
    session: Session
    keyed: _Keyed | None = None
    caller: Caller | None = None
    scope: Scope | None = None
    method: str = ""
    path: str = ""


# The request's unit of work, seen by the endpoint wrapper in its worker thread (the
# thread pool runs each call in a copy of the caller's context).
_current: ContextVar[_Unit] = ContextVar("jifen_unit_of_work")


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
        _document(access, kwargs)
        super().__init__(path, self._committing(endpoint), **kwargs)

    def _committing(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(endpoint)
        def run_and_commit(*args: Any, **kwargs: Any) -> Response:
            unit = _current.get()
            if unit.keyed is not None:
                # Inside the request's own write transaction: on SQLite the write lock is
                # already held, so two retries cannot both miss the stored answer.
                stored = _lookup(unit.session, unit.keyed)
                if stored is not None:
                    _discard(unit.session)
                    return _replay(stored)
            result = endpoint(*args, **kwargs)
            if isinstance(result, Response):
                # An endpoint that answers in a format of its own (the OAuth2 token
                # endpoint); it is never stored for idempotency.
                unit.session.commit()
                unit.session.close()
                return result
            left_to_endpoint = self.access.checked_by_endpoint
            if left_to_endpoint and unit.caller is not None and not unit.caller.checked:
                # The route left the permission to the endpoint (it depends on the body),
                # and the endpoint did not check one: refuse rather than let it through.
                raise InternalError("the endpoint did not check a permission")
            body = self._adapter.dump_json(result, by_alias=True)
            status_code = self.status_code or 200
            if unit.keyed is not None:
                if self.access.shows_secret:
                    # The secret is never stored: a retry learns that the work was done,
                    # and which resource it made, but not the secret.
                    unit.keyed.body = _secret_shown_once(result)
                    _store(unit.session, unit.keyed, SecretShownOnce.status)
                else:
                    unit.keyed.body = body
                    _store(unit.session, unit.keyed, status_code)
            if unit.caller is not None and self._is_write:
                _audit(unit, self.name, status_code, result)
            unit.session.commit()
            unit.session.close()
            return Response(body, status_code=status_code, media_type="application/json")

        return run_and_commit

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.response_model)

    @functools.cached_property
    def _is_write(self) -> bool:
        return bool((self.methods or set()) & _WRITE_METHODS)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        methods = self.methods or set()
        is_write = bool(methods & _WRITE_METHODS)
        is_post = "POST" in methods
        access = self.access

        async def route_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            token = (
                None if access.public else guard.bearer_token(request.headers.get("authorization"))
            )
            if not access.public and token is None:
                raise Unauthenticated(
                    "This endpoint needs credentials: Authorization: Bearer <token>",
                    error="invalid_request",
                )
            key = request.headers.get(idempotency.HEADER) if is_post else None
            if key is None:
                return await _run(db, request, handler, is_write, access, token, key=None)
            return await _run_idempotent(db, request, handler, access, token, key)

        return route_handler


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
    kwargs["openapi_extra"] = extra
    kwargs["responses"] = responses


def _admit(
    db: Database,
    session: Session,
    is_write: bool,
    access: Access,
    token: str,
    params: dict[str, str],
) -> tuple[Caller, Scope]:
    """Authenticate and authorise.

    A read does it in its own transaction. A write does it in a read transaction of its
    own, so that it does not hold the write lock (SQLite's) while the request body is
    read and validated; what the endpoint checks itself, it checks in the write.
    """
    now = utc_now()
    reader = db.session(write=False) if is_write else session
    try:
        caller = guard.authenticate(reader, token, now, local_date(now, db.settings.zone))
        scope = guard.authorize(reader, caller, access, params)
    finally:
        if reader is not session:
            reader.close()
    if guard.key_use_is_stale(caller, now):
        with db.unit_of_work(write=True) as touch:
            guard.touch_api_key(touch, caller, now)
    return caller, scope


async def _run(
    db: Database,
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    is_write: bool,
    access: Access,
    token: str | None,
    key: _Keyed | None,
    *,
    on_caller: Callable[[Caller], _Keyed | None] | None = None,
) -> Response:
    session = db.session(write=is_write)
    request.state.session = session
    unit = _Unit(session, key, method=request.method, path=request.url.path)
    context = _current.set(unit)
    try:
        if token is not None:
            params = {**request.query_params, **request.path_params}
            caller, unit.scope = await run_in_threadpool(
                _admit, db, session, is_write, access, token, params
            )
            unit.caller = caller
            limiter: RateLimiter = request.app.state.rate_limiter
            limiter.hit(caller.rate_key)
            if on_caller is not None:
                unit.keyed = on_caller(caller)
        request.state.caller = unit.caller
        return await handler(request)
    except BaseException:
        # Harmless after a commit; undoes everything before one.
        await run_in_threadpool(_discard, session)
        raise
    finally:
        _current.reset(context)


def _audit(unit: _Unit, action: str, status_code: int, result: Any) -> None:
    caller = unit.caller
    assert caller is not None
    scope = caller.scope or unit.scope
    target: dict[str, Any] = {}
    if scope is not None and scope.resource != "platform":
        target[scope.resource] = str(scope.identifier)
    created = getattr(result, "id", None)
    if created is not None:
        target["result_id"] = str(created)
    unit.session.connection().execute(
        _INSERT_AUDIT,
        {
            "id": new_id(),
            "at": utc_now(),
            "principal_id": caller.principal_id,
            "principal_name": caller.name,
            "action": action,
            "method": unit.method,
            "path": unit.path[:500],
            "status_code": status_code,
            "township_id": scope.township_id if scope else None,
            "village_id": scope.village_id if scope else None,
            "target": target,
        },
    )


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


class SecretShownOnce(Problem):
    code = "secret_shown_once"
    title = "Done already; its secret was shown once and is not kept"
    status = 409


def _secret_shown_once(result: Any) -> bytes:
    created = getattr(result, "id", None)
    problem = SecretShownOnce(
        "This request was carried out before, and its secret was in that answer only. "
        "If it was lost, revoke what was made and make another.",
        resource_id=str(created) if created is not None else None,
    )
    return json.dumps(problem.body(), ensure_ascii=False).encode()


def _store(session: Session, keyed: _Keyed, status_code: int) -> None:
    assert keyed.body is not None
    session.add(
        IdempotencyRecord(
            principal=keyed.principal,
            key=keyed.key,
            method=keyed.method,
            path=keyed.path,
            request_hash=keyed.fingerprint,
            status_code=status_code,
            response_body=keyed.body,
            created_at=utc_now(),
        )
    )
    session.flush()


async def _run_idempotent(
    db: Database,
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    access: Access,
    token: str | None,
    key: str,
) -> Response:
    settings = request.app.state.settings
    idempotency.check_key(key, settings.idempotency_key_length_max)
    fingerprint = idempotency.request_hash(
        request.method, request.url.path, request.url.query, await request.body()
    )
    made: list[_Keyed] = []

    def keyed_for(caller: Caller | None) -> _Keyed:
        # Keys are the caller's own: two callers may use the same key for different work.
        keyed = _Keyed(
            principal=caller.actor if caller else "anonymous",
            key=key,
            fingerprint=fingerprint,
            method=request.method,
            path=request.url.path,
        )
        made.append(keyed)
        return keyed

    def _lookup_again() -> idempotency.Stored | None:
        with db.unit_of_work(write=False) as session:
            return _lookup(session, made[0])

    try:
        if token is None:
            return await _run(db, request, handler, True, access, None, keyed_for(None))
        return await _run(db, request, handler, True, access, token, None, on_caller=keyed_for)
    except IntegrityError:
        # On PostgreSQL another request with the same key committed first: everything
        # this one did was rolled back, and it answers as the first did.
        if not made:
            raise
        stored = await run_in_threadpool(_lookup_again)
        if stored is None:
            raise
        return _replay(stored)


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
