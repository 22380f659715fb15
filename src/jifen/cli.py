"""The `jifen` command: serve, migrate, seed-demo, verify, tick, settle, export-openapi,
export-errors."""

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
def migrate(
    lock_timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for another process that is migrating", min=0),
    ] = 300,
) -> None:
    """Apply the database migrations (creates the SQLite file if needed). Replicas that
    start together take turns: one migrates, the others wait and find nothing to do."""
    from jifen.migrate import MigrationLockTimeout, upgrade

    settings = Settings()
    try:
        before, after = upgrade(settings.database_url, lock_timeout_seconds=lock_timeout)
    except MigrationLockTimeout as exc:
        typer.echo(f"not migrated: {exc}", err=True)
        raise typer.Exit(3) from None
    if before == after:
        typer.echo(f"{_safe_url(settings.database_url)} is at head ({after}): nothing to do")
    else:
        typer.echo(f"migrated {_safe_url(settings.database_url)} from {before} to head ({after})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: JIFEN_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: JIFEN_PORT or 8000")] = None,
    workers: int = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Also write uvicorn's plain access log (it shows query strings); each "
            "request is logged as a JSON line with its request id either way"
        ),
    ] = False,
) -> None:
    """Serve the REST API (interactive docs at /docs)."""
    import uvicorn

    from jifen.observability import configure_logging

    settings = Settings()
    configure_logging(settings)
    uvicorn.run(
        "jifen.main:create_served_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=access_log,
        # Logging is configured above (JSON lines), not by uvicorn.
        log_config=None,
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
    village: Annotated[
        str | None, typer.Option(help="One village, by id or code (every village if omitted)")
    ] = None,
    all_villages: Annotated[
        bool, typer.Option("--all", help="Every village (of --township, if given)")
    ] = False,
    township: Annotated[
        str | None, typer.Option(help="With --all: the villages of this township (id or code)")
    ] = None,
) -> None:
    """Recompute each village's hash chain and balances, one village at a time, with
    progress; exit 1 if anything is broken."""
    from jifen.kit.progress import progress
    from jifen.ledger import service as ledger
    from jifen.models import Township, Village

    if village is not None and (all_villages or township is not None):
        typer.echo("give either --village, or --all [--township]", err=True)
        raise typer.Exit(2)
    if township is not None and not all_villages:
        typer.echo("--township goes with --all", err=True)
        raise typer.Exit(2)
    settings = Settings()
    database = Database(settings)
    broken = 0
    try:
        with database.unit_of_work(write=False) as session:
            query = (
                select(Village.id, Village.code, Village.name, Township.code, Township.id)
                .join(Township, Township.id == Village.township_id)
                .order_by(Township.code, Village.code)
            )
            villages = [
                (village_id, code, name)
                for village_id, code, name, town_code, town_id in session.execute(query)
                if village in (None, code, str(village_id))
                and township in (None, town_code, str(town_id))
            ]
        if not villages:
            typer.echo("no village to verify", err=True)
            raise typer.Exit(2)
        with progress(len(villages), description="verifying") as step:
            for village_id, code, name in villages:
                # A read transaction per village: a township's books are not held open
                # all at once.
                with database.unit_of_work(write=False) as session:
                    result = ledger.verify_books(session, village_id)
                if result.is_intact:
                    step(f"{code} {name}: intact, {result.entries_checked} entries")
                    continue
                broken += 1
                lines = []
                if result.first_break:
                    fb = result.first_break
                    lines.append(
                        f"{code} {name}: BROKEN at seq {fb.seq} (entry {fb.entry_id}): {fb.reason}"
                    )
                for m in result.balance_mismatches:
                    lines.append(
                        f"{code} {name}: balance of account {m.account_id} is "
                        f"{m.stored}, postings give {m.replayed}"
                    )
                step("\n".join(lines) or f"{code} {name}: BROKEN")
    finally:
        database.dispose()
    typer.echo(
        f"{len(villages) - broken} of {len(villages)} villages intact"
        + (f", {broken} BROKEN" if broken else "")
    )
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
    """Open and close the public notice lists that fell due (posting held entries), book
    the points expiries and year-end clearings that fell due, and announce points about
    to expire. Safe to run twice, and after a gap: it catches up, in order."""
    from datetime import datetime, timedelta

    from jifen.api import idempotency
    from jifen.expiry import service as expiry
    from jifen.kit.clock import utc_now
    from jifen.notice import service as notice
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
    purged = None
    try:
        # Notice lists first: points posted at a list's closing are then seen by expiry.
        listed = notice.tick(database, now=at, village=village, progress=typer.echo)
        report = expiry.tick(database, now=at, village=village, progress=typer.echo)
        if village is None:
            # Idempotency records belong to callers, not villages: purged on a full tick.
            purged = idempotency.purge_expired(database, now=at, progress=typer.echo)
    except NotFound:
        typer.echo(f"no village {village!r}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    typer.echo(
        f"tick at {at.isoformat()}: {report.entries} entries booked, "
        f"{report.notices} notices of points expiring, "
        f"notice lists {listed.opened} opened and {listed.closed} closed "
        f"({listed.posted} held entries posted)"
        + (
            f", {purged.purged} idempotency records older than "
            f"{settings.idempotency_retention_days} days purged"
            if purged is not None
            else ""
        )
    )
    raise typer.Exit(1 if report.failed or listed.failed else 0)


