"""The `jifen` command: serve, migrate, seed-demo, verify, checkpoint, tick, settle,
backup, export, import, export-openapi, export-errors."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

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
def seed_demo(
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="Also write the keys, client credentials, binding code and ids the guides "
            "in docs/guides use, as shell exports (mode 0600; `source` it)"
        ),
    ] = None,
) -> None:
    """Seed a demo township with two villages, households, members and entries."""
    from jifen.demo import guides as demo_guides
    from jifen.demo.seed import TOWNSHIP_CODE, seed

    settings = Settings()
    database = Database(settings)
    env: dict[str, str] = {}
    try:
        seed(database, settings, echo=typer.echo, env=env)
    finally:
        database.dispose()
    if env_file is not None:
        if not env:
            typer.echo(f"{env_file} not written: the keys are shown only at the first seed")
            return
        lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
        env_file.touch(mode=0o600)
        env_file.chmod(0o600)
        env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        typer.echo(f"the guides' settings are in {env_file}: source it (docs/guides/)")
    if env:
        # What a newcomer tries first: each guide, its settings, a first command.
        for line in demo_guides.lines(
            env_file=str(env_file or "demo.env (write it with --env-file demo.env)"),
            township_code=TOWNSHIP_CODE,
            village_codes=["qingquan", "xinhua"],
        ):
            typer.echo(line)


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
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Signed checkpoints to check the chains against: a file, or a directory "
            "of monthly files (default: JIFEN_CHECKPOINT_DIR, if set)"
        ),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            help="A public key trusted to have signed checkpoints (PEM or base64); may be "
            "given again (keys of before a rotation). The configured key is trusted too."
        ),
    ] = None,
) -> None:
    """Recompute each village's hash chain and balances, one village at a time, with
    progress, and check each chain against the signed checkpoints kept outside the
    database; exit 1 if anything is broken."""
    from jifen.checkpoints import service as checkpoints_service
    from jifen.checkpoints.keys import KeyUnusable
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
    try:
        audit = checkpoints_service.audit_for(
            settings, source=checkpoints, public_keys=public_key or []
        )
    except (checkpoints_service.CheckpointsNotConfigured, KeyUnusable) as exc:
        typer.echo(f"not verified: {exc}", err=True)
        raise typer.Exit(2) from None
    database = Database(settings)
    broken = 0
    outside: list[str] = []
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
                    anchored = audit.check(session, village_id) if audit else None
                against = ""
                if anchored is not None and anchored.latest is not None:
                    against = (
                        f"; matches {anchored.checkpoints} checkpoints, latest at seq "
                        f"{anchored.latest.seq}"
                    )
                elif anchored is not None:
                    against = "; no checkpoint yet"
                if result.is_intact and (anchored is None or anchored.holds):
                    step(f"{code} {name}: intact, {result.entries_checked} entries{against}")
                    continue
                broken += 1
                lines = [
                    f"{code} {name}: CHECKPOINT MISMATCH: {problem}"
                    for problem in (anchored.problems if anchored else [])
                ]
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
        # What the files say beyond any one village: unreadable lines, and (when every
        # village was verified) checkpointed villages that are gone from the database.
        outside += audit.found.unreadable if audit else []
        if audit is not None and village is None and township is None:
            gone = set(audit.found.by_village) - {v for v, _, _ in villages}
            outside += [f"checkpointed village {v} is gone" for v in sorted(gone)]
        for line in outside:
            typer.echo(f"CHECKPOINT MISMATCH: {line}")
    finally:
        database.dispose()
    typer.echo(
        f"{len(villages) - broken} of {len(villages)} villages intact"
        + (f", {broken} BROKEN" if broken else "")
        + (f", {len(outside)} checkpoint problems outside them" if outside else "")
    )
    raise typer.Exit(1 if broken or outside else 0)


@app.command()
def checkpoint(
    township: Annotated[
        str | None, typer.Option(help="Only the villages of this township (id or code)")
    ] = None,
) -> None:
    """Sign every village's chain head now (Ed25519, the key of JIFEN_CHECKPOINT_KEY_FILE
    or JIFEN_CHECKPOINT_KEY) and append the checkpoints to JIFEN_CHECKPOINT_DIR and the
    database, with progress. A village whose chain contradicts its last checkpoint is not
    signed (exit 1)."""
    from jifen.checkpoints import service as checkpoints
    from jifen.checkpoints.keys import KeyUnusable
    from jifen.kit.clock import utc_now
    from jifen.kit.progress import progress
    from jifen.problems import NotFound

    settings = Settings()
    try:
        signer, directory = checkpoints.require_setup(settings)
    except (checkpoints.CheckpointsNotConfigured, KeyUnusable) as exc:
        typer.echo(f"no checkpoint written: {exc}", err=True)
        raise typer.Exit(2) from None
    database = Database(settings)
    try:
        with database.unit_of_work(write=False) as session:
            count = len(checkpoints.villages(session, township=township))
        if count == 0:
            typer.echo(f"no township {township!r}" if township else "no village", err=True)
            raise typer.Exit(2)
        with progress(count, description="signing") as step:
            report = checkpoints.write(
                database,
                signer=signer,
                directory=directory,
                now=utc_now(),
                township=township,
                step=step,
            )
    except NotFound:
        typer.echo(f"no township {township!r}", err=True)
        raise typer.Exit(2) from None
    except checkpoints.CheckpointFileBusy as exc:
        typer.echo(f"no checkpoint written: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(
        f"{report.signed} of {count} village heads signed with key {report.key_id}"
        + (f" into {report.path}" if report.path else "")
        + (f", {report.refused} NOT SIGNED" if report.refused else "")
    )
    raise typer.Exit(1 if report.failed else 0)


@app.command("checkpoint-keygen")
def checkpoint_keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (mode 0600)")],
) -> None:
    """Create an Ed25519 key for signing checkpoints: the private key in OUT (PEM, readable
    by its owner only; never overwritten) and the public key in OUT.pub for auditors."""
    from jifen.checkpoints import keys

    if out.exists():
        typer.echo(f"{out} exists: not overwritten (a key is never replaced silently)", err=True)
        raise typer.Exit(2)
    try:
        key = keys.write_new_key(out)
    except OSError as exc:
        typer.echo(f"{out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"key {keys.key_id_of(key.public_key())} written to {out} (mode 0600)")
    typer.echo(f"public key for auditors: {out}.pub")
    typer.echo(f"sign with it: JIFEN_CHECKPOINT_KEY_FILE={out.resolve()}")


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
    """Open and close the public notice lists that fell due (posting held entries) and
    close the boards they settle (storing the chain head, board.finalized), book the
    points expiries and year-end clearings that fell due, and announce points about to
    expire. Safe to run twice, and after a gap: it catches up, in order."""
    from datetime import datetime, timedelta

    from jifen import tick
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
        report = tick.run(database, settings, now=at, village=village, progress=typer.echo)
    except NotFound:
        typer.echo(f"no village {village!r}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    typer.echo(report.summary(settings))
    raise typer.Exit(1 if report.failed else 0)


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


def _print_what_if(
    database: Database, township_id: Any, first: Any, last: Any, document: Any
) -> None:
    """`jifen settle --what-if`: per village, the baseline and the what-if award, and the
    difference, in yuan; exits 1 on a refusal (the scheme's errors listed)."""
    from jifen.problems import Problem
    from jifen.subsidies import whatif

    def yuan(fen: int) -> str:
        return f"{fen / 100:,.2f}"

    try:
        with database.unit_of_work(write=False) as session:
            compared = whatif.what_if(
                session,
                township_id=township_id,
                first=first,
                last=last,
                scheme_version_id=None,
                document=document,
            )
    except Problem as refused:
        typer.echo(f"no what-if: {refused.code}: {refused.detail}", err=True)
        for error in refused.extra.get("errors", []):
            typer.echo(f"  {error['field']}: {error['message']}", err=True)
        raise typer.Exit(1) from None
    base, other = compared["baseline"], compared["what_if"]
    source = {"approved": "approved", "draft": "latest draft", "scheme_in_force": "scheme in force"}
    typer.echo(
        f"baseline: {source[base['source']]} (scheme v{base['scheme_version']} "
        f"{base['title']}); what-if: {other['title']}"
    )
    for village in compared["villages"]:
        sides = []
        for side in (village["baseline"], village["what_if"]):
            if side is None:
                sides.append("-")
                continue
            tier = f" {side['tier_label']}" if side["tier_label"] else ""
            rank = f" #{side['rank']}" if side["rank"] is not None else ""
            sides.append(f"{yuan(side['award_fen'])}{tier}{rank}")
        typer.echo(
            f"{village['code']} {village['name']}: {sides[0]} -> {sides[1]} "
            f"({village['difference_fen'] / 100:+,.2f})"
        )
    typer.echo(
        f"total: {yuan(base['total_fen'])} -> {yuan(other['total_fen'])} yuan "
        f"({compared['total_difference_fen'] / 100:+,.2f}); nothing stored"
        + ("; the books changed since the baseline" if compared["facts_changed"] else "")
    )


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
    what_if: Annotated[
        Path | None,
        typer.Option(
            "--what-if",
            help="A scheme document (JSON): print the quarter under it beside the approved "
            "settlement (or the latest draft); nothing is stored",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Draft a township's 以奖代补 settlement for a quarter (the stored draft again if the
    books have not changed) and write its exports, with progress. Approval stays with
    another person, through the API. With --what-if, compare instead of drafting."""
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
    document = None
    if what_if is not None:
        if export is not None:
            typer.echo("--what-if stores and exports nothing: leave out --export", err=True)
            raise typer.Exit(2)
        try:
            document = json.loads(what_if.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            typer.echo(f"--what-if {what_if}: not a JSON document ({exc})", err=True)
            raise typer.Exit(2) from None
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
        if document is not None:
            _print_what_if(database, township_id, first, last, document)
            return
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


@app.command()
def backup(
    out: Annotated[Path, typer.Option(help="Where to write the copy (never overwritten)")],
) -> None:
    """Copy a SQLite database while it serves and writes (sqlite3's online backup), with
    progress, then check the copy: integrity_check and every village's chain. For
    PostgreSQL use pg_dump or base backups with WAL archiving (docs/operations.md)."""
    import contextlib
    from collections.abc import Callable

    from jifen.backup import snapshot
    from jifen.kit.progress import progress

    settings = Settings()
    try:
        with contextlib.ExitStack() as bars:

            def steps(total: int) -> Callable[[str], None]:
                return bars.enter_context(progress(total, description="copying"))

            report = snapshot.backup(settings, out, progress_factory=steps)
    except snapshot.BackupRefused as exc:
        typer.echo(f"no backup made: {exc}", err=True)
        raise typer.Exit(2) from None
    except snapshot.BackupBroken as exc:
        typer.echo(f"BACKUP BROKEN (left at a .partial name): {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"backed up {_safe_url(settings.database_url)} to {report.path}: {report.pages} pages, "
        f"at revision {report.revision}; integrity ok, {report.villages} villages' chains "
        f"intact ({report.entries} entries)"
    )


@app.command("export")
def export_books(
    out: Annotated[Path, typer.Option(help="The JSON Lines file to write (never overwritten)")],
    village: Annotated[str | None, typer.Option(help="One village, by id or code")] = None,
    township: Annotated[
        str | None,
        typer.Option(help="A township (id or code): all its villages, or the one of --village"),
    ] = None,
) -> None:
    """Write a village's or township's books (tenancy, accounts, entries with postings and
    hashes, balances, chain heads; no keys or secrets) as JSON Lines, with progress.
    The same books give the same bytes. See docs/operations.md for what is included."""
    from jifen.backup import books
    from jifen.kit.progress import progress
    from jifen.problems import NotFound

    if village is None and township is None:
        typer.echo("give --village or --township", err=True)
        raise typer.Exit(2)
    if out.exists():
        typer.echo(f"{out} exists: not overwritten", err=True)
        raise typer.Exit(2)
    settings = Settings()
    database = Database(settings)
    try:
        # One read transaction: the file is one state of the books.
        with database.unit_of_work(write=False) as session:
            try:
                scope = books.find_scope(session, township=township, village=village)
            except NotFound as exc:
                typer.echo(f"nothing exported: {exc.detail}", err=True)
                raise typer.Exit(2) from None
            except ValueError as exc:
                typer.echo(f"nothing exported: {exc}", err=True)
                raise typer.Exit(2) from None
            with progress(len(scope.villages), description="exporting") as step:
                counts = books.export_path(
                    session, scope, out, revision=books.schema_revision(session), step=step
                )
    finally:
        database.dispose()
    typer.echo(
        f"exported to {out}: "
        + ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    )


@app.command("import")
def import_books(
    path: Annotated[Path, typer.Argument(help="A file written by `jifen export`", exists=True)],
) -> None:
    """Load an export into an empty database, in one transaction: every entry's hash,
    chain link, posting sum and balance is checked first; if any fails, the first failing
    line is named and nothing is written."""
    from jifen.backup import books

    try:
        loaded = books.load(books.read_lines(path))
    except books.ImportRefused as exc:
        typer.echo(f"nothing imported: {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    settings = Settings()
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            books.write(session, loaded)
    except books.ImportRefused as exc:
        typer.echo(f"nothing imported: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    counts = loaded.header.counts.model_dump()
    what = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    typer.echo(f"imported {path}: {what}")


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
