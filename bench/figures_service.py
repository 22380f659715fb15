"""Bookings/s through the service layer, in-process (no HTTP).

Village 0 of a fresh database (1,000 member accounts); every booking is an award of 2
points from the village's issuance account to the next member, round-robin, made with
`ledger.service.book()` (checks, locks, the hash chain, the outbox event):

- one per unit of work: `with db.unit_of_work(): book(...)`, one database transaction each;
- 1,000 per unit of work (batched), in one transaction;
- through the group committer, as the server uses it: `db.committer.run_all_sync()` with
  1,000 works at a time, and 16 threads each calling `db.committer.run_sync(work)` one
  booking after the other (the committer groups what is waiting).

Each is a long run (by default 10 x 1,000 bookings): the rate over the first and the
last 10% shows whether booking slows down as the books grow. Also counted: SQL
statements and commits per booking (SQLAlchemy events, see profiling.SqlCount), and on
PostgreSQL the dead tuples left in books and account_balances (pg_stat_user_tables,
read after the connections have closed and so flushed their statistics).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends import ACTOR, AWARD_POINTS, Backend, Databases, Fresh, World
from common import Progress, Timeline, log, per_s, rate
from profiling import GcTimer, PySpy, count_sql

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jifen.db import Database


@dataclass(frozen=True)
class ServiceResult:
    backend: str
    how: str
    bookings: int
    seconds: float
    rate: float
    first_rate: float
    last_rate: float
    sql_per_booking: dict[str, Any]
    committer: dict[str, Any] | None
    table_stats: dict[str, Any] | None
    profile: dict[str, Any] | None = None

    def brief(self) -> str:
        return (
            f"{self.rate:,.0f} bookings/s ({self.bookings:,} in {self.seconds:.1f} s; first 10% "
            f"{per_s(self.first_rate)}, last 10% {per_s(self.last_rate)}); "
            f"{self.sql_per_booking['statements']:.2f} statements and "
            f"{self.sql_per_booking['commits']:.3f} commits per booking"
        )


class Booker:
    """Makes the works that book awards in village 0, members round-robin."""

    def __init__(self, db: Database, world: World) -> None:
        from jifen.ledger import service

        village = world.villages[0]
        self.db = db
        self.service = service
        self.village_id = uuid.UUID(village.id)
        self.issuance = service.PostingInput(uuid.UUID(village.issuance_id), -AWARD_POINTS)
        self.members = [uuid.UUID(a) for a in village.member_account_ids]
        self.count = 0
        self._lock = threading.Lock()

    def _next_member(self) -> uuid.UUID:
        with self._lock:
            self.count += 1
            return self.members[self.count % len(self.members)]

    def book(self, session: Session) -> Any:
        return self.work()(session)

    def work(self) -> Callable[[Session], Any]:
        """A work for the committer. The member is chosen now, not when it runs: the
        committer may run it again after a rollback, and it must then book the same."""
        from jifen.kit.clock import utc_now

        member = self._next_member()
        service = self.service

        def work(session: Session) -> Any:
            return service.book(
                session,
                village_id=self.village_id,
                code="labor_award",
                postings=(self.issuance, service.PostingInput(member, AWARD_POINTS)),
                actor=ACTOR,
                clock=service.Clock(now=utc_now(), settings=self.db.settings),
                memo="bench award",
            )

        return work


def one_per_unit(db: Database, booker: Booker, total: int, progress: Progress) -> Timeline:
    timeline, started = Timeline(), time.perf_counter()
    for _ in range(total):
        with db.unit_of_work() as session:
            booker.book(session)
        timeline.add(1, time.perf_counter() - started)
        progress(timeline)
    return timeline


def batched_units(
    db: Database, booker: Booker, total: int, batch: int, progress: Progress
) -> Timeline:
    timeline, started = Timeline(), time.perf_counter()
    for done in range(0, total, batch):
        n = min(batch, total - done)
        with db.unit_of_work() as session:
            for _ in range(n):
                booker.book(session)
        timeline.add(n, time.perf_counter() - started)
        progress(timeline)
    return timeline


def committer_batches(
    db: Database, booker: Booker, total: int, batch: int, progress: Progress
) -> Timeline:
    timeline, started = Timeline(), time.perf_counter()
    for done in range(0, total, batch):
        n = min(batch, total - done)
        outcomes = db.committer.run_all_sync([booker.work() for _ in range(n)])
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} bookings refused: {failed[0]!r}")
        timeline.add(n, time.perf_counter() - started)
        progress(timeline)
    return timeline


def committer_threads(
    db: Database, booker: Booker, total: int, threads: int, progress: Progress
) -> Timeline:
    """`threads` threads, each booking one at a time through committer.run_sync()."""
    timeline, started = Timeline(), time.perf_counter()
    lock = threading.Lock()
    remaining = [total]
    errors: list[BaseException] = []

    def run() -> None:
        while True:
            with lock:
                if remaining[0] <= 0 or errors:
                    return
                remaining[0] -= 1
            try:
                db.committer.run_sync(booker.work())
            except Exception as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                timeline.add(1, time.perf_counter() - started)

    workers = [threading.Thread(target=run, name=f"bench-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        time.sleep(0.2)
        with lock:
            progress(timeline)
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"a booking failed: {errors[0]!r}")
    return timeline


def pg_table_stats(fresh: Fresh, tables: tuple[str, ...] = ("books", "account_balances")) -> Any:
    """Dead tuples, updates (HOT among them) and autovacuums of the tables since the
    database was made. (Not live tuples: a copy of a template starts its statistics
    at zero, so n_live_tup would count only the rows inserted since.)"""
    time.sleep(0.5)  # the closed connections' statistics reach the shared counters
    with contextlib.closing(fresh.pg_connect()) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(
            "SELECT relname, n_dead_tup, n_tup_upd, n_tup_hot_upd, "
            "autovacuum_count, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s) ORDER BY relname",
            [list(tables)],
        ).fetchall()
    return {
        r[0]: {
            "dead": r[1],
            "updates": r[2],
            "hot_updates": r[3],
            "autovacuums": r[4],
            "bytes": r[5],
        }
        for r in rows
    }


HOWS = {
    "unit-1": "book() one per unit of work",
    "unit-batch": "book() {batch:,} per unit of work",
    "committer-batch": "committer.run_all_sync(), {batch:,} works at a time",
    "committer-threads": "committer.run_sync() from {threads} threads",
}


def measure_service(
    args: argparse.Namespace,
    dbs: Databases,
    backend: Backend,
    how: str,
    *,
    profile_path: Path | None = None,
) -> ServiceResult:
    batch, threads = args.batch_size, args.threads
    total = args.service_single if how == "unit-1" else args.batches * batch
    label = f"service {backend.label}, " + HOWS[how].format(batch=batch, threads=threads)
    with dbs.figure(backend, f"service-{how}") as (fresh, world):
        db = fresh.database()
        try:
            booker = Booker(db, world)
            progress = Progress(label, total, args.progress_seconds)
            log(f"{label}: {total:,} bookings")
            # py-spy samples this very process (the committer's thread among the others).
            spy = PySpy(os.getpid(), profile_path, args.profile_rate) if profile_path else None
            collector = GcTimer()
            if spy is not None:
                collector.install()
            try:
                with count_sql(db) as sql:
                    if how == "unit-1":
                        timeline = one_per_unit(db, booker, total, progress)
                    elif how == "unit-batch":
                        timeline = batched_units(db, booker, total, batch, progress)
                    elif how == "committer-batch":
                        timeline = committer_batches(db, booker, total, batch, progress)
                    else:
                        timeline = committer_threads(db, booker, total, threads, progress)
            finally:
                if spy is not None:
                    spy.stop()
                    collector.uninstall()
            stats = db.committer.stats if how.startswith("committer") else None
            committer = None
            if stats is not None:
                committer = {
                    "groups": stats.groups,
                    "mean_group": stats.units / max(1, stats.groups),
                    "largest_group": stats.largest_group,
                    "redos": stats.redos,
                    "solo_runs": stats.solo_runs,
                    "requeued": stats.requeued,
                }
        finally:
            db.dispose()
        check_books(fresh, world, total)
        table_stats = pg_table_stats(fresh) if backend.kind == "postgresql" else None
    result = ServiceResult(
        backend=backend.label,
        how=HOWS[how].format(batch=batch, threads=threads),
        bookings=total,
        seconds=timeline.seconds,
        rate=rate(total, timeline.seconds),
        first_rate=timeline.first(0.1),
        last_rate=timeline.last(0.1),
        sql_per_booking=sql.per(total),
        committer=committer,
        table_stats=table_stats,
        profile=(
            {"raw": str(profile_path), "seconds": spy.seconds, "gc": collector.stats}
            if spy
            else None
        ),
    )
    log(f"{label}: {result.brief()}")
    if committer:
        log(
            f"  committer: {committer['groups']:,} groups, mean {committer['mean_group']:.1f}, "
            f"largest {committer['largest_group']:,}"
        )
    if table_stats:
        log("  " + pg_stats_brief(table_stats))
    return result


def pg_stats_brief(stats: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: {s['dead']:,} dead tuples, {s['updates']:,} updates "
        f"({s['hot_updates']:,} HOT), {s['autovacuums']} autovacuums"
        for name, s in stats.items()
    )


def check_books(fresh: Fresh, world: World, bookings: int, village_index: int = 0) -> None:
    """The village's chain verifies, its balances replay, and it holds `bookings` entries."""
    from jifen.ledger import service

    db = fresh.database()
    try:
        with db.unit_of_work(write=False) as session:
            verification = service.verify_books(
                session, uuid.UUID(world.villages[village_index].id)
            )
    finally:
        db.dispose()
    if not verification.is_intact or verification.last_seq != bookings:
        raise RuntimeError(
            f"the books do not check out: intact={verification.is_intact}, "
            f"{verification.last_seq} entries for {bookings} bookings"
        )


def service_figures(
    args: argparse.Namespace,
    dbs: Databases,
    backend: Backend,
    profile_path: Path | None = None,
) -> dict[str, ServiceResult]:
    """Every service-layer figure of a backend; the committer-threads one profiled when
    a profile path is given."""
    return {
        how: measure_service(
            args,
            dbs,
            backend,
            how,
            profile_path=profile_path if how == "committer-threads" else None,
        )
        for how in HOWS
    }