@app.command("import-sheet")
def import_sheet(
    path: Annotated[Path, typer.Argument(help="The village's sheet: XLSX or CSV", exists=True)],
    village: Annotated[str, typer.Option(help="The village, by id or code")],
    township: Annotated[
        str | None, typer.Option(help="The township (id or code), if the code is not unique")
    ] = None,
    holder: Annotated[
        str, typer.Option(help="Who holds the balances: household (一户一档) or member")
    ] = "household",
    sheet: Annotated[str | None, typer.Option(help="The worksheet (XLSX); default: first")] = None,
    operator: Annotated[
        str, typer.Option(help="Who runs the import (kept in the audit trail)")
    ] = "operator",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be created; write nothing")
    ] = False,
) -> None:
    """Move a village onto jifen: households, members and opening balances (积分余额 and
    累计积分) from its sheet. All or nothing; running it again does nothing."""
    from jifen.kit.clock import local_date, utc_now
    from jifen.ledger import service as ledger
    from jifen.onboarding import service as onboarding
    from jifen.onboarding.sheet import SheetUnreadable, read

    if holder not in ("household", "member"):
        typer.echo(f"--holder {holder!r}: give household or member", err=True)
        raise typer.Exit(2)
    try:
        parsed = read(path, sheet_name=sheet)
    except SheetUnreadable as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = Settings()
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            found = onboarding.find_village(session, village, township)
            if len(found) != 1:
                typer.echo(
                    f"no village {village!r}"
                    if not found
                    else f"{len(found)} villages are {village!r}: give --township",
                    err=True,
                )
                raise typer.Exit(2)
            planned = onboarding.plan(
                session,
                sheet=parsed,
                village_id=found[0].id,
                holder="household" if holder == "household" else "member",
            )
            for line in planned.lines():
                typer.echo(line)
            if planned.refusals:
                typer.echo(f"nothing imported: {len(planned.refusals)} rows refused", err=True)
                raise typer.Exit(1)
            if dry_run:
                typer.echo("dry run: nothing written")
                session.rollback()
                return
            if planned.is_empty:
                typer.echo("nothing to do: the sheet is imported already")
                return
            now = utc_now()
            onboarding.apply(
                session,
                planned,
                clock=ledger.Clock(now=now, settings=settings),
                operator=operator,
                today=local_date(now, settings.zone),
            )
        typer.echo(
            f"imported: {len(planned.households_new)} households, "
            f"{len(planned.members_new)} members, {len(planned.openings_new)} opening entries"
        )
    finally:
        database.dispose()


