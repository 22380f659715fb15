"""Liveness (/healthz) and readiness (/readyz).

/healthz answers from the event loop alone: the process is alive and serving. /readyz
asks the database (a trivial statement, within a short deadline, in a thread of its own
so that a thread pool held up by a sick database cannot hold it up too) and looks at the
group committer; it answers 503 when either cannot do its work, so that a load balancer
sends requests elsewhere until it recovers.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from jifen.db import Database
from jifen.problems import PROBLEM_MEDIA_TYPE, ServiceUnavailable

READY_TIMEOUT_SECONDS = 2.0
# One probe at a time: a probe stuck on a frozen database makes the next ones fail fast.
_probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jifen-readyz")


async def live() -> dict[str, str]:
    return {"status": "ok"}


def _probe(db: Database) -> float:
    started = time.monotonic()
    with db.watchdog.deadline(READY_TIMEOUT_SECONDS), db.read_engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()
    return time.monotonic() - started


async def ready(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    checks: dict[str, Any] = {}
    problem = problem_zh = None
    try:
        seconds = await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(_probes, _probe, db),
            READY_TIMEOUT_SECONDS,
        )
        checks["database"] = {"status": "ok", "latency_ms": round(seconds * 1000, 2)}
    except Exception as exc:  # any failure means not ready
        checks["database"] = {"status": "unavailable", "error": type(exc).__name__}
        problem, problem_zh = "the database does not answer", "数据库无响应"
    committer = db.committer
    busy_since = committer.busy_since
    stuck = busy_since is not None and time.monotonic() - busy_since > db.operation_timeout_seconds
    checks["committer"] = {
        "status": "stuck" if stuck or not committer.is_alive else "ok",
        "queued": committer.queued,
    }
    if problem is None and (stuck or not committer.is_alive):
        problem = "the group committer is not making progress"
        problem_zh = "组提交器没有进展"
    if problem is None or problem_zh is None:
        return JSONResponse({"status": "ready", "checks": checks})
    retry_after: int = request.app.state.settings.retry_after_seconds
    body = ServiceUnavailable(
        problem, detail_zh=problem_zh, retry_after_seconds=retry_after, outcome="not_written"
    ).body(instance=request.url.path)
    return JSONResponse(
        {**body, "checks": checks},
        status_code=503,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Retry-After": str(retry_after)},
    )
