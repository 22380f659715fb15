"""UnitOfWorkRoute: one database transaction per request, committed before the response
leaves, rolled back on any error; and Idempotency-Key handling for POST."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
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


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        methods = self.methods or set()
        is_write = bool(methods & _WRITE_METHODS)
        is_post = "POST" in methods

        async def route_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            key = request.headers.get(idempotency.HEADER) if is_post else None
            if key is None:
                return await _run(db, request, handler, is_write)
            return await _run_idempotent(db, request, handler, key)

        return route_handler


async def _run(
    db: Database,
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    is_write: bool,
    before_commit: Callable[[Session, Response], None] | None = None,
) -> Response:
    session = db.session(write=is_write)
    request.state.session = session
    try:
        response = await handler(request)
    except BaseException:
        await run_in_threadpool(_discard, session)
        raise

    def _finish() -> None:
        try:
            if before_commit is not None and response.status_code < 300:
                before_commit(session, response)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    await run_in_threadpool(_finish)
    return response


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def _run_idempotent(
    db: Database,
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    key: str,
) -> Response:
    settings = request.app.state.settings
    idempotency.check_key(key, settings.idempotency_key_length_max)
    principal = actor_of(request)
    fingerprint = idempotency.request_hash(
        request.method, request.url.path, request.url.query, await request.body()
    )

    def _lookup() -> idempotency.Stored | None:
        with db.unit_of_work(write=False) as session:
            return idempotency.lookup(
                session, principal=principal, key=key, fingerprint=fingerprint
            )

    def _store(session: Session, response: Response) -> None:
        session.add(
            IdempotencyRecord(
                principal=principal,
                key=key,
                method=request.method,
                path=request.url.path,
                request_hash=fingerprint,
                status_code=response.status_code,
                response_body=bytes(response.body),
                created_at=utc_now(),
            )
        )
        session.flush()

    stored = await run_in_threadpool(_lookup)
    if stored is None:
        try:
            return await _run(db, request, handler, True, before_commit=_store)
        except IntegrityError:
            # Another request with the same key committed first: everything this one did
            # was rolled back, and it answers as the first did.
            stored = await run_in_threadpool(_lookup)
            if stored is None:
                raise
    return _replay(stored)


def _replay(stored: idempotency.Stored) -> Response:
    media_type = PROBLEM_MEDIA_TYPE if stored.status_code >= 400 else "application/json"
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        media_type=media_type,
        headers={idempotency.REPLAYED_HEADER: "true"},
    )
