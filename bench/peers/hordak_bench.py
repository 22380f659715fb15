"""Peer benchmark: django-hordak booking throughput on PostgreSQL, on this machine.

jifen's performance aims compare it with django-hordak, a general-purpose double-entry
ledger for Django. This script measures hordak with jifen's booking workload so that the
two sets of figures come from the same machine (and, run from jifen's benchmark, the same
run):

- ONE set of books (a "village"): an issuance account (hordak type income) and 1,000
  member accounts (children of one asset-type root account);
- a booking is an award of 2 points from the issuance account to one member account,
  members taken round-robin, made through hordak's public API: by default
  `issuance.transfer_to(member, Money(2, "XXX"))`, one hordak Transaction with two Legs
  (credit issuance, debit member) inside an atomic block; hordak's deferred constraint
  triggers check at commit that the legs balance and match the accounts' currencies;
- bookings/s one booking per commit and 1,000 bookings per commit, each over the whole
  phase and over its first and last 10% (does it slow down as the books grow?), the
  median of --runs runs, each phase of each run on freshly created books (a new database
  cloned from a migrated template, then new accounts);
- then a small count run: SQL statements (as Django logs them) and client/server round
  trips (libpq protocol trace) per booking.

Run it with the peers virtual environment (see run_hordak.sh beside this file), not with
jifen's own .venv: `bench/peers/run_hordak.sh --help`. It needs a PostgreSQL server whose
user may create databases; it creates its own databases with unique names and drops them
at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

CURRENCY = "XXX"  # ISO 4217 "no currency": points are not money
AWARD_POINTS = 2
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


# --- PostgreSQL server: databases of our own ----------------------------------------------


@dataclass(frozen=True)
class Server:
    """Where the PostgreSQL server is (a URL without a database) and how to reach it."""

    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> Server:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise SystemExit(f"--pg-url must be postgresql://user@host:port, not {url!r}")
        if parts.path.strip("/"):
            raise SystemExit(f"--pg-url names no database (this script makes its own): {url!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
        )

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname,
            autocommit=True,
        )


class Databases:
    """Creates databases with unique names and drops every one of them at the end."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.prefix = f"hordak_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []

    def create(self, suffix: str, template: str | None = None) -> str:
        name = f"{self.prefix}_{suffix}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with contextlib.closing(self.server.connect()) as conn:
            self.created.append(name)
            conn.execute(sql)
        return name

    def drop(self, name: str) -> None:
        with contextlib.closing(self.server.connect()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(reversed(self.created)):
            try:
                self.drop(name)
            except Exception as exc:  # keep dropping the others
                log(f"could not drop database {name}: {exc}")

    def server_settings(self) -> dict[str, str]:
        """The server's version and the settings that decide what a commit costs."""
        names = ("server_version", "synchronous_commit", "fsync", "wal_sync_method")
        names += ("commit_delay", "shared_buffers")
        with contextlib.closing(self.server.connect()) as conn:
            return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}


# --- Django and hordak --------------------------------------------------------------------


def configure_django(server: Server, dbname: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="hordak-peer-benchmark",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "mptt",
            "djmoney",
            "hordak",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": dbname,
                "USER": server.user,
                "PASSWORD": server.password,
                "HOST": server.host,
                "PORT": str(server.port),
                "CONN_MAX_AGE": None,  # one connection for the whole phase
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DEFAULT_CURRENCY=CURRENCY,
        CURRENCIES=(CURRENCY,),
        HORDAK_CURRENCIES=[CURRENCY],
        LOGGING_CONFIG=None,
    )
    django.setup()


def use_database(dbname: str) -> None:
    """Point Django's default connection at another database (closing the current one)."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = dbname


@dataclass
class Books:
    """One village's books in hordak: an issuance account and the member accounts."""

    issuance: Any
    members: list[Any]
    setup_s: float = 0.0


def create_books(accounts: int) -> Books:
    from django.db import transaction
    from hordak.models import Account, AccountType

    width = max(4, len(str(accounts - 1)))
    if width > 6:
        raise SystemExit("hordak account codes have at most 6 characters: --accounts < 10**6")
    with transaction.atomic():
        issuance = Account.objects.create(
            name="Village points issuance", code="1", type=AccountType.income
        )
        root = Account.objects.create(name="Village members", code="2", type=AccountType.asset)
        members = [
            Account.objects.create(name=f"Member {n:0{width}d}", code=f"{n:0{width}d}", parent=root)
            for n in range(accounts)
        ]
    return Books(issuance, members)


