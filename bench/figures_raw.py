"""The reference: the raw storage limit, measured with the bare driver.

The same rows jifen writes per booking, in the same tables of a database made by jifen's
migrations (so every index, foreign key and trigger is there), written with nothing but
the driver: sqlite3 (`executemany`) or psycopg 3 (one multi-row `INSERT ... VALUES` per
table and commit, or `COPY ... FROM STDIN`). No reads, no locks, no Python beyond
building the parameters (made before the clock starts: this is the storage's limit).

Per booking ("ledger rows", what `ledger.service.book()` writes):
- INSERT 2 postings (issuance -2, member +2, with the balance after each), then
- INSERT 1 entries row (seq, prev_hash, hash, 18 columns; its trigger checks the postings),
- INSERT 1 outbox_events row (points.earned, with the JSON payload jifen writes);
and per commit, as jifen's write batch does once per transaction:
- UPDATE account_balances once per account touched (the issuance account and each member),
- UPDATE books once (the village's last_seq and last_hash).
"HTTP rows" add per booking what a POST /v1/entries with an Idempotency-Key writes
besides: an audit_events row and an idempotency_records row (with a stored response
body of the size jifen stores), and the entry carries the idempotency key.

Bookings per commit: 1, 16, 64 and 1,000 (the service's batches, and the groups the
committer can form at 16 and 64 requests in flight).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backends import ACTOR, AWARD_POINTS, Backend, Databases, Fresh, World
from common import Progress, Timeline, log, per_s, rate

ENTRY_COLUMNS = (
    "id",
    "township_id",
    "village_id",
    "seq",
    "code",
    "memo",
    "metadata",
    "actor",
    "occurred_at",
    "recorded_at",
    "is_pending",
    "allow_below_floor",
    "pending_entry_id",
    "reverses_entry_id",
    "idempotency_key",
    "posting_count",
    "prev_hash",
    "hash",
)
POSTING_COLUMNS = (
    "entry_id",
    "position",
    "township_id",
    "village_id",
    "seq",
    "account_id",
    "asset",
    "amount",
    "effect",
    "occurred_at",
    "balance_after",
)
EVENT_COLUMNS = (
    "id",
    "type",
    "township_id",
    "village_id",
    "member_id",
    "household_id",
    "payload",
    "created_at",
)
AUDIT_COLUMNS = (
    "id",
    "at",
    "principal_id",
    "principal_name",
    "action",
    "method",
    "path",
    "status_code",
    "township_id",
    "village_id",
    "target",
)
IDEMPOTENCY_COLUMNS = (
    "principal",
    "key",
    "method",
    "path",
    "request_hash",
    "status_code",
    "response_body",
    "created_at",
)
# Table, columns; in this order (postings before their entry: the entry's trigger checks
# them).
TABLES_LEDGER = (
    ("postings", POSTING_COLUMNS),
    ("entries", ENTRY_COLUMNS),
    ("outbox_events", EVENT_COLUMNS),
)
TABLES_HTTP = (
    *TABLES_LEDGER,
    ("audit_events", AUDIT_COLUMNS),
    ("idempotency_records", IDEMPOTENCY_COLUMNS),
)


@dataclass
class CommitRows:
    """What one commit writes."""

    bookings: int
    inserts: dict[str, list[tuple[Any, ...]]]
    balances: list[tuple[Any, ...]]  # (posted, pending_debits, pending_credits, last_seq, id)
    books: tuple[Any, ...]  # (last_seq, last_hash, village_id)
    # PostgreSQL's multi-row INSERTs: every parameter of a table's statement, in order.
    flat: dict[str, list[Any]] = field(default_factory=dict)
    flat_balances: list[Any] = field(default_factory=list)


@dataclass
class RowMaker:
    """The rows of bookings in village 0, as jifen would write them (same shapes and
    sizes; hashes are stand-ins of the same length)."""

    dialect: str
    http: bool
    township_id: uuid.UUID
    village_id: uuid.UUID
    issuance_id: uuid.UUID
    accounts: list[tuple[uuid.UUID, uuid.UUID]]  # (account id, member id)
    principal_id: uuid.UUID
    seq: int = 0
    last_hash: str = "0" * 64
    posted: dict[uuid.UUID, int] = field(default_factory=dict)

    def _id(self, value: uuid.UUID | None) -> Any:
        if value is None:
            return None
        return value.hex if self.dialect == "sqlite" else value

    def _at(self, value: datetime) -> Any:
        if self.dialect == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def _bool(self, value: bool) -> Any:
        return int(value) if self.dialect == "sqlite" else value

    def commit(self, bookings: int) -> CommitRows:
        from jifen.kit.ids import new_id

        tables = TABLES_HTTP if self.http else TABLES_LEDGER
        inserts: dict[str, list[tuple[Any, ...]]] = {name: [] for name, _ in tables}
        touched: dict[uuid.UUID, int] = {}
        for _ in range(bookings):
            self.seq += 1
            seq = self.seq
            now = datetime.now(UTC)
            at = self._at(now)
            account_id, member_id = self.accounts[seq % len(self.accounts)]
            issuance_after = self.posted.get(self.issuance_id, 0) - AWARD_POINTS
            member_after = self.posted.get(account_id, 0) + AWARD_POINTS
            self.posted[self.issuance_id] = issuance_after
            self.posted[account_id] = member_after
            touched[self.issuance_id] = touched[account_id] = seq
            entry_id = new_id()
            key = f"bench-raw-{seq:09d}" if self.http else None
            digest = hashlib.sha256(f"{seq}{self.last_hash}".encode()).hexdigest()
            ids = self._id
            common = {
                "township_id": ids(self.township_id),
                "village_id": ids(self.village_id),
                "seq": seq,
            }
            legs = (
                (self.issuance_id, -AWARD_POINTS, issuance_after),
                (account_id, AWARD_POINTS, member_after),
            )
            for position, (account, amount, after) in enumerate(legs):
                posting = {
                    **common,
                    "entry_id": ids(entry_id),
                    "position": position,
                    "account_id": ids(account),
                    "asset": "POINTS",
                    "amount": amount,
                    "effect": "posted",
                    "occurred_at": at,
                    "balance_after": after,
                }
                inserts["postings"].append(_row(POSTING_COLUMNS, posting))
            entry = {
                **common,
                "id": ids(entry_id),
                "code": "labor_award",
                "memo": "bench award",
                "metadata": "{}",
                "actor": ACTOR,
                "occurred_at": at,
                "recorded_at": at,
                "is_pending": self._bool(False),
                "allow_below_floor": self._bool(False),
                "pending_entry_id": None,
                "reverses_entry_id": None,
                "idempotency_key": key,
                "posting_count": 2,
                "prev_hash": self.last_hash,
                "hash": digest,
            }
            inserts["entries"].append(_row(ENTRY_COLUMNS, entry))
            event_id = new_id()
            payload = {
                "id": str(event_id),
                "type": "points.earned",
                "village_id": str(self.village_id),
                "occurred_at": now.isoformat().replace("+00:00", "Z"),
                "account_id": str(account_id),
                "category": "main",
                "member_id": str(member_id),
                "household_id": None,
                "entry_id": str(entry_id),
                "entry_code": "labor_award",
                "memo": "bench award",
                "amount": AWARD_POINTS,
                "balance_after": member_after,
            }
            event = {
                **common,
                "id": ids(event_id),
                "type": "points.earned",
                "member_id": ids(member_id),
                "household_id": None,
                "payload": json.dumps(payload),
                "created_at": at,
            }
            inserts["outbox_events"].append(_row(EVENT_COLUMNS, event))
            if self.http:
                assert key is not None
                audit = {
                    **common,
                    "id": ids(new_id()),
                    "at": at,
                    "principal_id": ids(self.principal_id),
                    "principal_name": "village_clerk",
                    "action": "create_entry",
                    "method": "POST",
                    "path": "/v1/entries",
                    "status_code": 201,
                    "target": json.dumps(
                        {"village": str(self.village_id), "result_id": str(entry_id)}
                    ),
                }
                inserts["audit_events"].append(_row(AUDIT_COLUMNS, audit))
                stored = {
                    "principal": f"user:{self.principal_id}",
                    "key": key,
                    "method": "POST",
                    "path": "/v1/entries",
                    "request_hash": hashlib.sha256(key.encode()).hexdigest(),
                    "status_code": 201,
                    "response_body": _response_body(entry_id, self, seq, digest, key),
                    "created_at": at,
                }
                inserts["idempotency_records"].append(_row(IDEMPOTENCY_COLUMNS, stored))
            self.last_hash = digest
        balances = [
            (self.posted[a], 0, 0, last_seq, self._id(a)) for a, last_seq in sorted(touched.items())
        ]
        books = (self.seq, self.last_hash, self._id(self.village_id))
        return CommitRows(bookings, inserts, balances, books)


def _row(columns: tuple[str, ...], values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[c] for c in columns)


def _response_body(
    entry_id: uuid.UUID, maker: RowMaker, seq: int, digest: str, key: str | None
) -> bytes:
    """A stored answer the size and shape of jifen's (an EntryRead)."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "id": str(entry_id),
            "township_id": str(maker.township_id),
            "village_id": str(maker.village_id),
            "seq": seq,
            "code": "labor_award",
            "memo": "bench award",
            "metadata": {},
            "actor": f"user:{maker.principal_id}",
            "occurred_at": now,
            "recorded_at": now,
            "is_pending": False,
            "allow_below_floor": False,
            "pending_entry_id": None,
            "reverses_entry_id": None,
            "idempotency_key": key,
            "status": "posted",
            "reversed_by_entry_id": None,
            "resolved_by_entry_id": None,
            "prev_hash": maker.last_hash,
            "hash": digest,
            "postings": [
                {
                    "position": position,
                    "account_id": str(uuid.uuid4()),
                    "asset": "POINTS",
                    "amount": amount,
                    "effect": "posted",
                    "balance_after": seq,
                }
                for position, amount in ((0, -AWARD_POINTS), (1, AWARD_POINTS))
            ],
        },
        separators=(",", ":"),
    ).encode()


