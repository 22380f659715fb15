"""The township's quarterly 以奖代补 settlement at county size (issue #11): how long
`subsidies.compute` (what a draft does before it stores the result) takes over a
township of 200 villages, 100,000 households and 1,000,000 labor records and ledger
entries in the quarter (the defaults; every size is a parameter).

Seeding (with progress lines) goes through the services for the township, villages,
charters, projects, households and members, and through the ledger service's batch path
for the entries, one transaction per village (see _seed); the first and last villages'
chains are verified afterwards. Then it times compute (best of `--repeat`) beside a
same-run reference: one raw grouped query over the same records (count and sum of
quantity per village, the quantity, stored as text, cast to a number), through the same
SQLAlchemy connection.

    .venv/bin/python bench/figures_subsidies.py --backend sqlite
    .venv/bin/python bench/figures_subsidies.py --backend postgresql

Seeding the full size takes tens of minutes; `--url` keeps a database: the first run
seeds it (`--seed-only` stops there), later runs settle what is in it:

    .venv/bin/python bench/figures_subsidies.py --url sqlite:////tmp/county.db --seed-only
    .venv/bin/python bench/figures_subsidies.py --url sqlite:////tmp/county.db
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql://postgres@127.0.0.1:5432"
CHARTER = {
    "title": "投工投劳",
    "effective_on": "2026-01-01",
    "rules": [
        {
            "id": "labor",
            "category": "labor",
            "label": "投工投劳",
            "type": "per_unit",
            "params": {"unit": "person_day", "points_per_unit": 10, "rounding": "half_up"},
            "allow_repeats": True,
        }
    ],
}
SCHEME: dict[str, Any] = {
    "title": "基准测试以奖代补",
    "effective_on": "2026-01-01",
    "pool_fen": 100_000_000,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 50,
            "normalise": {"method": "ratio", "target": "0.7"},
        },
        {
            "id": "days",
            "type": "person_days",
            "weight": 50,
            "normalise": {"method": "min_max"},
        },
    ],
    "gates": [{"indicator": "participation", "min": "0.3"}],
    "award": {"method": "pool_split"},
    # Never bites (a village's share of the pool is far below its project's investment).
    "caps": {"share_of_investment": "1"},
    "rounding": {"unit": "yuan", "remainder": "largest_remainder"},
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _migrate(url: str) -> None:
    env = {**os.environ, "JIFEN_DATABASE_URL": url}
    jifen = [sys.executable, "-m", "jifen", "migrate"]
    subprocess.run(jifen, env=env, check=True, capture_output=True, timeout=600)


@contextlib.contextmanager
def _fresh(backend: str, pg_url: str = PG_URL) -> Any:
    """A migrated, empty database of its own, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jifen-bench-subsidies-") as work:
            url = f"sqlite:///{Path(work) / 'bench.db'}"
            _migrate(url)
            yield url
        return
    import psycopg

    name = f"jifen_bench_subsidies_{secrets.token_hex(3)}"
    with contextlib.closing(
        psycopg.connect(f"{pg_url}/postgres", autocommit=True, connect_timeout=5)
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{pg_url.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
            _migrate(url)
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed(url: str, villages: int, households: int, entries: int) -> Any:
    """A township of `villages` villages, `households` households in all (one member
    each) and `entries` labor records on the villages' projects in the quarter, each
    booked as its ledger entry through the ledger service (so the chain and the
    balances are the ledger's own), one database transaction per village.

    The first record of a village goes through records.record; the others copy its
    shape (charter version, rule, points, explanation): their entries are booked with
    ledger.book — the writer's batch path, so a village's thousands of entries cost a
    few multi-row statements — and their rows inserted in one executemany. Villages
    differ: in odd villages every fifth household takes no part."""
    from sqlalchemy import insert

    from jifen.charters import service as charters
    from jifen.config import Settings
    from jifen.db import Database
    from jifen.kit.clock import utc_now
    from jifen.kit.ids import new_id
    from jifen.labor import service as labor
    from jifen.ledger import service as ledger
    from jifen.ledger.policy import AccountKind
    from jifen.models import Record
    from jifen.records import service as records
    from jifen.subsidies import service as subsidies
    from jifen.tenancy import service as tenancy

    settings = Settings(database_url=url)
    db = Database(settings)
    now = utc_now()
    clock = ledger.Clock(now=now, settings=settings)
    clerk = records.Recorder("bench:clerk", frozenset({"village_clerk"}))
    with db.unit_of_work() as session:
        township = tenancy.create_township(session, code="county", name="基准县镇", now=now)
        township_id = township.id
        subsidies.create_wage_rate(
            session,
            township_id=township_id,
            effective_on=date(2026, 1, 1),
            fen_per_person_day=12_000,
            actor="bench",
            now=now,
        )
        subsidies.create_scheme_version(
            session, township_id=township_id, data=SCHEME, actor="bench", now=now
        )
    started = time.perf_counter()
    booked = 0
    for v in range(villages):
        homes = households // villages + (1 if v < households % villages else 0)
        wanted = entries // villages + (1 if v < entries % villages else 0)
        with db.unit_of_work() as session:
            village = tenancy.create_village(
                session, township_id=township_id, code=f"v{v:03d}", name=f"第{v + 1}村", now=now
            )
            charters.create_version(
                session, village_id=village.id, data=CHARTER, actor="bench", now=now, publish=True
            )
            project = labor.create_project(
                session,
                village_id=village.id,
                code="road",
                name="村道",
                description="",
                starts_on=date(2026, 1, 1),
                ends_on=None,
                actor="bench",
                now=now,
                planned_investment_fen=10_000_000,
                status="underway",
            )
            members = []
            for h in range(homes):
                household = tenancy.create_household(
                    session, village_id=village.id, number=f"H{h:04d}", name=f"户{h}", now=now
                )
                member = tenancy.create_member(
                    session,
                    village_id=village.id,
                    name=f"村民{h}",
                    household_id=household.id,
                    joined_on=date(2025, 1, 1),
                    now=now,
                    today=date(2026, 1, 1),
                )
                if not (v % 2 and h % 5 == 0):
                    members.append((member.id, household.id))
            if not members or not wanted:
                continue
            first = records.record(
                session,
                records.RecordRequest(
                    village_id=village.id,
                    rule_id="labor",
                    member_id=members[0][0],
                    household_id=None,
                    quantity=Decimal(1),
                    occurred_at=datetime(2026, 1, 1, 2, tzinfo=UTC),
                    project_id=project.id,
                ),
                recorder=clerk,
                clock=clock,
            )
            entry = ledger.get_entry(session, first.entry_id).entry
            source = next(p.account_id for p in entry.postings if p.amount < 0)
            # Every account looked up before booking: a statement flushes the batch.
            accounts = {
                member_id: ledger.find_account_id(
                    session, village_id=village.id, kind=AccountKind.MEMBER, owner_id=member_id
                )
                for member_id, _ in members
            }
            points = first.points
            rows = []
            for n in range(1, wanted):
                member_id, household_id = members[n % len(members)]
                account = accounts[member_id]
                assert account is not None
                at = datetime(2026, 1 + n % 3, 1 + n % 28, 2, tzinfo=UTC)
                record_id = new_id()
                quantity, worth = ("1", points) if n % 4 else ("0.5", points // 2)
                view = ledger.book(
                    session,
                    village_id=village.id,
                    code=entry.code,
                    postings=[
                        ledger.PostingInput(account, worth),
                        ledger.PostingInput(source, -worth),
                    ],
                    actor=clerk.actor,
                    clock=clock,
                    memo=first.explanation[:500],
                    details={
                        "record_id": str(record_id),
                        "charter_version_id": str(first.charter_version_id),
                        "charter_version": first.charter_version,
                        "rule_id": first.rule_id,
                        "member_id": str(member_id),
                        "household_id": str(household_id),
                        "quantity": quantity,
                        "explanation": first.explanation,
                        "cap": None,
                    },
                    occurred_at=at,
                )
                rows.append(
                    {
                        "id": record_id,
                        "township_id": township_id,
                        "village_id": village.id,
                        "charter_version_id": first.charter_version_id,
                        "charter_version": first.charter_version,
                        "rule_id": first.rule_id,
                        "category": first.category,
                        "member_id": member_id,
                        "household_id": household_id,
                        "holder": first.holder,
                        "quantity": quantity,
                        "occurred_on": at.date(),
                        "occurred_at": at,
                        "occurrence": f"{at.isoformat()}#{n}",
                        "dedupe_key": None,
                        "status": first.status,
                        "stages_pending": [],
                        "scored_points": worth,
                        "awarded_points": worth,
                        "points": worth,
                        "merit_points": 0,
                        "explanation": first.explanation,
                        "cap": None,
                        "recorder": clerk.actor,
                        "recorder_role": first.recorder_role,
                        "project_id": project.id,
                        "activity_id": None,
                        "place": "",
                        "evidence": [],
                        "note": "",
                        "entry_id": view.entry.id,
                        "reversal_entry_id": None,
                        "created_at": now,
                        "decided_at": now,
                    }
                )
            session.execute(insert(Record), rows)
            booked += wanted
        done = v + 1
        if done % max(1, villages // 20) == 0 or done == villages:
            spent = time.perf_counter() - started
            log(f"seeded {done}/{villages} villages, {booked} entries ({spent:.0f} s)")
    return db, township_id


@contextlib.contextmanager
def _kept(url: str) -> Any:
    """A database the caller keeps (seeded once, settled by later runs): migrated here."""
    _migrate(url)
    yield url


def _seeded(url: str) -> tuple[Any, Any] | None:
    """The database and township of an earlier seeding of `url`, if there is one."""
    from sqlalchemy import select

    from jifen.config import Settings
    from jifen.db import Database
    from jifen.models import Township

    db = Database(Settings(database_url=url))
    with db.unit_of_work(write=False) as session:
        found = session.execute(select(Township.id).where(Township.code == "county")).scalar()
    if found is None:
        db.dispose()
        return None
    return db, found


def measure(
    backend: str,
    villages: int,
    households: int,
    entries: int,
    repeat: int,
    url: str | None = None,
    seed_only: bool = False,
    pg_url: str = PG_URL,
) -> dict:
    from sqlalchemy import Numeric, cast, func, select

    from jifen.ledger import service as ledger
    from jifen.models import Entry, Household, Record, Village
    from jifen.subsidies import service as subsidies

    with _fresh(backend, pg_url) if url is None else _kept(url) as url:
        earlier = _seeded(url)
        if earlier is None:
            log(
                f"{backend}: seeding {villages} villages, {households} households, "
                f"{entries} records"
            )
            db, township_id = _seed(url, villages, households, entries)
        else:
            log(f"{backend}: settling the township seeded earlier in {url}")
            db, township_id = earlier
        if seed_only:
            db.dispose()
            return {}
        try:
            with db.unit_of_work(write=False) as session:
                booked = session.execute(select(func.count()).select_from(Entry)).scalar_one()
                counted = session.execute(select(func.count()).select_from(Record)).scalar_one()
                homes = session.execute(select(func.count()).select_from(Household)).scalar_one()
                # The books stay valid: the first and last villages' chains verify.
                codes = session.execute(select(Village.id).order_by(Village.code)).scalars().all()
                for village_id in {codes[0], codes[-1]}:
                    verified = ledger.verify_books(session, village_id)
                    if not verified.is_intact:
                        raise SystemExit(f"books of {village_id} do not verify: {verified}")
                log(f"chains of the first and last villages verify ({len(codes)} villages)")
            first, last = date(2026, 1, 1), date(2026, 3, 31)
            best_compute = best_raw = float("inf")
            for _ in range(repeat):
                with db.unit_of_work(write=False) as session:
                    t = time.perf_counter()
                    computed = subsidies.compute(
                        session, township_id=township_id, first=first, last=last
                    )
                    best_compute = min(best_compute, time.perf_counter() - t)
                with db.unit_of_work(write=False) as session:
                    t = time.perf_counter()
                    session.execute(
                        select(
                            Record.village_id,
                            func.count(),
                            func.sum(cast(Record.quantity, Numeric)),
                        )
                        .where(
                            Record.occurred_on >= first,
                            Record.occurred_on <= last,
                            Record.project_id.is_not(None),
                        )
                        .group_by(Record.village_id)
                    ).all()
                    best_raw = min(best_raw, time.perf_counter() - t)
            figures = {
                "backend": backend,
                "villages": len(codes),
                "households": homes,
                "records": counted,
                "entries": booked,
                "compute_s": round(best_compute, 3),
                "raw_aggregate_s": round(best_raw, 3),
                "ratio": round(best_compute / best_raw, 1),
                "total_fen": computed.result["total_fen"],
            }
            log(f"{backend}: {figures}")
            return figures
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--villages", type=int, default=200)
    parser.add_argument("--households", type=int, default=100_000, help="in all")
    parser.add_argument("--entries", type=int, default=1_000_000, help="labor records, in all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--url",
        help="a database to keep (the backend must match): seeded on the first run, "
        "settled as it is on later ones",
    )
    parser.add_argument("--seed-only", action="store_true", help="seed --url, do not settle")
    args = parser.parse_args()
    if args.seed_only and not args.url:
        parser.error("--seed-only needs --url (a fresh database is removed afterwards)")
    measure(
        args.backend,
        args.villages,
        args.households,
        args.entries,
        args.repeat,
        url=args.url,
        seed_only=args.seed_only,
    )


if __name__ == "__main__":
    main()
