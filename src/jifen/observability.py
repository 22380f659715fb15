"""Logs and metrics: one JSON line per request, and Prometheus metrics at /metrics.

Invariants:
- Every HTTP response carries `X-Request-ID`: the caller's own if it is a plausible id
  (1-128 characters of letters, digits and `._:-`), else a new one. Every log line written
  while the request runs carries it.
- A request's log line names the route by its template (`/v1/accounts/{account_id}`),
  never the path or query as sent, and holds no header, cookie, body or query value: the
  secrets and personal data requests carry (credentials, card tokens, names, phone and ID
  numbers) have no way in. Every line, whoever wrote it (a library's error message
  quoting SQL parameters, say), is scrubbed once more of what looks like a secret or a
  phone or ID number before it is written.
- /metrics answers only with `Authorization: Bearer <JIFEN_METRICS_TOKEN>`; with no token
  configured it does not exist (404).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.routing import get_route_name
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.sql.dml import Insert
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from jifen.db import Database

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_PROBLEM_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

log = structlog.get_logger("jifen.request")


# --- logs -------------------------------------------------------------------------------

# What a secret or a person's number looks like, wherever it turns up in a line.
_SCRUB = [
    # jifen API keys, bearer credentials, JWTs (access tokens, card tokens).
    (re.compile(r"jfk_[A-Za-z0-9_\-]+"), "jfk_[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]+"), "Bearer [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), "[redacted-jwt]"),
    # Points card tokens (what a card's QR code holds).
    (re.compile(r"JFC\d-[A-Z0-9]+"), "JFC-[redacted]"),
    # Standard Webhooks secrets, and any "secret=..."/"password=..." pair.
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_[redacted]"),
    (
        re.compile(r"(?i)(secret|password|token|cookie)([\"']?\s*[:=]\s*)[^\s,;&\"'}]+"),
        r"\1\2[redacted]",
    ),
    # The parameters SQLAlchemy quotes in its errors (names, phone numbers, tokens).
    (re.compile(r"\[parameters: .*?\]\n?", re.DOTALL), "[parameters redacted]"),
    # Resident ID numbers (18 characters) and mainland mobile numbers.
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"), "[redacted-id-number]"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"), "[redacted-phone]"),
]


def scrub(text: str) -> str:
    """`text` without what looks like a secret, a phone number or an ID number."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def _scrub_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="at"),
]


def _configure_structlog() -> None:
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def log_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A handler that writes every record (structlog's and the standard library's) as one
    scrubbed JSON line."""
    _configure_structlog()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _scrub_event,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    return handler


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Route every log record of the process through one JSON handler (`jifen serve`).
    Uvicorn's own access log is off by default (`jifen serve --access-log` turns it on):
    it writes the path with its query string, which may carry a phone number."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(log_handler(stream))
    root.setLevel(settings.log_level)
    # uvicorn's own handlers go; its access logger is left as `--access-log` set it.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").handlers.clear()


def request_id_of(value: str | None) -> str:
    """The caller's request id if it is a plausible one, else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template is None:
        # Plain routes (/metrics, /till) do not mark the scope: match them again.
        found = get_route_name(Request(scope), False) if "app" in scope else None
        return found or "(unmatched)"
    # A mounted app (the web pages): its routes are relative to the mount point.
    return str(scope.get("root_path", "")) + str(template)


