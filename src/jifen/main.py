"""create_app(): routers, error handlers, middleware. No logic here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from jifen import __version__, api_docs, error_catalog, health, observability
from jifen.access.cards_router import router as cards_router
from jifen.access.permissions import ClientScope
from jifen.access.ratelimit import RateLimiter
from jifen.access.router import oauth_router
from jifen.access.router import router as access_router
from jifen.api.routing import document_constraints
from jifen.boards.binding_router import router as bound_boards_router
from jifen.boards.public_router import PAGE_PATH, village_page
from jifen.boards.public_router import router as public_router
from jifen.boards.router import router as boards_router
from jifen.charters.router import charter_schemas
from jifen.charters.router import router as charters_router
from jifen.charters.whatif_router import router as whatif_router
from jifen.checkpoints.router import router as checkpoints_router
from jifen.config import Settings
from jifen.db import Database
from jifen.evidence import storage as evidence_storage
from jifen.evidence.router import router as evidence_router
from jifen.expiry.router import router as expiry_router
from jifen.labor.router import router as labor_router
from jifen.ledger.router import router as ledger_router
from jifen.market.reports_router import router as market_reports_router
from jifen.market.router import router as market_router
from jifen.notice.router import router as notice_router
from jifen.problems import ERROR_CATALOG_PATH, install_handlers
from jifen.rankings.router import router as rankings_router
from jifen.records.router import router as records_router
from jifen.spaces.router import router as spaces_router
from jifen.subsidies.router import router as subsidies_router
from jifen.tenancy.router import router as tenancy_router
from jifen.web import build_web_app, redirect_to_till
from jifen.webhooks.router import router as webhooks_router
from jifen.webhooks.worker import DeliveryWorker

DESCRIPTION = """
jifen is an append-only, double-entry points ledger for village points schemes
(爱心积分 / 积分超市).

* Every entry has at least two postings that sum to zero per asset (POINTS in whole
  points, CNY in fen). Entries are never changed: a mistake is corrected by a reversal.
* Every POST accepts an `Idempotency-Key` header: a retry with the same key and body
  books nothing new and returns the first response.
* Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* Every call but the token endpoint needs `Authorization: Bearer <credential>`: an API
  key (clerks' apps, tills) or an OAuth2 access token (third-party clients, from
  `POST /oauth/token`). Each operation names the permission it needs
  (`x-jifen-permission`) and the path parameter whose village it is checked against
  (`x-jifen-target`). A target in a village the caller cannot see answers 404, exactly
  as one that does not exist; a visible one without the permission answers 403.