def booker(api: str, books: Books) -> Callable[[int], None]:
    """A function that books award number k; its own atomic block or the caller's holds it.

    transfer_to: hordak's shortcut, Account.transfer_to(), an @atomic method: the outermost
    atomic block when called alone, a savepoint inside the caller's block.
    legs: Transaction.objects.create() and two Leg.objects.create() in an atomic block.
    """
    from django.db import transaction
    from hordak.models import Leg, Transaction
    from moneyed import Money

    amount = Money(AWARD_POINTS, CURRENCY)
    issuance, members = books.issuance, books.members
    n = len(members)

    if api == "transfer_to":

        def book(k: int) -> None:
            issuance.transfer_to(members[k % n], amount, description="award")

    else:

        def book(k: int) -> None:
            with transaction.atomic(savepoint=False):  # inside a batch: no savepoint
                tx = Transaction.objects.create(description="award")
                Leg.objects.create(transaction=tx, account=issuance, credit=amount)
                Leg.objects.create(transaction=tx, account=members[k % n], debit=amount)

    return book


def check_books(books: Books, bookings: int) -> None:
    """After a phase (untimed): hordak's own accounting-equation check, and the counts."""
    from hordak.models import Account, Leg, Transaction

    Account.validate_accounting_equation()
    legs, txs = Leg.objects.count(), Transaction.objects.count()
    if (legs, txs) != (2 * bookings, bookings):
        raise RuntimeError(f"expected {bookings} transactions, found {txs} with {legs} legs")
    n = len(books.members)
    got = books.members[0].get_balance()
    want = AWARD_POINTS * len(range(0, bookings, n))
    if got[CURRENCY].amount != want:
        raise RuntimeError(f"member 0 has {got}, expected {want} points")


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Phase:
    """Bookings of one phase, committed `per_commit` at a time, with a timeline of commits."""

    label: str
    total: int
    per_commit: int
    progress_seconds: float
    timeline: list[tuple[int, float]] = field(default_factory=lambda: [(0, 0.0)])
    commit_seconds: float = 0.0  # batches only: COMMIT, when hordak's deferred checks run

    def run(self, book: Callable[[int], None]) -> None:
        from django.db import transaction

        done, busy = 0, 0.0
        last_done, last_wall = 0, time.perf_counter()
        while done < self.total:
            n = min(self.per_commit, self.total - done)
            started = time.perf_counter()
            if n == 1:
                book(done)  # its own atomic block: one commit
            else:
                with transaction.atomic():
                    for k in range(done, done + n):
                        book(k)
                    committing = time.perf_counter()
                self.commit_seconds += time.perf_counter() - committing
            now = time.perf_counter()
            busy += now - started
            done += n
            self.timeline.append((done, busy))
            if now - last_wall >= self.progress_seconds or done == self.total:
                rate = done / busy
                log(
                    f"  {self.label}: {done:,}/{self.total:,} bookings, {rate:,.0f}/s "
                    f"(last {now - last_wall:.0f} s: {(done - last_done) / (now - last_wall):,.0f}"
                    f"/s), ETA {(self.total - done) / rate:,.0f} s"
                )
                last_done, last_wall = done, now

    def rate(self, lo: float, hi: float) -> float:
        """Bookings/s from the last commit at or before booking `lo` to the first at or
        after booking `hi`."""
        i = max(k for k, (d, _) in enumerate(self.timeline) if d <= lo)
        j = min(k for k, (d, _) in enumerate(self.timeline) if d >= hi)
        (d0, t0), (d1, t1) = self.timeline[i], self.timeline[j]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else float("nan")

    def figures(self) -> dict[str, float]:
        n, seconds = self.total, self.timeline[-1][1]
        out = {
            "per_s": self.rate(0, n),
            "first10_per_s": self.rate(0, n * 0.1),
            "last10_per_s": self.rate(n * 0.9, n),
            "seconds": seconds,
        }
        if self.per_commit > 1:
            out["commit_share"] = self.commit_seconds / seconds
        return out


@contextlib.contextmanager
def fresh_books(dbs: Databases, template: str, suffix: str, accounts: int) -> Iterator[Books]:
    """A new database cloned from the migrated template, with new books in it."""
    name = dbs.create(suffix, template=template)
    use_database(name)
    try:
        started = time.perf_counter()
        books = create_books(accounts)
        books.setup_s = time.perf_counter() - started
        log(f"  books created in {name}: {accounts:,} member accounts in {books.setup_s:.1f} s")
        yield books
    finally:
        use_database(template)
        dbs.drop(name)


# --- counting statements and round trips --------------------------------------------------


