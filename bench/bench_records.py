"""Benchmark of recording under a charter: does a record cost more as a village's history grows?

Every record is decided under the village's books lock: the version in force, the
member's household on the day, the duplicate check, one sum per cap over the holder's
records in the cap's window, the balance (for deductions), then the booking. Those reads
go through indexes on (member, day) and (household, day), so the cost of one record
should not grow with the number of records the village already has.

The benchmark seeds one village (200 households of 3, a charter of four rules with caps
per day, month and year) with records in batches, timing each record, and between the
sizes measures records written one per transaction, as a clerk's app writes them. It
prints records per second and the p50 / p99 of one record at each size, and the ratio
p50(largest) / p50(smallest). Run on SQLite (a file, synchronous=FULL) and, with
`--pg URL`, on PostgreSQL as well (where the tables are vacuumed and analysed after each
bulk, as autovacuum would in time, before the one-per-transaction samples).

    .venv/bin/python bench/bench_records.py [--sizes 10000,100000] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.migrate import upgrade
from jifen.records import service as records
from jifen.tenancy import service as tenancy

HOUSEHOLDS = 200
MEMBERS_PER_HOUSEHOLD = 3
BATCH = 250
SINGLE_SAMPLES = 300
START = date(2024, 1, 1)
NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
RECORDER = records.Recorder("bench:clerk", frozenset({"village_clerk"}))

CHARTER: dict[str, Any] = {
    "title": "基准村规",
    "effective_on": str(START),
    "settings": {"points_holder": "household", "merit": {"enabled": True}},
    "rules": [
        {
            "id": "labor_hour",
            "category": "labor",
            "label": "义务劳动",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            "moves": ["points", "merit"],
            "caps": [
                {"per": "member", "period": "day", "max_points": 16},
                {"per": "household", "period": "month", "max_points": 120},
            ],
            "allow_repeats": True,
        },
        {
            "id": "waste_sorting",
            "category": "waste_sorting",
            "label": "垃圾分类检查合格",
            "type": "fixed",
            "params": {"points": 1},
            "caps": [{"per": "household", "period": "year", "max_points": 40}],
            "allow_repeats": True,
        },
        {
            "id": "volunteer",
            "category": "contribution",
            "label": "志愿服务",
            "type": "fixed",
            "params": {"points": 5},
            "allow_repeats": True,
        },
        {
            "id": "lane_rubbish",
            "category": "sanitation",
            "label": "宅前屋后乱堆乱放",
            "type": "deduction",
            "params": {"points": 5},
            "allow_repeats": True,
        },
    ],
    "category_caps": [
        {"category": "contribution", "per": "household", "period": "year", "max_points": 60}
    ],
}
RULES = ("labor_hour", "labor_hour", "waste_sorting", "volunteer", "lane_rubbish")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Village:
    id: uuid.UUID
    members: list[uuid.UUID]


def seed_village(db: Database, settings: Settings) -> Village:
    now = NOW
    with db.unit_of_work() as session:
        township = tenancy.create_township(
            session, code=f"b{uuid.uuid4().hex[:8]}", name="基准镇", now=now
        )
        village = tenancy.create_village(
            session, township_id=township.id, code="v", name="基准村", now=now
        )
        members = []
        for h in range(HOUSEHOLDS):
            household = tenancy.create_household(
                session, village_id=village.id, number=f"{h:04d}", name=f"户{h}", now=now
            )
            for m in range(MEMBERS_PER_HOUSEHOLD):
                member = tenancy.create_member(
                    session,
                    village_id=village.id,
                    name=f"村民{h}-{m}",
                    household_id=household.id,
                    joined_on=START,
                    is_head=m == 0,
                    now=now,
                    today=now.date(),
                )
                members.append(member.id)
        charters.create_version(
            session, village_id=village.id, data=CHARTER, actor="bench", now=now, publish=True
        )
    return Village(village.id, members)


def request(village: Village, n: int) -> records.RecordRequest:
    """The n-th record: members, rules and days in turn, spread over the years."""
    rule_id = RULES[n % len(RULES)]
    day = START + timedelta(days=(n * 7) % (NOW.date() - START).days)
    return records.RecordRequest(
        village_id=village.id,
        rule_id=rule_id,
        member_id=village.members[n % len(village.members)],
        household_id=None,
        quantity=Decimal("3") if rule_id == "labor_hour" else Decimal(1),
        occurred_at=datetime(day.year, day.month, day.day, 2, tzinfo=UTC),
    )


@dataclass
class Sample:
    size: int
    batched_per_second: float
    single_per_second: float
    p50_ms: float
    p99_ms: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(url: str, label: str, sizes: list[int]) -> list[Sample]:
    settings = Settings(database_url=url)
    upgrade(url)
    db = Database(settings)
    clock = ledger.Clock(now=NOW, settings=settings)
    village = seed_village(db, settings)
    written = 0
    samples: list[Sample] = []
    try:
        for size in sizes:
            started = time.perf_counter()
            target = size - SINGLE_SAMPLES
            while written < target:
                with db.unit_of_work() as session:
                    for _ in range(min(BATCH, target - written)):
                        records.record(
                            session, request(village, written), recorder=RECORDER, clock=clock
                        )
                        written += 1
                if written % 5000 < BATCH:
                    log(f"  {label}: {written:,} / {size:,} records")
            batched = (written - (samples[-1].size if samples else 0)) / (
                time.perf_counter() - started
            )
            if db.write_engine.dialect.name == "postgresql":
                # Let PostgreSQL catch up on the bulk it was just given (autovacuum would, in
                # its own time), so the samples below measure the steady state.
                with db.write_engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM ANALYZE records, entries, postings, account_balances, outbox_events"
                    )
            # A clerk's app: one record per transaction, each committed.
            timings = []
            for _ in range(SINGLE_SAMPLES):
                t0 = time.perf_counter()
                with db.unit_of_work() as session:
                    records.record(
                        session, request(village, written), recorder=RECORDER, clock=clock
                    )
                timings.append((time.perf_counter() - t0) * 1000)
                written += 1
            samples.append(
                Sample(
                    size=written,
                    batched_per_second=batched,
                    single_per_second=1000 / statistics.fmean(timings),
                    p50_ms=_percentile(timings, 0.5),
                    p99_ms=_percentile(timings, 0.99),
                )
            )
            s = samples[-1]
            log(
                f"  {label}: at {s.size:,} records: {s.batched_per_second:,.0f}/s batched, "
                f"{s.single_per_second:,.0f}/s one per transaction, p50 {s.p50_ms:.2f} ms, "
                f"p99 {s.p99_ms:.2f} ms"
            )
        with db.unit_of_work(write=False) as session:
            assert ledger.trial_balance(session, village.id).is_balanced
    finally:
        db.dispose()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="records in the village")
    parser.add_argument("--pg", help="also run on this PostgreSQL database (it is used up)")
    parser.add_argument("--no-sqlite", action="store_true", help="only the PostgreSQL run")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as work:
        targets = [] if args.no_sqlite else [("SQLite", f"sqlite:///{Path(work) / 'bench.db'}")]
        if args.pg:
            targets.append(("PostgreSQL", args.pg))
        rows = []
        for label, url in targets:
            log(f"{label}: seeding {HOUSEHOLDS * MEMBERS_PER_HOUSEHOLD} members and a charter")
            samples = run(url, label, sizes)
            ratio = samples[-1].p50_ms / samples[0].p50_ms
            rows.append((label, samples, ratio))
    print(f"\nrecords under a charter ({HOUSEHOLDS} households, {len(RULES) - 1} rules with caps)")
    header = ("database", "records", "batched/s", "single/s", "p50 ms", "p99 ms")
    print("{:<11} {:>9} {:>10} {:>9} {:>7} {:>7}".format(*header))
    for label, samples, ratio in rows:
        for s in samples:
            print(
                f"{label:<11} {s.size:>9,} {s.batched_per_second:>10,.0f} "
                f"{s.single_per_second:>9,.0f} {s.p50_ms:>7.2f} {s.p99_ms:>7.2f}"
            )
        print(f"{label:<11} p50 ratio, largest / smallest: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
