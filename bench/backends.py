"""The databases the figures run on, and what is in them at the start of a figure.

Every figure gets a fresh database: a SQLite file (synchronous FULL, jifen's default, or
NORMAL) or a PostgreSQL database with a unique name that is dropped afterwards. Each is
a copy of a template made once per backend and run: migrated with jifen's own Alembic
migrations (so every trigger and index is there) and holding the same "world":

- township A with 8 villages; village 0 has 1,000 members, villages 1-7 have 125 each
  (`--members`, `--members-other`); each village has a clerk (role village_clerk) and a
  supermarket cashier (supermarket_cashier), each with an API key;
- a third township with a village of 100 members and 10,000 entries made as the API
  makes them (`--history`): the database has been in use (on PostgreSQL the template is
  then analysed, as autovacuum would have done);
- township B with one village, "the market": 200 members (`--market-members`) each
  awarded as many points as the redemption figure will ask of them on average;
- a platform administrator with an API key.

Copies are cheap: a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from common import log

if TYPE_CHECKING:
    from jifen.db import Database

ACTOR = "bench"
AWARD_POINTS = 2
VILLAGES = 8


@dataclass(frozen=True)
class WorldSize:
    members: int = 1000  # village 0
    members_other: int = 125  # villages 1-7
    market_members: int = 200
    market_award_points: int = 100
    history_entries: int = 10_000


@dataclass(frozen=True)
class Backend:
    kind: Literal["sqlite", "postgresql"]
    synchronous: Literal["FULL", "NORMAL"] = "FULL"  # SQLite only

    @property
    def label(self) -> str:
        return f"SQLite {self.synchronous}" if self.kind == "sqlite" else "PostgreSQL"

    @property
    def key(self) -> str:
        return f"sqlite_{self.synchronous.lower()}" if self.kind == "sqlite" else "postgresql"


SQLITE_FULL = Backend("sqlite", "FULL")
SQLITE_NORMAL = Backend("sqlite", "NORMAL")
POSTGRESQL = Backend("postgresql")


@dataclass(frozen=True)
class Village:
    id: str
    township_id: str
    code: str
    issuance_id: str
    supermarket_id: str
    member_account_ids: list[str]
    clerk_key: str
    cashier_key: str


@dataclass(frozen=True)
class World:
    """What every fresh database holds (the ids are the same in every copy)."""

    villages: list[Village]  # township A
    market: Village  # township B
    admin_key: str
    market_awards: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> World:
        return cls(
            villages=[Village(**v) for v in data["villages"]],
            market=Village(**data["market"]),
            admin_key=data["admin_key"],
            market_awards=data["market_awards"],
        )


@dataclass
class Fresh:
    """A fresh database of one figure."""

    backend: Backend
    url: str
    name: str
    path: Path | None = None  # SQLite

    @property
    def libpq_url(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def pg_connect(self) -> Any:
        """A psycopg connection in autocommit mode (PostgreSQL only), to be closed."""
        import psycopg

        return psycopg.connect(self.libpq_url, autocommit=True, connect_timeout=5)

    def database(self) -> Database:
        from jifen.config import Settings
        from jifen.db import Database

        return Database(
            Settings(database_url=self.url, sqlite_synchronous=self.backend.synchronous)
        )


@dataclass
class Databases:
    """Makes the fresh databases and removes every one of them at the end."""

    work: Path
    pg_url: str  # postgresql://user@host:port, no database
    size: WorldSize = field(default_factory=WorldSize)
    _token: str = field(default_factory=lambda: secrets.token_hex(3))
    _pg_created: list[str] = field(default_factory=list)
    _templates: dict[str, tuple[Fresh, World]] = field(default_factory=dict)
    _count: int = 0

    # --- PostgreSQL administration (only databases this benchmark created) --------------

    def _pg_admin(self) -> Any:
        import psycopg

        return psycopg.connect(f"{self.pg_url}/postgres", autocommit=True, connect_timeout=5)

    def postgresql_version(self) -> str | None:
        """The server's version, or None if it does not answer."""
        try:
            with contextlib.closing(self._pg_admin()) as conn:
                return str(conn.execute("SHOW server_version").fetchone()[0])
        except Exception as exc:
            log(f"PostgreSQL at {self.pg_url} does not answer: {type(exc).__name__}: {exc}")
            return None

    def _pg_name(self, name: str) -> str:
        self._count += 1
        return f"jifen_bench_{self._token}_{self._count:03d}_{name}"[:63]

    def _pg_sqlalchemy_url(self, dbname: str) -> str:
        return f"{self.pg_url.replace('postgresql://', 'postgresql+psycopg://', 1)}/{dbname}"

    def _pg_create(self, dbname: str, template: str | None = None) -> None:
        with contextlib.closing(self._pg_admin()) as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            for attempt in range(20):
                try:
                    conn.execute(f'CREATE DATABASE "{dbname}"{suffix}')
                    break
                except Exception as exc:
                    # "source database is being accessed by other users": a connection of
                    # the template's making is still closing.
                    if "being accessed" not in str(exc) or attempt == 19:
                        raise
                    time.sleep(0.25)
        self._pg_created.append(dbname)

    def drop(self, fresh: Fresh) -> None:
        if fresh.backend.kind == "postgresql":
            if fresh.name in self._pg_created:
                with contextlib.closing(self._pg_admin()) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{fresh.name}" WITH (FORCE)')
                self._pg_created.remove(fresh.name)
        elif fresh.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{fresh.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        """Drop every PostgreSQL database this benchmark made (templates too)."""
        if not self._pg_created:
            return
        with contextlib.suppress(Exception), contextlib.closing(self._pg_admin()) as conn:
            for dbname in list(self._pg_created):
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                self._pg_created.remove(dbname)

    # --- fresh databases ---------------------------------------------------------------

    def empty(self, backend: Backend, name: str) -> Fresh:
        """A new, migrated database with nothing in it."""
        from jifen.migrate import upgrade

        if backend.kind == "sqlite":
            path = self.work / f"{name}-{self._next()}.db"
            fresh = Fresh(backend, f"sqlite:///{path}", path.stem, path)
        else:
            dbname = self._pg_name(name)
            self._pg_create(dbname)
            fresh = Fresh(backend, self._pg_sqlalchemy_url(dbname), dbname)
        upgrade(fresh.url)
        return fresh

    def _next(self) -> int:
        self._count += 1
        return self._count

    def copy(self, source: Fresh, name: str, backend: Backend | None = None) -> Fresh:
        """A copy of a database (nobody may be connected to a PostgreSQL source)."""
        backend = backend or source.backend
        if backend.kind == "sqlite":
            assert source.path is not None
            with contextlib.closing(sqlite3.connect(source.path)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            path = self.work / f"{name}-{self._next()}.db"
            shutil.copyfile(source.path, path)
            return Fresh(backend, f"sqlite:///{path}", path.stem, path)
        dbname = self._pg_name(name)
        self._pg_create(dbname, template=source.name)
        return Fresh(backend, self._pg_sqlalchemy_url(dbname), dbname)

    def fresh(self, backend: Backend, name: str) -> tuple[Fresh, World]:
        """A fresh copy of the backend's template: migrated, with the world in it."""
        template_key = backend.kind  # SQLite FULL and NORMAL share a file format
        if template_key not in self._templates:
            self._templates[template_key] = self._make_template(backend)
        template, world = self._templates[template_key]
        return self.copy(template, name, backend), world

    @contextlib.contextmanager
    def figure(self, backend: Backend, name: str) -> Iterator[tuple[Fresh, World]]:
        fresh, world = self.fresh(backend, name)
        try:
            yield fresh, world
        finally:
            self.drop(fresh)

    def _make_template(self, backend: Backend) -> tuple[Fresh, World]:
        started = time.monotonic()
        size = self.size
        log(
            f"{backend.label}: making the template database (migrations; villages of "
            f"{size.members:,}, 7 x {size.members_other:,} and {size.market_members:,} members)"
        )
        template = self.empty(Backend(backend.kind), "template")
        db = template.database()
        try:
            world = make_world(db, size)
        finally:
            db.dispose()
        if backend.kind == "postgresql":
            # As autovacuum would have by now in a database in use. Without statistics
            # PostgreSQL plans for tiny tables, and keeps those plans in each connection.
            with contextlib.closing(template.pg_connect()) as conn:
                conn.execute("ANALYZE")
        log(
            f"{backend.label}: template {template.name} ready in {time.monotonic() - started:.1f} s"
        )
        return template, world


# --- the world -------------------------------------------------------------------------------


def make_world(db: Database, size: WorldSize) -> World:
    from jifen.kit.clock import utc_now
    from jifen.ledger import service as ledger
    from jifen.tenancy import service as tenancy

    now = utc_now()
    with db.unit_of_work() as session:
        admin_key = _platform_admin(session, now)
        township = tenancy.create_township(session, code="bench-a", name="基准镇", now=now)
        villages = [
            _village(
                session,
                township.id,
                f"bench-{n}",
                size.members if n == 0 else size.members_other,
                now,
            )
            for n in range(VILLAGES)
        ]
        market_township = tenancy.create_township(session, code="bench-b", name="超市镇", now=now)
        market = _village(session, market_township.id, "market", size.market_members, now)
    with db.unit_of_work() as session:
        clock = ledger.Clock(now=utc_now(), settings=db.settings)
        points = size.market_award_points
        for account_id in market.member_account_ids:
            ledger.book(
                session,
                village_id=uuid.UUID(market.id),
                code="labor_award",
                postings=[
                    ledger.PostingInput(uuid.UUID(market.issuance_id), -points),
                    ledger.PostingInput(uuid.UUID(account_id), points),
                ],
                actor=ACTOR,
                clock=clock,
                memo="bench award",
            )
    if size.history_entries:
        _history(db, tenancy.create_township, size.history_entries)
    return World(villages, market, admin_key, len(market.member_account_ids))


def _history(db: Database, create_township: Any, entries: int) -> None:
    """A third township's village with `entries` bookings made as the API makes them
    (each with its idempotency record and audit event): the database has been in use."""
    from jifen.api import idempotency
    from jifen.kit.clock import utc_now
    from jifen.kit.ids import new_id
    from jifen.ledger import service as ledger
    from jifen.models import AuditEvent

    now = utc_now()
    with db.unit_of_work() as session:
        township = create_township(session, code="bench-c", name="旧账镇", now=now)
        village = _village(session, township.id, "history", 100, now)
    village_id = uuid.UUID(village.id)
    issuance = ledger.PostingInput(uuid.UUID(village.issuance_id), -AWARD_POINTS)
    members = [uuid.UUID(a) for a in village.member_account_ids]
    shown = time.monotonic()
    for start in range(0, entries, 1000):
        if time.monotonic() - shown > 5:
            shown = time.monotonic()
            log(f"  template: history {start:,}/{entries:,} entries")
        with db.unit_of_work() as session:
            clock = ledger.Clock(now=utc_now(), settings=db.settings)
            for n in range(start, min(entries, start + 1000)):
                key = f"history-{n:07d}"
                view = ledger.book(
                    session,
                    village_id=village_id,
                    code="labor_award",
                    postings=[issuance, ledger.PostingInput(members[n % 100], AWARD_POINTS)],
                    actor=ACTOR,
                    clock=clock,
                    memo="bench award",
                    idempotency_key=key,
                )
                idempotency.store(
                    session,
                    principal=ACTOR,
                    key=key,
                    method="POST",
                    path="/v1/entries",
                    fingerprint="0" * 64,
                    status_code=201,
                    body=b'{"id": "%s"}' % str(view.entry.id).encode(),
                    now=clock.now,
                )
                session.add(
                    AuditEvent(
                        id=new_id(),
                        at=clock.now,
                        principal_id=None,
                        principal_name=ACTOR,
                        action="create_entry",
                        method="POST",
                        path="/v1/entries",
                        status_code=201,
                        township_id=township.id,
                        village_id=village_id,
                        target={"result_id": str(view.entry.id)},
                    )
                )


def _platform_admin(session: Any, now: Any) -> str:
    from jifen.access import service as access

    _user, key = access.create_platform_admin(
        session, name=ACTOR, username=None, password=None, now=now
    )
    return key


def _staff_key(session: Any, township_id: Any, village_id: Any, role: str, now: Any) -> str:
    from jifen.access import service as access

    user = access.create_user(
        session,
        name=f"{role}@{village_id}"[:200],
        township_id=township_id,
        village_id=village_id,
        created_by=ACTOR,
        now=now,
    )
    access.grant_role(
        session,
        caller=None,
        user_id=user.id,
        role_id=access.builtin_role(session, role).id,
        village_id=village_id,
        created_by=ACTOR,
        now=now,
    )
    _key, token = access.create_api_key(
        session, user_id=user.id, name=role, created_by=ACTOR, now=now
    )
    return token


def _village(session: Any, township_id: Any, code: str, members: int, now: Any) -> Village:
    from jifen.ledger import service as ledger
    from jifen.ledger.policy import AccountKind
    from jifen.tenancy import service as tenancy

    village = tenancy.create_village(
        session, township_id=township_id, code=code, name=f"基准村{code}", now=now
    )
    accounts = []
    for n in range(members):
        member = tenancy.create_member(
            session, village_id=village.id, name=f"村民{n:04d}", now=now, today=now.date()
        )
        account = ledger.find_account(
            session, village_id=village.id, kind=AccountKind.MEMBER, owner_id=member.id
        )
        assert account is not None
        accounts.append(str(account.id))
    issuance = ledger.find_account(
        session, village_id=village.id, kind=AccountKind.ISSUANCE, category="general"
    )
    supermarket = ledger.find_account(
        session, village_id=village.id, kind=AccountKind.SUPERMARKET, category="main"
    )
    assert issuance is not None and supermarket is not None
    return Village(
        id=str(village.id),
        township_id=str(township_id),
        code=code,
        issuance_id=str(issuance.id),
        supermarket_id=str(supermarket.id),
        member_account_ids=accounts,
        clerk_key=_staff_key(session, township_id, village.id, "village_clerk", now),
        cashier_key=_staff_key(session, township_id, village.id, "supermarket_cashier", now),
    )