* Every write is recorded with its acting principal (`GET /v1/audit-events`).
"""


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    *,
    webhook_worker: bool = False,
    tick_scheduler: bool = False,
) -> FastAPI:
    """The API. With `webhook_worker`, a thread delivers webhooks while the app runs;
    with `tick_scheduler`, a thread runs `jifen tick` every JIFEN_TICK_EVERY_MINUTES."""
    settings = settings or Settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="jifen",
        version=__version__,
        description=DESCRIPTION,
        # Served by api_docs from bundled assets: no CDN is reachable in many villages.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "tenancy", "description": "Townships, villages, households, members"},
            {"name": "accounts", "description": "Accounts, balances and statements"},
            {"name": "entries", "description": "Booking, reversal, pending entries"},
            {"name": "books", "description": "Verification and trial balance of a village's books"},
            {"name": "access", "description": "Users, roles, API keys, clients, tokens, audit"},
            {"name": "bindings", "description": "Members bound to a third-party client's users"},
            {"name": "webhooks", "description": "Signed event deliveries to clients"},
            {"name": "charters", "description": "Village charters (村规民约积分制) and what-if"},
            {"name": "records", "description": "Recording, review (初审/复核) and revocation"},
            {"name": "evidence", "description": "Evidence photos (证据照片) of records"},
            {"name": "labor", "description": "Village projects, activities and QR check-in"},
            {"name": "rankings", "description": "Leaderboards and member histories"},
            {"name": "boards", "description": "Red/black boards (红黑榜) and board rules"},
            {"name": "public", "description": "The public display (公示栏), no sign-in"},
        ],
    )
    app.state.settings = settings
    app.state.db = database or Database(settings)
    # A database the app made is the app's to close when it stops.
    app.state.owns_db = database is None
    app.state.webhook_worker = webhook_worker
    app.state.tick_scheduler = tick_scheduler
    app.state.rate_limiter = RateLimiter(settings.rate_limit)
    app.state.token_limiter = RateLimiter(settings.token_rate_limit)
    app.state.binding_limiter = RateLimiter(settings.binding_rate_limit)
    app.state.public_limiter = RateLimiter(settings.public_rate_limit)
    # Refuses a bucket without credentials now rather than at the first upload.
    app.state.evidence_storage = evidence_storage.from_settings(settings)
    install_handlers(app)
    app.include_router(ledger_router)
    app.include_router(tenancy_router)
    app.include_router(access_router)
    app.include_router(oauth_router)
    app.include_router(cards_router)
    app.include_router(webhooks_router)
    app.include_router(charters_router)
    app.include_router(records_router)
    app.include_router(evidence_router)
    app.include_router(labor_router)
    app.include_router(rankings_router)
    app.include_router(whatif_router)
    app.include_router(market_router)
    app.include_router(market_reports_router)
    app.include_router(expiry_router)
    app.include_router(subsidies_router)
    app.include_router(spaces_router)
    app.include_router(boards_router)
    app.include_router(bound_boards_router)
    app.include_router(public_router)
    # The public display page (公示栏) for a village's screen or a phone: no sign-in.
    app.add_route(PAGE_PATH, village_page, methods=["GET"], include_in_schema=False)
    app.include_router(checkpoints_router)
    app.include_router(notice_router)
    # The web pages: a Starlette app of their own (pages, not access-checked API routes).
    app.mount("/web", build_web_app(settings, app.state.db))
    app.add_route("/till", redirect_to_till, methods=["GET"], include_in_schema=False)
    api_docs.install(app)
    # The error catalog each problem's `type` links to (public, like /docs).
    app.add_route(
        ERROR_CATALOG_PATH, error_catalog.serve_page, methods=["GET"], include_in_schema=False
    )
    _declare_security(app)

    app.add_api_route("/healthz", health.live, name="healthz", include_in_schema=False)
    app.add_api_route("/readyz", health.ready, name="readyz", include_in_schema=False)
    # Request ids, JSON request logs, and Prometheus metrics at /metrics.
    app.state.metrics = observability.install(app, settings, app.state.db)
    return app


def create_served_app() -> FastAPI:
    """What `jifen serve` runs: the API, and the webhook worker unless it runs apart."""
    settings = Settings()
    observability.configure_logging(settings)
    return create_app(
        settings,
        webhook_worker=settings.webhook_worker_in_process,
        tick_scheduler=settings.tick_every_minutes > 0,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    db: Database = app.state.db
    # Reads run in the thread pool, one connection each: no more threads than the pool
    # has connections, so that none waits for one.
    to_thread.current_default_thread_limiter().total_tokens = db.settings.db_pool_size
    worker = None
    if app.state.webhook_worker:
        worker = DeliveryWorker(db, app.state.settings)
        worker.start_in_thread()
    scheduler = None
    if app.state.tick_scheduler:
        from jifen.tick import Scheduler  # the tick imports most services

        scheduler = Scheduler(db, app.state.settings)
        scheduler.start()
    app.state.scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()
        if worker is not None:
            worker.stop()
        if app.state.owns_db:
            db.dispose()


def _declare_security(app: FastAPI) -> None:
    """Name the two credential schemes in the OpenAPI document."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            # Bodies an endpoint parses itself (a charter, JSON or YAML) name their schema here.
            schema.setdefault("components", {}).setdefault("schemas", {}).update(charter_schemas())
            schema["components"]["securitySchemes"] = {
                "ApiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (jfk_...) of a user: clerks' apps and tills.",
                },
                "ClientCredentials": {
                    "type": "oauth2",
                    "description": "Third-party clients: an access token from /oauth/token.",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/oauth/token",
                            "scopes": {scope.value: scope.name for scope in ClientScope},
                        }
                    },
                },
            }
            document_constraints(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