class RequestObserver:
    """ASGI middleware: the request id, the request's log line, refusal metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                supplied = value.decode("latin-1")
                break
        request_id = request_id_of(supplied)
        started = time.perf_counter()
        answer: dict[str, Any] = {"status": 500, "problem": False, "body": b""}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                answer["problem"] = headers.get("content-type", "").startswith(
                    "application/problem+json"
                )
            elif (
                message["type"] == "http.response.body"
                and answer["problem"]
                and len(answer["body"]) < 65536
            ):
                # Problem bodies are small; their code says why the request was refused.
                answer["body"] += message.get("body", b"")
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                try:
                    self._finish(scope, answer, started)
                except Exception:  # logging must never cost a request its answer
                    logging.getLogger(__name__).exception("request log failed")

    def _finish(self, scope: Scope, answer: dict[str, Any], started: float) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        state = scope.get("state") or {}
        caller = state.get("caller")
        principal = getattr(caller, "actor", None)
        village = None
        if caller is not None:
            # The village of the target the access check looked at, else the path's.
            checked = getattr(caller, "scope", None)
            village = getattr(checked, "village_id", None) or (scope.get("path_params") or {}).get(
                "village_id"
            )
        route = _route_template(scope)
        code = None
        if answer["problem"] and answer["body"]:
            try:
                code = json.loads(answer["body"]).get("code")
            except (ValueError, AttributeError):
                code = None
            if not isinstance(code, str) or not _PROBLEM_CODE.fullmatch(code):
                code = None  # a label of the metrics: only what a stable code looks like
        status = answer["status"]
        if self.metrics is not None and code is not None:
            self.metrics.refusals.labels(code=str(code), status=str(status)).inc()
        log.info(
            "request",
            method=scope.get("method"),
            route=route,
            status=status,
            latency_ms=latency_ms,
            principal=principal,
            village=str(village) if village else None,
            problem=code,
        )


# --- metrics ----------------------------------------------------------------------------


class Metrics:
    """The app's own registry (so that several apps in one process never collide)."""

    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry()
        self.database = database
        self.bookings = Counter(
            "jifen_entries_booked",
            "Entries committed to the ledger, by entry code.",
            ["code"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "jifen_refusals",
            "Requests answered with a problem (RFC 9457), by problem code and status "
            "(service_unavailable: a bounded wait ran out and the answer was 503).",
            ["code", "status"],
            registry=self.registry,
        )
        self.group_sizes = Histogram(
            "jifen_commit_group_size",
            "Writes committed together in one database transaction by the group committer.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
            registry=self.registry,
        )
        self.registry.register(_StateCollector(database))
        database.committer.add_observer(self.group_sizes.observe)
        self._watch_bookings(database)

    def _watch_bookings(self, database: Database) -> None:
        """Count entries as their transactions commit: an entry written and then rolled
        back (a refused unit of a group, a savepoint taken back) is not counted."""
        for engine in {database.write_engine, database.read_engine}:
            watchers = _WATCHERS.get(engine)
            if watchers is None:
                watchers = _WATCHERS[engine] = weakref.WeakSet()
                event.listen(engine, "after_execute", _note_entries)
                event.listen(engine, "savepoint", _savepoint)
                event.listen(engine, "rollback_savepoint", _rollback_savepoint)
                event.listen(engine, "release_savepoint", _release_savepoint)
                event.listen(engine, "rollback", _forget)
                event.listen(engine, "commit", _committed)
            watchers.add(self)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class _Pending:
    """Entry codes a connection's open transaction wrote, and where its savepoints began.
    Kept beside the connection, not in it: an invalidated connection (the database went
    away) refuses to show its `info`, and counting must never turn an outage into another
    error."""

    codes: list[str] = field(default_factory=list)
    savepoints: dict[str, int] = field(default_factory=dict)


_PENDING: weakref.WeakKeyDictionary[Connection, _Pending] = weakref.WeakKeyDictionary()
# The apps' metrics that count the bookings of each engine.
_WATCHERS: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[Metrics]] = weakref.WeakKeyDictionary()


def _committed(connection: Connection) -> None:
    pending = _PENDING.pop(connection, None)
    if pending is None:
        return
    for metrics in list(_WATCHERS.get(connection.engine, ())):
        for code in pending.codes:
            metrics.bookings.labels(code=code).inc()