@app.command()
def settle(
    township: Annotated[str, typer.Option(help="The township, by id or code")],
    period: Annotated[str, typer.Option(help="The quarter to settle, e.g. 2026Q3")],
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the settlement's CSV and XLSX into this directory", file_okay=False
        ),
    ] = None,
    operator: Annotated[
        str, typer.Option(help="Who drafts it (another person approves it)")
    ] = "operator",
) -> None:
    """Draft a township's 以奖代补 settlement for a quarter (the stored draft again if the
    books have not changed) and write its exports, with progress. Approval stays with
    another person, through the API."""
    import os
    import uuid

    from sqlalchemy import func

    from jifen.kit.clock import utc_now
    from jifen.kit.progress import progress
    from jifen.models import Township, Village
    from jifen.problems import Problem
    from jifen.subsidies import service as subsidies

    try:
        first, last = subsidies.quarter(period)
    except Problem as refused:
        typer.echo(f"--period: {refused.detail}", err=True)
        raise typer.Exit(2) from None
    if export is not None and export.exists() and not export.is_dir():
        typer.echo(f"--export {export}: not a directory", err=True)
        raise typer.Exit(2)
    settings = Settings()
    database = Database(settings)
    try:
        with database.unit_of_work(write=False) as session:
            towns = [
                (town_id, name)
                for town_id, code, name in session.execute(
                    select(Township.id, Township.code, Township.name)
                )
                if township in (code, str(town_id))
            ]
        if len(towns) != 1:
            typer.echo(f"no township {township!r}", err=True)
            raise typer.Exit(2)
        township_id, township_name = towns[0]
        with database.unit_of_work(write=False) as session:
            villages = session.execute(
                select(func.count(Village.id)).where(Village.township_id == township_id)
            ).scalar_one()
        total = 1 + villages + (2 if export is not None else 0)
        with progress(total, description=f"settling {township_name} {period.upper()}") as step:
            try:
                with database.unit_of_work() as session:
                    settlement = subsidies.draft(
                        session,
                        township_id=township_id,
                        first=first,
                        last=last,
                        actor=operator,
                        now=utc_now(),
                    )
                    settlement_id: uuid.UUID = settlement.id
                    total_fen = settlement.total_fen
                    result = subsidies.result_of(settlement)
            except Problem as refused:
                typer.echo(f"not settled: {refused.code}: {refused.detail}", err=True)
                raise typer.Exit(1) from None
            step(f"settlement {settlement_id}: {total_fen / 100:.2f} yuan in all")
            for village in result["villages"]:
                tier = f" ({village['tier_label']})" if village.get("tier_label") else ""
                step(
                    f"{village['code']} {village['name']}: "
                    f"{int(village['award_fen']) / 100:.2f} yuan{tier}"
                )
            if export is not None:
                export.mkdir(parents=True, exist_ok=True)
                for fmt in ("csv", "xlsx"):
                    with database.unit_of_work(write=False) as session:
                        content, stem = subsidies.export(session, settlement_id, fmt)
                    target = export / f"{stem}.{fmt}"
                    # Written whole and then renamed: never half a file under the real name.
                    partial = target.with_name(f".{target.name}.partial")
                    partial.write_bytes(content)
                    os.replace(partial, target)
                    step(f"wrote {target} ({len(content)} bytes)")
    finally:
        database.dispose()
    typer.echo(f"drafted settlement {settlement_id}; approve it with the API (another person)")


@app.command("export-errors")
def export_errors(
    output: Annotated[Path, typer.Option(help="Where to write the catalog")] = Path(
        "docs/errors.md"
    ),
) -> None:
    """Write the error catalog (every problem code, in English and Chinese) to docs/errors.md."""
    from jifen import error_catalog

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(error_catalog.markdown(), encoding="utf-8")
    typer.echo(f"wrote {output}")


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