# --- writing ---------------------------------------------------------------------------------


class SqliteWriter:
    method = "sqlite3 executemany"

    def __init__(self, fresh: Fresh, tables: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        assert fresh.path is not None
        self.conn = sqlite3.connect(fresh.path, isolation_level=None, check_same_thread=False)
        # As jifen's engine sets them on every connection.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute(f"PRAGMA synchronous={fresh.backend.synchronous}")
        self.inserts = {
            name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for name, cols in tables
        }
        self.statements = 0

    def prepare(self, rows: CommitRows) -> CommitRows:
        return rows

    def write(self, rows: CommitRows) -> None:
        execute, executemany = self.conn.execute, self.conn.executemany
        execute("BEGIN IMMEDIATE")
        for name, statement in self.inserts.items():
            executemany(statement, rows.inserts[name])
        executemany(
            "UPDATE account_balances SET posted = ?, pending_debits = ?, pending_credits = ?, "
            "last_seq = ? WHERE account_id = ?",
            rows.balances,
        )
        execute("UPDATE books SET last_seq = ?, last_hash = ? WHERE village_id = ?", rows.books)
        execute("COMMIT")
        self.statements += len(self.inserts) + 4

    def close(self) -> None:
        self.conn.close()


class PostgresWriter:
    """One multi-row `INSERT ... VALUES` per table and commit, or `COPY ... FROM STDIN`.

    The INSERTs are sent with psycopg's RawCursor: `$n` placeholders go to the server as
    they are. With `%s` placeholders psycopg parses the query text on the client for
    every statement too long for its cache, and at 1,000 bookings per commit (22,000
    parameters in the postings' INSERT) that parsing took most of the time: it is not
    the storage's limit. The statements' text is built once per number of rows."""

    def __init__(
        self, fresh: Fresh, tables: tuple[tuple[str, tuple[str, ...]], ...], copy: bool
    ) -> None:
        import psycopg

        self.method = "psycopg COPY" if copy else "psycopg multi-row INSERT"
        self.conn = psycopg.connect(fresh.libpq_url, autocommit=False)
        self.cursor = psycopg.RawCursor(self.conn)
        self.tables = tables
        self.copy = copy
        self.statements = 0
        self._texts: dict[tuple[str, int], str] = {}

    def _values(self, key: str, rows: int, columns: int, head: str, casts: str = "") -> str:
        text = self._texts.get((key, rows))
        if text is None:
            casts_of = casts.split(",") if casts else [""] * columns
            text = head + ", ".join(
                "("
                + ", ".join(f"${r * columns + c + 1}{casts_of[c]}" for c in range(columns))
                + ")"
                for r in range(rows)
            )
            self._texts[key, rows] = text
        return text

    def _insert(self, name: str, cols: tuple[str, ...], rows: int) -> str:
        head = f"INSERT INTO {name} ({', '.join(cols)}) VALUES "
        return self._values(name, rows, len(cols), head)

    def _update_balances(self, rows: int) -> str:
        return (
            self._values(
                "account_balances",
                rows,
                5,
                "UPDATE account_balances AS b SET posted = v.posted, pending_debits = v.pd, "
                "pending_credits = v.pc, last_seq = v.last_seq FROM (VALUES ",
                "::bigint,::bigint,::bigint,::bigint,::uuid",
            )
            + ") AS v(posted, pd, pc, last_seq, id) WHERE b.account_id = v.id"
        )

    def prepare(self, rows: CommitRows) -> CommitRows:
        """Flatten the parameters and build the statements' text, before the clock
        starts, like the rows themselves."""
        if not self.copy:
            rows.flat = {
                name: [v for row in data for v in row] for name, data in rows.inserts.items()
            }
            for name, cols in self.tables:
                self._insert(name, cols, len(rows.inserts[name]))
        rows.flat_balances = [v for row in rows.balances for v in row]
        self._update_balances(len(rows.balances))
        return rows

    def write(self, rows: CommitRows) -> None:
        cur = self.cursor
        for name, cols in self.tables:
            if self.copy:
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows.inserts[name]:
                        copy.write_row(row)
            else:
                cur.execute(self._insert(name, cols, len(rows.inserts[name])), rows.flat[name])
        cur.execute(self._update_balances(len(rows.balances)), rows.flat_balances)
        cur.execute(
            "UPDATE books SET last_seq = $1, last_hash = $2 WHERE village_id = $3", rows.books
        )
        self.conn.commit()
        self.statements += len(self.tables) + 3

    def close(self) -> None:
        self.conn.close()


# --- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResult:
    backend: str
    rows: str  # "ledger" or "http"
    method: str
    per_commit: int
    bookings: int
    seconds: float
    rate: float  # bookings/s
    first_rate: float  # the first and last 10% of the run
    last_rate: float
    statements_per_commit: float

    def brief(self) -> str:
        return (
            f"{self.rate:,.0f} bookings/s ({self.bookings:,} in {self.seconds:.1f} s; first "
            f"10% {per_s(self.first_rate)}, last 10% {per_s(self.last_rate)})"
        )


def _raw_village(fresh: Fresh, world: World, http: bool) -> RowMaker:
    from sqlalchemy import create_engine, select

    from jifen.models import Account, Principal

    village = world.villages[0]
    engine = create_engine(fresh.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Account.id, Account.member_id).where(
                    Account.village_id == uuid.UUID(village.id), Account.kind == "member"
                )
            ).all()
            principal = conn.execute(
                select(Principal.id).where(Principal.kind == "user").order_by(Principal.id).limit(1)
            ).scalar_one()
    finally:
        engine.dispose()
    by_account = {a: m for a, m in rows}
    accounts = [(uuid.UUID(a), by_account[uuid.UUID(a)]) for a in village.member_account_ids]
    return RowMaker(
        dialect=fresh.backend.kind,
        http=http,
        township_id=uuid.UUID(village.township_id),
        village_id=uuid.UUID(village.id),
        issuance_id=uuid.UUID(village.issuance_id),
        accounts=accounts,
        principal_id=principal,
    )