def _note_entries(
    connection: Connection,
    clauseelement: Any,
    multiparams: Any,
    params: Any,
    _options: Any,
    _result: Any,
) -> None:
    if not isinstance(clauseelement, Insert) or clauseelement.table.name != "entries":
        return
    rows: Iterable[Any] = multiparams or [params]
    if isinstance(rows, dict):
        rows = [rows]
    pending = _PENDING.setdefault(connection, _Pending())
    for row in rows:
        if isinstance(row, dict) and row.get("code"):
            pending.codes.append(str(row["code"]))


def _savepoint(connection: Connection, name: str) -> None:
    pending = _PENDING.setdefault(connection, _Pending())
    pending.savepoints[name] = len(pending.codes)


def _rollback_savepoint(connection: Connection, name: str, _context: Any) -> None:
    pending = _PENDING.get(connection)
    if pending is not None and name in pending.savepoints:
        del pending.codes[pending.savepoints.pop(name) :]


def _release_savepoint(connection: Connection, name: str, _context: Any) -> None:
    pending = _PENDING.get(connection)
    if pending is not None:
        pending.savepoints.pop(name, None)


def _forget(connection: Connection) -> None:
    _PENDING.pop(connection, None)


class _StateCollector(Collector):
    """Read at each scrape: the group committer's counters, and the webhook backlog."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        stats = self.database.committer.stats
        for name, value, doc in (
            ("jifen_commit_groups", stats.groups, "Database transactions of the committer."),
            ("jifen_commit_units", stats.units, "Writes run by the committer."),
            ("jifen_commit_redos", stats.redos, "Groups run again after a refused write."),
            (
                "jifen_commit_lock_waits",
                stats.requeued,
                "Writes put back for the next group because another transaction held "
                "the village's books (a lock wait avoided).",
            ),
            (
                "jifen_commit_expired",
                stats.expired,
                "Writes withdrawn after waiting past JIFEN_WRITE_WAIT_TIMEOUT_SECONDS (503).",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "jifen_commit_queue",
            "Writes waiting for the committer.",
            value=self.database.committer.queued,
        )
        yield from _webhook_metrics(self.database)


def _webhook_metrics(database: Database) -> Iterator[Metric]:
    from jifen.models import WebhookDelivery

    by_status = GaugeMetricFamily(
        "jifen_webhook_deliveries",
        "Webhook deliveries by status: pending is the backlog, failed gave up after the "
        "last attempt.",
        labels=["status"],
    )
    counts = {"pending": 0, "failed": 0, "succeeded": 0}
    try:
        with database.unit_of_work(write=False) as session:
            query = select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
            for status, count in session.execute(query):
                counts[str(status)] = int(count)
    except Exception:  # the database is down: the metrics say so by their absence
        logging.getLogger(__name__).warning("webhook metrics unavailable", exc_info=True)
        return
    for status, count in sorted(counts.items()):
        by_status.add_metric([status], count)
    yield by_status


def install(app: FastAPI, settings: Settings, database: Database) -> Metrics:
    """Request ids and logs, and the metrics at /metrics, for the app."""
    # Request lines go through the standard library's logging: written (as JSON) where
    # the process configured a handler (configure_logging), and nowhere else.
    _configure_structlog()
    metrics = Metrics(database)
    Instrumentator(
        registry=metrics.registry,
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
    ).instrument(app)
    # Added last: outermost, so that every answer (the instrumentator's too) gets the id.
    app.add_middleware(RequestObserver, metrics=metrics)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""

    async def serve_metrics(request: Request) -> Response:
        from jifen.access.errors import Unauthenticated
        from jifen.problems import NotFound, render

        if not token:
            return render(NotFound("route", request.url.path), request)
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode(), token.encode()
        ):
            refusal = Unauthenticated(
                "/metrics needs JIFEN_METRICS_TOKEN",
                detail_zh="访问 /metrics 需要 JIFEN_METRICS_TOKEN",
            )
            return render(refusal, request)
        return Response(metrics.exposition(), media_type=PROMETHEUS_MEDIA_TYPE)

    app.add_route("/metrics", serve_metrics, methods=["GET"], include_in_schema=False)
    return metrics
