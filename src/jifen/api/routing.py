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
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jifen.api import idempotency
from jifen.api.deps import actor_of
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import IdempotencyRecord
from jifen.problems import PROBLEM_MEDIA_TYPE

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


# The request's unit of work, seen by the endpoint wrapper in its worker thread (the
# thread pool runs each call in a copy of the caller's context).
_current: ContextVar[_Unit] = ContextVar("jifen_unit_of_work")


class UnitOfWorkRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: database endpoints are plain functions")
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
            body = self._adapter.dump_json(result, by_alias=True)
            status_code = self.status_code or 200
            if unit.keyed is not None:
                unit.keyed.body = body
                _store(unit.session, unit.keyed, status_code)
            unit.session.commit()
            unit.session.close()
            return Response(body, status_code=status_code, media_type="application/json")

        return run_and_commit

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.response_model)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        methods = self.methods or set()
        is_write = bool(methods & _WRITE_METHODS)
        is_post = "POST" in methods

        async def route_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            key = request.headers.get(idempotency.HEADER) if is_post else None
            if key is None:
                return await _run(db, request, handler, is_write, keyed=None)
            return await _run_idempotent(db, request, handler, key)

        return route_handler


async def _run(
    db: Database,
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    is_write: bool,
    keyed: _Keyed | None,
) -> Response:
    session = db.session(write=is_write)
    request.state.session = session
    token = _current.set(_Unit(session, keyed))
    try:
        return await handler(request)
    except BaseException:
        # Harmless after a commit; undoes everything before one.
        await run_in_threadpool(_discard, session)
        raise
    finally:
        _current.reset(token)


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


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
    key: str,
) -> Response:
    settings = request.app.state.settings
    idempotency.check_key(key, settings.idempotency_key_length_max)
    keyed = _Keyed(
        principal=actor_of(request),
        key=key,
        fingerprint=idempotency.request_hash(
            request.method, request.url.path, request.url.query, await request.body()
        ),
        method=request.method,
        path=request.url.path,
    )

    def _lookup_again() -> idempotency.Stored | None:
        with db.unit_of_work(write=False) as session:
            return _lookup(session, keyed)

    try:
        return await _run(db, request, handler, True, keyed)
    except IntegrityError:
        # On PostgreSQL another request with the same key committed first: everything
        # this one did was rolled back, and it answers as the first did.
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
