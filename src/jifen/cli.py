"""The `jifen` command: serve, migrate, seed-demo, verify, tick, export-openapi."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database

app = typer.Typer(help="jifen: a points ledger for village points schemes.", no_args_is_help=True)


@app.command()
def migrate() -> None:
    """Apply the database migrations (creates the SQLite file if needed)."""
    from jifen.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    typer.echo(f"migrated {_safe_url(settings.database_url)} to head")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: JIFEN_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: JIFEN_PORT or 8000")] = None,
    workers: int = 1,
    access_log: bool = True,
) -> None:
    """Serve the REST API (interactive docs at /docs)."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        "jifen.main:create_served_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=access_log,
    )


@app.command()
def worker(
    poll_interval: Annotated[float, typer.Option(help="Seconds to sleep when idle")] = 1.0,
) -> None:
    """Deliver webhooks (run it apart from `serve` with JIFEN_WEBHOOK_WORKER_IN_PROCESS=false)."""
    import signal
    import threading

    from jifen.webhooks.worker import DeliveryWorker

    settings = Settings()
    database = Database(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo("delivering webhooks; Ctrl-C to stop")
    DeliveryWorker(database, settings).run_forever(stop, poll_interval)
    database.dispose()


@app.command("seed-demo")
def seed_demo() -> None:
    """Seed a demo township with two villages, households, members and entries."""
    from jifen.demo.seed import seed

    settings = Settings()
    database = Database(settings)
    try:
        seed(database, settings, echo=typer.echo)
    finally:
        database.dispose()


@app.command("create-admin")
def create_admin(
    name: Annotated[str, typer.Option(help="Who the administrator is")] = "平台管理员",
    username: Annotated[str | None, typer.Option(help="For the web sign-in page")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="For the web sign-in page (asked for if a username is given)"),
    ] = None,
    key_only: Annotated[bool, typer.Option(help="Print only the API key")] = False,
) -> None:
    """Create a platform administrator and print their API key (shown only this once)."""
    from jifen.access import service as access
    from jifen.kit.clock import utc_now

    if username and not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = Settings()
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            user, key = access.create_platform_admin(
                session, name=name, username=username, password=password, now=utc_now()
            )
    finally:
        database.dispose()
    if key_only:
        typer.echo(key)
        return
    typer.echo(f"platform administrator {user.name} ({user.id})")
    typer.echo(f"API key (shown once, keep it safe): {key}")
    typer.echo("use it as: Authorization: Bearer <key>")


@app.command()
def verify(
    village: Annotated[str | None, typer.Option(help="Village id or code; default: all")] = None,
) -> None:
    """Recompute every village's hash chain and balances; exit 1 if anything is broken."""
    from jifen.ledger import service as ledger
    from jifen.models import Village

    settings = Settings()
    database = Database(settings)
    broken = 0
    try:
        with database.unit_of_work(write=False) as session:
            query = select(Village).order_by(Village.code)
            villages = [
                v for v in session.execute(query).scalars() if village in (None, v.code, str(v.id))
            ]
            if not villages:
                typer.echo("no village to verify", err=True)
                raise typer.Exit(2)
            for v in villages:
                result = ledger.verify_books(session, v.id)
                if result.is_intact:
                    typer.echo(f"{v.code} {v.name}: intact, {result.entries_checked} entries")
                    continue
                broken += 1
                if result.first_break:
                    fb = result.first_break
                    typer.echo(
                        f"{v.code} {v.name}: BROKEN at seq {fb.seq} "
                        f"(entry {fb.entry_id}): {fb.reason}"
                    )
                for m in result.balance_mismatches:
                    typer.echo(
                        f"{v.code} {v.name}: balance of account {m.account_id} is "
                        f"{m.stored}, postings give {m.replayed}"
                    )
    finally:
        database.dispose()
    raise typer.Exit(1 if broken else 0)


@app.command("tick")
def tick_command(
    now: Annotated[
        str | None,
        typer.Option(
            help="Apply what was due by this instant (ISO 8601; without an offset, in "
            "JIFEN_TIMEZONE); default: now. Never later than now."
        ),
    ] = None,
    village: Annotated[str | None, typer.Option(help="Village id or code; default: all")] = None,
) -> None:
    """Book the points expiries and year-end clearings that fell due, and announce points
    about to expire. Safe to run twice, and after a gap: it catches up, in order."""
    from datetime import datetime, timedelta

    from jifen.expiry import service as expiry
    from jifen.kit.clock import utc_now
    from jifen.problems import NotFound

    settings = Settings()
    wall = utc_now()
    at = wall
    if now is not None:
        try:
            given = datetime.fromisoformat(now)
        except ValueError:
            typer.echo(f"--now {now!r} is not an ISO 8601 date or time", err=True)
            raise typer.Exit(2) from None
        at = given if given.tzinfo else given.replace(tzinfo=settings.zone)
        if at > wall + timedelta(seconds=settings.occurred_at_future_skew_seconds):
            typer.echo(f"--now {now} is in the future: nothing may be booked ahead", err=True)
            raise typer.Exit(2)
    database = Database(settings)
    try:
        report = expiry.tick(database, now=at, village=village, progress=typer.echo)
    except NotFound:
        typer.echo(f"no village {village!r}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    typer.echo(
        f"tick at {at.isoformat()}: {report.entries} entries booked, "
        f"{report.notices} notices of points expiring"
    )
    raise typer.Exit(1 if report.failed else 0)


@app.command("export-openapi")
def export_openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document of the API (kept in the repository, checked by a test)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(openapi_text(), encoding="utf-8")
    typer.echo(f"wrote {output}")


def openapi_text() -> str:
    from jifen.main import create_app

    document = create_app(Settings(database_url="sqlite://")).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
