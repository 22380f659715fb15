"""Idempotency records are kept for a retention period, then `jifen tick` purges them.

After the purge a retry is judged afresh by the ledger, whose (village, actor, key) is
unique: the entry is still never booked twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from jifen.api import idempotency
from jifen.cli import app
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import IdempotencyRecord
from tests.api.helpers import Village, ok, post_entry, posted, problem

REPLAYED = "Idempotent-Replayed"


def _records(db: Database) -> dict[str, datetime]:
    with db.unit_of_work(write=False) as session:
        rows = session.execute(select(IdempotencyRecord.key, IdempotencyRecord.created_at))
        return {key: created for key, created in rows}


def _age(db: Database, key: str, at: datetime) -> None:
    """Pretend the answer to `key` was stored at `at` (the test cannot wait 30 days)."""
    with db.unit_of_work() as session:
        session.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key == key).values(created_at=at)
        )


def test_a_retry_after_the_purge_still_books_nothing_new(
    client: TestClient, village: Village, db: Database
) -> None:
    _, account = village.member()
    postings = [(village.issuance, -6), (account, 6)]
    first = ok(post_entry(client, village.id, postings, headers={"Idempotency-Key": "k-r"}), 201)
    assert set(_records(db)) == {"k-r"}

    # 31 days on, the stored answer is past the 30-day retention and is purged.
    report = idempotency.purge_expired(db, now=utc_now() + timedelta(days=31))
    assert (report.purged, report.batches) == (1, 1)
    assert _records(db) == {}

    # The same request again: the ledger finds the entry its key booked and books nothing.
    retry = post_entry(client, village.id, postings, headers={"Idempotency-Key": "k-r"})
    assert retry.status_code in (200, 201), retry.text
    assert retry.json()["id"] == first["id"]
    # The same key for other content is refused, as before the purge.
    other = post_entry(
        client,
        village.id,
        [(village.issuance, -7), (account, 7)],
        headers={"Idempotency-Key": "k-r"},
    )
    problem(other, 422, "idempotency_key_reused")

    assert [e["id"] for e in village.entries()] == [first["id"]]
    assert posted(client, account) == 6


def test_only_records_past_the_retention_go_in_bounded_batches(
    client: TestClient, village: Village, db: Database, database_url: str
) -> None:
    _, account = village.member()
    for n in range(1, 7):
        headers = {"Idempotency-Key": f"k-{n}"}
        ok(
            post_entry(client, village.id, [(village.issuance, -n), (account, n)], headers=headers),
            201,
        )
    now = datetime.fromisoformat("2026-11-26T12:00:00+00:00")
    # Ages in days: k-1..k-5 are past 30 days (oldest first), k-6 is 29 days old.
    for key, days in (
        ("k-1", 90),
        ("k-2", 45),
        ("k-3", 31),
        ("k-4", 30.5),
        ("k-5", 30.01),
        ("k-6", 29),
    ):
        _age(db, key, now - timedelta(days=days))

    small = Database(Settings(database_url=database_url, idempotency_purge_batch=2))
    lines: list[str] = []
    try:
        report = idempotency.purge_expired(small, now=now, progress=lines.append)
    finally:
        small.dispose()
    # 5 records past the cutoff, 2 per batch: batches of 2, 2 and 1.
    assert (report.purged, report.batches) == (5, 3)
    assert report.cutoff == now - timedelta(days=30)
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["2 purged", "4 purged", "5 purged"]
    assert set(_records(db)) == {"k-6"}
    # Nothing left to purge: a second run is a no-op.
    again = idempotency.purge_expired(db, now=now)
    assert (again.purged, again.batches) == (0, 0)
    # The books are untouched: 1+2+3+4+5+6 = 21 points.
    assert posted(client, account) == 21


def test_jifen_tick_purges_the_expired_records(
    client: TestClient,
    village: Village,
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, account = village.member()
    for key in ("old", "new"):
        headers = {"Idempotency-Key": key}
        ok(
            post_entry(client, village.id, [(village.issuance, -1), (account, 1)], headers=headers),
            201,
        )
    now = utc_now()
    _age(db, "old", now - timedelta(days=8))
    _age(db, "new", now - timedelta(days=6))
    monkeypatch.setenv("JIFEN_DATABASE_URL", database_url)
    monkeypatch.setenv("JIFEN_IDEMPOTENCY_RETENTION_DAYS", "7")

    result = CliRunner().invoke(app, ["tick"])
    assert result.exit_code == 0, result.output
    assert "1 idempotency records older than 7 days purged" in result.output
    assert set(_records(db)) == {"new"}

    # A tick of one village leaves callers' records alone.
    _age(db, "new", now - timedelta(days=9))
    one = CliRunner().invoke(app, ["tick", "--village", village.raw["code"]])
    assert one.exit_code == 0, one.output
    assert "purged" not in one.output
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


@pytest.mark.parametrize("name", ["idempotency_retention_days", "idempotency_purge_batch"])
def test_a_retention_or_batch_below_one_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="must be at least 1"):
        Settings(**{name: 0})  # type: ignore[arg-type]