def count_round_trips(book: Callable[[int], None], bookings: int, per_commit: int) -> dict:
    """Book `bookings` awards, `per_commit` per commit, logging Django's SQL statements and
    the libpq protocol messages the client sends: a round trip is a simple Query or an
    extended-protocol Sync."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from psycopg import pq

    def book_logged(k: int) -> None:
        if k != 1:  # the statements of the second booking (of the batch) are shown
            book(k)
            return
        with CaptureQueriesContext(connection) as one:
            book(k)
        shown.extend(_shorten(q["sql"]) for q in one.captured_queries)

    shown: list[str] = []
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace, CaptureQueriesContext(connection) as queries:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            for start in range(0, bookings, per_commit):
                if per_commit == 1:
                    book_logged(start)
                else:
                    with transaction.atomic():
                        for k in range(start, start + per_commit):
                            book_logged(k)
        finally:
            pgconn.untrace()
        trace.seek(0)
        sent = Counter(
            line.split("\t")[2] for line in trace if line.startswith("F\t") and line.count("\t") > 1
        )
    trips = sent["Query"] + sent["Sync"]
    return {
        "bookings": bookings,
        "per_commit": per_commit,
        "django_statements_per_booking": len(queries.captured_queries) / bookings,
        "round_trips_per_booking": trips / bookings,
        "protocol_messages_sent": dict(sent),
        "statements_of_one_booking": shown,
    }


def _shorten(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql)
    return sql if len(sql) <= 110 else sql[:107] + "..."


def check_refuses_unbalanced(books: Books) -> str:
    """hordak's database check: an unbalanced transaction must be refused at commit."""
    from django.db import DatabaseError, transaction
    from hordak.models import Leg, Transaction
    from moneyed import Money

    try:
        with transaction.atomic():
            tx = Transaction.objects.create(description="unbalanced")
            Leg.objects.create(transaction=tx, account=books.issuance, credit=Money(2, CURRENCY))
            Leg.objects.create(transaction=tx, account=books.members[0], debit=Money(1, CURRENCY))
    except DatabaseError as exc:
        return f"refused at commit: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    raise RuntimeError("hordak accepted an unbalanced transaction")


# --- the benchmark ------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("django-hordak", "Django", "psycopg", "psycopg-binary", "django-mptt"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def run(args: argparse.Namespace, dbs: Databases) -> dict[str, Any]:
    started_at, load_start = datetime.now(UTC), _load()
    found = versions()
    pg = dbs.server_settings()
    log(
        f"django-hordak {found['django-hordak']}, Django {found['Django']}, psycopg "
        f"{found['psycopg']}, Python {found['python']}; {os.cpu_count()} CPUs, load {_load()}"
    )
    log(
        f"PostgreSQL {pg['server_version']} at {dbs.server.host}:{dbs.server.port}: "
        + ", ".join(f"{k}={v}" for k, v in pg.items() if k != "server_version")
    )
    log(
        f"workload: {args.accounts:,} member accounts; {args.runs} runs of "
        f"{args.bookings_single:,} bookings one per commit and {args.bookings_batched:,} "
        f"bookings {args.batch_size:,} per commit; API {args.api}"
    )
    template = dbs.create("template")
    configure_django(dbs.server, template)
    from django.core.management import call_command

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_s = time.perf_counter() - t
    log(f"migrated {template} in {migrate_s:.1f} s (the template of every run's database)")
    use_database(template)

    runs: list[dict[str, Any]] = []
    phases = [
        ("single", args.bookings_single, 1),
        ("batched", args.bookings_batched, args.batch_size),
    ]
    for r in range(1, args.runs + 1):
        result: dict[str, Any] = {"run": r}
        for name, total, per_commit in phases:
            if total <= 0:
                continue
            label = f"run {r}/{args.runs} {name} ({per_commit:,} per commit)"
            log(f"{label}: fresh books")
            with fresh_books(dbs, template, f"r{r}_{name}", args.accounts) as books:
                phase = Phase(label, total, per_commit, args.progress_seconds)
                phase.run(booker(args.api, books))
                check_books(books, total)
            figures = {**phase.figures(), "setup_s": books.setup_s, "load1": _load1()}
            result.update({f"{name}_{key}": value for key, value in figures.items()})
            log(
                f"{label}: {figures['per_s']:,.0f} bookings/s; first 10% "
                f"{figures['first10_per_s']:,.0f}/s, last 10% {figures['last10_per_s']:,.0f}/s"
                + (
                    f"; COMMITs took {figures['commit_share']:.0%} of the time"
                    if "commit_share" in figures
                    else ""
                )
                + f"; load {_load()}"
            )
        runs.append(result)

    counts: dict[str, Any] = {}
    if args.count:
        log("count run: statements and round trips per booking (fresh books, 10 accounts)")
        with fresh_books(dbs, template, "count", 10) as books:
            for api in ("transfer_to", "legs"):
                book = booker(api, books)
                counts[api] = {
                    "single": count_round_trips(book, 20, 1),
                    "batched": count_round_trips(book, 100, 100),
                }
            counts["unbalanced_transaction"] = check_refuses_unbalanced(books)

    medians = {
        f"{name}_{key}": median([run[f"{name}_{key}"] for run in runs if f"{name}_{key}" in run])
        for name, _, _ in phases
        for key in ("per_s", "first10_per_s", "last10_per_s", "commit_share")
        if any(f"{name}_{key}" in run for run in runs)
    }
    return {
        "peer": "django-hordak",
        "version": found["django-hordak"],
        **medians,
        "runs": runs,
        "params": {
            "accounts": args.accounts,
            "bookings_single": args.bookings_single,
            "bookings_batched": args.bookings_batched,
            "batch_size": args.batch_size,
            "runs": args.runs,
            "api": args.api,
            "award_points": AWARD_POINTS,
        },
        "versions": {**found, "postgresql": pg["server_version"]},
        "postgresql_settings": pg,
        "counts": counts,
        "migrate_s": migrate_s,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_start": load_start,
            "load_end": _load(),
        },
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": time.monotonic() - _T0,
    }


