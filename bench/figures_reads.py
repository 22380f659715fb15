"""Balance and statement reads at a small and a large number of entries in one village's
books (10k and 1M by default), and the ratio large/small (the goal for the balance read:
at most 1.2).

Village 0 of a fresh database is seeded through `ledger.service.book()`, 1,000 bookings
per unit of work (the rate over the seed is reported too: its first and last 10% show
whether booking slows down as the books grow). Every 10th award goes to one "busy"
member, the others round-robin to the other members. At the small size the database is
copied, so that both sizes can be read side by side; on PostgreSQL both copies are then
vacuumed and analysed (what autovacuum does in time after a bulk load).

The reads: `ledger.service.get_balance()` and `ledger.service.statement(limit=50)`, each
in a read unit of work of its own, in-process; and GET /v1/accounts/{id}/balance and
/statement?limit=50 over HTTP (one request at a time, a jifen server per size), for the
issuance account (a posting in every entry), the busy member and a typical member. The
sizes are interleaved — read by read in-process, round by round over HTTP — so that a
busy spell of the machine cannot land on one size only. Reported: p50 and p99 of each,
the best round's p50, and the ratio of the p50s.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends import ACTOR, AWARD_POINTS, Backend, Databases, Fresh, World
from common import Latency, Timeline, dur, log, per_s
from loadgen import RawRequest
from servers import jifen_server, run_load

if TYPE_CHECKING:
    from jifen.db import Database

BUSY_EVERY = 10
RATIO_GOAL = 1.2


@dataclass(frozen=True)
class ReadStats:
    """Latencies over all rounds, and each round's p50 (on a busy machine the best round
    is the least disturbed one)."""

    latency: Latency
    round_p50_us: list[float]

    @classmethod
    def of(cls, rounds: Sequence[Sequence[int]]) -> ReadStats:
        return cls(
            Latency.of([ns for r in rounds for ns in r]),
            [Latency.of(r).p50_us for r in rounds if r],
        )

    @property
    def best_p50_us(self) -> float:
        return min(self.round_p50_us, default=float("nan"))

    def brief(self) -> str:
        return f"{self.latency.brief()}, best-round p50 {dur(self.best_p50_us)}"


class Seeder:
    """Books awards in village 0 through ledger.service.book(), `batch` per unit of work."""

    def __init__(self, args: argparse.Namespace, world: World) -> None:
        village = world.villages[0]
        self.args = args
        self.village_id = uuid.UUID(village.id)
        self.issuance_id = uuid.UUID(village.issuance_id)
        members = [uuid.UUID(a) for a in village.member_account_ids]
        self.busy_id, self.others = members[0], members[1:]
        self.done = 0
        self.ordinary = 0
        self.timeline = Timeline()  # of busy time only (copies and vacuums left out)

    def _member(self, k: int) -> uuid.UUID:
        if k % BUSY_EVERY == 0:
            return self.busy_id
        self.ordinary += 1
        return self.others[self.ordinary % len(self.others)]

    def seed_to(self, db: Database, fresh: Fresh, target: int) -> None:
        from jifen.kit.clock import utc_now
        from jifen.ledger import service

        book, posting = service.book, service.PostingInput
        issuance = posting(self.issuance_id, -AWARD_POINTS)
        batch = self.args.batch_size
        start_done, start_t = self.done, self.timeline.seconds
        last_done, last_wall = self.done, time.perf_counter()
        log(f"reads: seeding {target - self.done:,} entries, {batch:,} per unit of work")
        while self.done < target:
            n = min(batch, target - self.done)
            started = time.perf_counter()
            with db.unit_of_work() as session:
                clock = service.Clock(now=utc_now(), settings=db.settings)
                for k in range(self.done, self.done + n):
                    book(
                        session,
                        village_id=self.village_id,
                        code="labor_award",
                        postings=(issuance, posting(self._member(k), AWARD_POINTS)),
                        actor=ACTOR,
                        clock=clock,
                        memo="bench award",
                    )
            now = time.perf_counter()
            self.timeline.add(n, self.timeline.seconds + now - started)
            self.done += n
            if now - last_wall >= self.args.progress_seconds or self.done == target:
                seeded = self.done - start_done
                speed = seeded / (self.timeline.seconds - start_t)
                log(
                    f"  seed: {self.done:,}/{target:,} entries, {speed:,.0f}/s (last "
                    f"{now - last_wall:.0f} s: {(self.done - last_done) / (now - last_wall):,.0f}"
                    f"/s), ETA {(target - self.done) / speed:,.0f} s, {size_mb(fresh):,.0f} MB"
                )
                last_done, last_wall = self.done, now


def size_mb(fresh: Fresh) -> float:
    if fresh.path is not None:
        paths = [fresh.path, Path(f"{fresh.path}-wal")]
        return sum(p.stat().st_size for p in paths if p.exists()) / 1e6
    with contextlib.closing(fresh.pg_connect()) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]) / 1e6


def settle(fresh: Fresh) -> None:
    """Ready a database for reading: fold SQLite's WAL into the file; vacuum and analyse
    on PostgreSQL."""
    if fresh.backend.kind == "sqlite":
        import sqlite3

        assert fresh.path is not None
        with contextlib.closing(sqlite3.connect(fresh.path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with contextlib.closing(fresh.pg_connect()) as conn:
        conn.execute("VACUUM ANALYZE")


def _read_balance(db: Database, account_id: uuid.UUID) -> None:
    from jifen.ledger import service

    with db.unit_of_work(write=False) as session:
        service.get_balance(session, account_id)


def _read_statement(db: Database, account_id: uuid.UUID) -> None:
    from jifen.ledger import service

    with db.unit_of_work(write=False) as session:
        page = service.statement(session, account_id, limit=50)
        assert len(page.items) > 0


READS: dict[str, Callable[[Database, uuid.UUID], None]] = {
    "balance": _read_balance,
    "statement": _read_statement,
}


def time_service_reads(
    targets: dict[tuple[str, str, str], tuple[Database, uuid.UUID]],
    reads: int,
    warmup: int,
    rounds: int,
) -> dict[tuple[str, str, str], ReadStats]:
    """Every target (size, read, account) in turn, read by read."""
    samples: dict[tuple[str, str, str], list[list[int]]] = {
        key: [[] for _ in range(rounds)] for key in targets
    }
    per_round = max(1, reads // rounds)
    for r in range(warmup + per_round * rounds):
        for key, (db, account_id) in targets.items():
            read = READS[key[1]]
            started = time.perf_counter_ns()
            read(db, account_id)
            if r >= warmup:
                samples[key][(r - warmup) // per_round].append(time.perf_counter_ns() - started)
    return {key: ReadStats.of(s) for key, s in samples.items()}


def _postings_of(db: Database, account_id: uuid.UUID) -> int:
    from sqlalchemy import func, select

    from jifen.models import Posting

    with db.unit_of_work(write=False) as session:
        count = session.execute(
            select(func.count()).select_from(Posting).where(Posting.account_id == account_id)
        ).scalar_one()
    return int(count)


def read_figures(
    args: argparse.Namespace, dbs: Databases, work: Path, backend: Backend
) -> dict[str, Any]:
    small, large = args.entries_small, args.entries_large
    out: dict[str, Any] = {"backend": backend.label, "entries_small": small, "entries_large": large}
    fresh_large, world = dbs.fresh(backend, "reads-large")
    fresh_small: Fresh | None = None
    dbs_open: list[Database] = []
    try:
        seeder = Seeder(args, world)
        db = fresh_large.database()
        seeder.seed_to(db, fresh_large, small)
        db.dispose()  # PostgreSQL copies a database nobody is connected to
        log(f"reads: copying the books at {small:,} entries")
        fresh_small = dbs.copy(fresh_large, "reads-small")
        db = fresh_large.database()
        seeder.seed_to(db, fresh_large, large)
        db.dispose()
        timeline = seeder.timeline
        out["seed"] = {
            "batch": args.batch_size,
            "rate": timeline.rate(),
            "first_rate": timeline.first(0.1),
            "last_rate": timeline.last(0.1),
            "seconds": timeline.seconds,
        }
        log(
            f"reads: seeded {large:,} entries at {timeline.rate():,.0f}/s (first 10% "
            f"{per_s(timeline.first(0.1))}, last 10% {per_s(timeline.last(0.1))})"
        )
        sizes = {"small": fresh_small, "large": fresh_large}
        for name, fresh in sizes.items():
            log(
                f"reads: {'VACUUM ANALYZE' if fresh.backend.kind == 'postgresql' else 'checkpoint'}"
                f" of the {name} books"
            )
            settle(fresh)
        accounts = {
            "issuance": seeder.issuance_id,
            "busy member": seeder.busy_id,
            "typical member": seeder.others[0],
        }
        databases = {name: fresh.database() for name, fresh in sizes.items()}
        dbs_open += databases.values()
        for name, fresh in sizes.items():
            db = databases[name]
            postings = {label: _postings_of(db, a) for label, a in accounts.items()}
            out[name] = {
                "entries": small if name == "small" else large,
                "db_mb": size_mb(fresh),
                "postings": postings,
            }
            log(
                f"reads: {name} books, {out[name]['entries']:,} entries ({out[name]['db_mb']:,.0f}"
                f" MB); " + ", ".join(f"{k} has {n:,} postings" for k, n in postings.items())
            )
        log(f"reads in-process, {args.reads:,} per size, read and account, interleaved")
        timed = time_service_reads(
            {
                (size, read, label): (databases[size], account)
                for size in sizes
                for read in READS
                for label, account in accounts.items()
            },
            args.reads,
            args.read_warmup,
            args.read_rounds,
        )
        out["service"] = {f"{s}|{r}|{a}": stats for (s, r, a), stats in timed.items()}
        for (size, read, label), stats in timed.items():
            log(f"  {read}, {size} books, {label}: {stats.brief()}")
        for db in dbs_open:
            db.dispose()
        dbs_open.clear()
        if not args.no_http_reads:
            out["http"] = http_reads(args, work, sizes, world, accounts)
        if args.grow_requests:
            out["http_bookings"] = http_bookings_by_size(args, work, sizes, world, small, large)
    finally:
        for db in dbs_open:
            db.dispose()
        dbs.drop(fresh_large)
        if fresh_small is not None:
            dbs.drop(fresh_small)
    return out


def http_reads(
    args: argparse.Namespace,
    work: Path,
    sizes: dict[str, Fresh],
    world: World,
    accounts: dict[str, uuid.UUID],
) -> dict[str, Any]:
    """Rounds alternate between the sizes, so that both see the same weather."""
    key = world.villages[0].clerk_key
    paths = {
        (read, label): f"/v1/accounts/{account}/"
        + ("balance" if read == "balance" else "statement?limit=50")
        for read in READS
        for label, account in accounts.items()
        if label != "typical member"
    }
    samples: dict[tuple[str, str, str], list[list[int]]] = {}
    errors: dict[tuple[str, str, str], int] = {}
    peaks: dict[str, float | None] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(jifen_server(args, work, fresh))
            for name, fresh in sizes.items()
        }
        log(f"reads over HTTP: {args.read_rounds} rounds of {args.reads // args.read_rounds:,}")
        for r in range(args.read_rounds):
            for (read, label), path in paths.items():
                for name, server in servers.items():
                    result = run_load(
                        args,
                        work,
                        label=f"GET {read}, {name} books, {label}, round {r + 1}",
                        port=server.port,
                        templates=[RawRequest(key).build("GET", path)],
                        total=max(1, args.reads // args.read_rounds),
                        warmup=args.read_warmup if r == 0 else 0,
                        concurrency=1,
                        server_pid=server.pid,
                        return_samples=True,
                        quiet=True,
                    )
                    k = (name, read, label)
                    samples.setdefault(k, []).append(result.samples_ns or [])
                    errors[k] = errors.get(k, 0) + result.errors
        for name, server in servers.items():
            peaks[name] = server.peak_rss_mb()
    out: dict[str, Any] = {"server_peak_rss_mb": peaks}
    for (name, read, label), rounds in samples.items():
        stats = ReadStats.of(rounds)
        out[f"{name}|{read}|{label}"] = {"stats": stats, "errors": errors[name, read, label]}
        log(f"  HTTP GET {read}, {name} books, {label}: {stats.brief()}")
    return out


def http_bookings_by_size(
    args: argparse.Namespace,
    work: Path,
    sizes: dict[str, Fresh],
    world: World,
    small: int,
    large: int,
) -> dict[str, Any]:
    """POST /v1/entries at c=16 into village 0 with 10k and with 1M entries in its books:
    does one booking cost more when the books are large? (After the reads: it writes.)"""
    from figures_http import booking_templates

    concurrency = 16
    out: dict[str, Any] = {}
    for name, fresh in sizes.items():
        entries = small if name == "small" else large
        tag = f"grow-{name}-{secrets.token_hex(4)}"
        with jifen_server(args, work, fresh) as server:
            load = run_load(
                args,
                work,
                label=f"POST /v1/entries at {entries:,} entries, c={concurrency}",
                port=server.port,
                templates=booking_templates(world, "one", tag, 0),
                total=args.grow_requests,
                warmup=min(200, args.grow_requests // 10),
                concurrency=concurrency,
                expect_status=(201,),
                server_pid=server.pid,
            )
            balance = server.get(
                f"/v1/accounts/{world.villages[0].issuance_id}/balance", world.admin_key
            )
        booked = load.warmup_statuses.get("201", 0) + load.statuses.get("201", 0)
        books = (
            "ok"
            if balance["last_seq"] == entries + booked
            else f"MISMATCH: {entries + booked:,} entries expected, {balance['last_seq']:,}"
        )
        out[name] = {"entries": entries, "load": load, "books_check": books}
    return out


def read_ratios(reads: dict[str, Any]) -> list[dict[str, Any]]:
    """p50(large) / p50(small) for every read measured at both sizes."""
    rows = []
    for how in ("service", "http"):
        table = reads.get(how) or {}
        for key, value in table.items():
            size, read, label = key.split("|") if "|" in key else ("", "", "")
            if size != "small" or f"large|{read}|{label}" not in table:
                continue
            a = value["stats"] if how == "http" else value
            b = table[f"large|{read}|{label}"]
            b = b["stats"] if how == "http" else b
            rows.append(
                {
                    "how": "in-process" if how == "service" else "HTTP",
                    "read": read,
                    "account": label,
                    "small_p50_us": a.latency.p50_us,
                    "large_p50_us": b.latency.p50_us,
                    "small_p99_us": a.latency.p99_us,
                    "large_p99_us": b.latency.p99_us,
                    "ratio": b.latency.p50_us / a.latency.p50_us,
                    "best_round_ratio": b.best_p50_us / a.best_p50_us,
                }
            )
    return rows