def measure_raw(
    args: argparse.Namespace,
    dbs: Databases,
    backend: Backend,
    *,
    rows: str,
    per_commit: int,
    bookings: int,
    copy: bool = False,
) -> RawResult:
    http = rows == "http"
    tables = TABLES_HTTP if http else TABLES_LEDGER
    with dbs.figure(backend, f"raw-{rows}-{per_commit}") as (fresh, world):
        maker = _raw_village(fresh, world, http)
        writer: SqliteWriter | PostgresWriter = (
            SqliteWriter(fresh, tables)
            if backend.kind == "sqlite"
            else PostgresWriter(fresh, tables, copy)
        )
        commits = [
            writer.prepare(maker.commit(min(per_commit, bookings - done)))
            for done in range(0, bookings, per_commit)
        ]
        label = f"raw {backend.label}, {rows} rows, {per_commit:,}/commit, {writer.method}"
        log(f"{label}: {bookings:,} bookings")
        progress = Progress(label, bookings, args.progress_seconds)
        timeline = Timeline()
        started = time.perf_counter()
        try:
            for commit in commits:
                writer.write(commit)
                timeline.add(commit.bookings, time.perf_counter() - started)
                progress(timeline)
        finally:
            writer.close()
        result = RawResult(
            backend=backend.label,
            rows=rows,
            method=writer.method,
            per_commit=per_commit,
            bookings=bookings,
            seconds=timeline.seconds,
            rate=rate(bookings, timeline.seconds),
            first_rate=timeline.first(0.1),
            last_rate=timeline.last(0.1),
            statements_per_commit=writer.statements / max(1, len(commits)),
        )
        log(f"{label}: {result.brief()}")
        _check(fresh, world, bookings)
        return result


