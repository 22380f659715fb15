"""create_app(): routers, error handlers, middleware. No logic here."""

from __future__ import annotations

from fastapi import FastAPI

from jifen import __version__
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger.router import router as ledger_router
from jifen.problems import install_handlers
from jifen.tenancy.router import router as tenancy_router

DESCRIPTION = """
jifen is an append-only, double-entry points ledger for village points schemes
(爱心积分 / 积分超市).

* Every entry has at least two postings that sum to zero per asset (POINTS in whole
  points, CNY in fen). Entries are never changed: a mistake is corrected by a reversal.
* Every POST accepts an `Idempotency-Key` header: a retry with the same key and body
  books nothing new and returns the first response.
* Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* `X-Jifen-Actor` names who is acting; every entry records it.
"""


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="jifen",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "tenancy", "description": "Townships, villages, households, members"},
            {"name": "accounts", "description": "Accounts, balances and statements"},
            {"name": "entries", "description": "Booking, reversal, pending entries"},
            {"name": "books", "description": "Verification and trial balance of a village's books"},
        ],
    )
    app.state.settings = settings
    app.state.db = database or Database(settings)
    install_handlers(app)
    app.include_router(ledger_router)
    app.include_router(tenancy_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