def _load1() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def summary(out: dict[str, Any]) -> str:
    p = out["params"]
    lines = [
        "",
        f"django-hordak {out['version']} on PostgreSQL {out['versions']['postgresql']}: "
        f"{p['accounts']:,} member accounts, award of {p['award_points']} points per booking, "
        f"API {p['api']}; median of {p['runs']} runs (each phase on fresh books)",
        f"  {'':30} {'bookings/s':>11} {'first 10%':>10} {'last 10%':>10}   runs (bookings/s)",
    ]
    rows = [
        ("single", f"one per commit ({p['bookings_single']:,})"),
        ("batched", f"{p['batch_size']:,} per commit ({p['bookings_batched']:,})"),
    ]
    for name, title in rows:
        if f"{name}_per_s" not in out["runs"][0]:
            continue
        each = ", ".join(f"{run[f'{name}_per_s']:,.0f}" for run in out["runs"])
        lines.append(
            f"  {title:30} {out[f'{name}_per_s']:11,.0f} {out[f'{name}_first10_per_s']:10,.0f} "
            f"{out[f'{name}_last10_per_s']:10,.0f}   {each}"
        )
    if "batched_commit_share" in out:
        lines.append(
            f"  {p['batch_size']:,} per commit: the COMMITs (when hordak's deferred checks run) "
            f"took {out['batched_commit_share']:.0%} of the time (median)"
        )
    for api, modes in out["counts"].items():
        if not isinstance(modes, dict):
            lines.append(f"  an unbalanced transaction: {modes}")
            continue
        for mode, c in modes.items():
            lines.append(
                f"  per booking, {api}, {mode} ({c['per_commit']} per commit): "
                f"{c['django_statements_per_booking']:.2f} SQL statements logged by Django, "
                f"{c['round_trips_per_booking']:.2f} round trips"
            )
            lines.extend(f"      {sql}" for sql in c["statements_of_one_booking"])
    m = out["machine"]
    lines.append(
        f"  took {out['elapsed_s']:,.0f} s on {m['cpus']} CPUs; load average at the start "
        f"{m['load_start']}, at the end {m['load_end']}"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="django-hordak booking throughput on PostgreSQL (jifen's peer benchmark)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--bookings-single", type=int, default=2000, help="bookings, one per commit")
    ap.add_argument("--bookings-batched", type=int, default=10000, help="bookings in batches")
    ap.add_argument("--batch-size", type=int, default=1000, help="bookings per commit, batched")
    ap.add_argument("--runs", type=int, default=3, help="runs (medians are printed)")
    ap.add_argument("--accounts", type=int, default=1000, help="member accounts in the books")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("HORDAK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database ($HORDAK_BENCH_PG_URL)",
    )
    ap.add_argument(
        "--api",
        choices=("transfer_to", "legs"),
        default="transfer_to",
        help="transfer_to: Account.transfer_to() (hordak's shortcut; a savepoint per booking "
        "inside a batch); legs: Transaction and two Legs created in an atomic block",
    )
    ap.add_argument(
        "--count",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="end with a small run that counts statements and round trips per booking",
    )
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--progress-seconds", type=float, default=5.0, help="progress line interval")
    args = ap.parse_args(argv)
    if min(args.batch_size, args.runs, args.accounts) < 1:
        ap.error("--batch-size, --runs and --accounts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = Server.parse(args.pg_url)
    dbs = Databases(server)

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        out = run(args, dbs)
    except BaseException as exc:
        log(f"stopped ({type(exc).__name__}); dropping the benchmark's databases")
        raise
    finally:
        if "django.conf" in sys.modules:
            from django.conf import settings

            if settings.configured:
                from django.db import connections

                connections.close_all()
        dbs.drop_all()
    print(summary(out), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        log(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