def _check(fresh: Fresh, world: World, bookings: int) -> None:
    """The raw rows are books jifen would accept: the chain's length and the balances."""
    from sqlalchemy import create_engine, func, select

    from jifen.models import AccountBalance, Entry

    engine = create_engine(fresh.url)
    village = uuid.UUID(world.villages[0].id)
    try:
        with engine.connect() as conn:
            entries = conn.execute(
                select(func.count()).select_from(Entry).where(Entry.village_id == village)
            ).scalar_one()
            total = conn.execute(
                select(func.sum(AccountBalance.posted)).where(AccountBalance.village_id == village)
            ).scalar_one()
    finally:
        engine.dispose()
    if entries != bookings or total != 0:
        raise RuntimeError(f"raw rows: {entries} entries for {bookings}, balances sum {total}")


def raw_figures(
    args: argparse.Namespace, dbs: Databases, backend: Backend, per_commit: list[int]
) -> dict[str, RawResult]:
    """The raw references of a backend, keyed `<rows>-<per commit>[-copy]`: the single
    commits with --raw-single bookings, the others with --batches x --batch-size."""
    out: dict[str, RawResult] = {}
    for rows in ("ledger", "http"):
        for n in per_commit:
            bookings = args.raw_single if n == 1 else args.batches * args.batch_size
            out[f"{rows}-{n}"] = measure_raw(
                args, dbs, backend, rows=rows, per_commit=n, bookings=bookings
            )
            if backend.kind == "postgresql" and n >= 1000:
                out[f"{rows}-{n}-copy"] = measure_raw(
                    args, dbs, backend, rows=rows, per_commit=n, bookings=bookings, copy=True
                )
    return out
