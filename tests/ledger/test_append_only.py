"""The database itself keeps the books append-only and balanced, and verify catches a
change made behind the service's back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Village
from tests.factories import account_of, award, make_member, make_village


def _seed(db: Database, settings: Settings) -> tuple[Village, list[ledger.EntryView]]:
    with db.unit_of_work() as session:
        village = make_village(session)
        member = make_member(session, village)
        account = account_of(session, village, AccountKind.MEMBER, member.id)
        entries = [award(session, settings, village, account, points) for points in (5, 7, 9)]
    return village, entries


def _raw(db: Database, sql: str, **params: object) -> None:
    with db.write_engine.begin() as conn:
        conn.execute(text(sql), params)


def _id(db: Database, value: object) -> object:
    """How the dialect stores a UUID in a raw statement."""
    return value.hex if db.dialect == "sqlite" else value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET memo = 'changed' WHERE id = :id",
        "DELETE FROM entries WHERE id = :id",
        "UPDATE postings SET amount = amount * 2 WHERE entry_id = :id",
        "DELETE FROM postings WHERE entry_id = :id",
    ],
)
def test_update_and_delete_are_refused(db: Database, settings: Settings, sql: str) -> None:
    _, entries = _seed(db, settings)
    with pytest.raises(DBAPIError, match="append-only"):
        _raw(db, sql, id=_id(db, entries[0].entry.id))


def test_truncate_is_refused_on_postgresql(db: Database, settings: Settings) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _seed(db, settings)
    with pytest.raises(DBAPIError, match="append-only"):
        _raw(db, "TRUNCATE postings CASCADE")


def test_unbalanced_entry_is_refused_by_the_database(db: Database, settings: Settings) -> None:
    village, entries = _seed(db, settings)
    account = _id(db, entries[0].entry.postings[0].account_id)
    with pytest.raises(DBAPIError, match="unbalanced entry"):
        _insert_lonely_entry(db, village, _id(db, uuid.uuid4()), account)


def _insert_lonely_entry(db: Database, village: Village, entry_id: object, account: object) -> None:
    """One posting of +10 and then its entry: the entry's insert must be refused."""
    params = {
        "e": entry_id,
        "t": _id(db, village.township_id),
        "v": _id(db, village.id),
        "a": account,
        "now": "2026-01-01 00:00:00+00",
    }
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO postings (entry_id, position, township_id, village_id, seq,"
                " account_id, asset, amount, effect, occurred_at, balance_after) VALUES"
                " (:e, 0, :t, :v, 99, :a, 'POINTS', 10, 'posted', :now, 0)"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO entries (id, township_id, village_id, seq, code, memo, metadata,"
                " actor, occurred_at, recorded_at, is_pending, allow_below_floor, posting_count,"
                " prev_hash, hash) VALUES (:e, :t, :v, 99, 'forged', '', '{}', 'x', :now, :now,"
                " false, false, 2, '', '')"
            ),
            params,
        )


def test_postings_cannot_be_added_to_a_booked_entry(db: Database, settings: Settings) -> None:
    village, entries = _seed(db, settings)
    entry = entries[0].entry
    with pytest.raises(DBAPIError, match="booked entry"):
        _raw(
            db,
            "INSERT INTO postings (entry_id, position, township_id, village_id, seq, account_id,"
            " asset, amount, effect, occurred_at, balance_after) VALUES (:e, 9, :t, :v, :s, :a,"
            " 'POINTS', 1, 'posted', :now, 0)",
            e=_id(db, entry.id),
            t=_id(db, village.township_id),
            v=_id(db, village.id),
            s=entry.seq,
            a=_id(db, entry.postings[0].account_id),
            now="2026-01-01 00:00:00+00",
        )


def _tamper(db: Database, sql: str, **params: object) -> None:
    """Change the books as an attacker with database access would: triggers off."""
    with db.write_engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            _run_all(conn, sql, params)
        else:
            names = [
                "entries_refuse_update",
                "entries_refuse_delete",
                "postings_refuse_update",
                "postings_refuse_delete",
            ]
            saved = [
                conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": n}
                ).scalar_one()
                for n in names
            ]
            for name in names:
                conn.execute(text(f"DROP TRIGGER {name}"))
            _run_all(conn, sql, params)
            for statement in saved:
                conn.execute(text(statement))


def _run_all(conn: Connection, sql: str, params: dict[str, object]) -> None:
    for statement in sql.split(";"):
        conn.execute(text(statement), params)


def _verify(db: Database, village: Village) -> ledger.Verification:
    with db.unit_of_work(write=False) as session:
        return ledger.verify_books(session, village.id)


@pytest.mark.tampers
@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE entries SET memo = 'forged' WHERE id = :id", "content does not match its hash"),
        (
            "UPDATE postings SET amount = amount + 1 WHERE entry_id = :id AND amount > 0",
            "postings do not sum to zero",
        ),
        (
            "DELETE FROM postings WHERE entry_id = :id AND position = 1",
            "postings were added or removed",
        ),
        (
            "DELETE FROM postings WHERE entry_id = :id; DELETE FROM entries WHERE id = :id",
            "is missing",
        ),
    ],
)
def test_verify_names_the_first_altered_entry(
    db: Database, settings: Settings, sql: str, reason: str
) -> None:
    village, entries = _seed(db, settings)
    assert _verify(db, village).is_intact
    victim = entries[1].entry
    _tamper(db, sql, id=_id(db, victim.id))
    result = _verify(db, village)
    assert not result.is_intact
    assert result.first_break is not None
    assert result.first_break.seq == victim.seq
    assert reason in result.first_break.reason


@pytest.mark.tampers
def test_verify_catches_a_rehashed_entry_through_the_next_link(
    db: Database, settings: Settings
) -> None:
    """Re-hashing an altered entry does not help: the next entry's prev_hash gives it away."""
    village, entries = _seed(db, settings)
    victim = entries[1].entry
    _tamper(
        db,
        "UPDATE entries SET memo = 'forged', hash = :h WHERE id = :id",
        h="f" * 64,
        id=_id(db, victim.id),
    )
    result = _verify(db, village)
    assert result.first_break is not None
    assert result.first_break.seq == victim.seq  # its own content no longer matches
    _tamper(db, "UPDATE entries SET memo = :m WHERE id = :id", m=victim.memo, id=_id(db, victim.id))
    result = _verify(db, village)
    assert result.first_break is not None
    assert result.first_break.seq in (victim.seq, victim.seq + 1)


@pytest.mark.tampers
def test_verify_catches_a_dropped_last_entry_and_an_edited_balance(
    db: Database, settings: Settings
) -> None:
    village, entries = _seed(db, settings)
    _tamper(
        db,
        "DELETE FROM postings WHERE entry_id = :id; DELETE FROM entries WHERE id = :id",
        id=_id(db, entries[-1].entry.id),
    )
    result = _verify(db, village)
    assert result.first_break is not None
    assert "head" in result.first_break.reason

    village, entries = _seed(db, settings)
    account_id = entries[0].entry.postings[1].account_id
    _tamper(
        db,
        "UPDATE account_balances SET posted = posted + 100 WHERE account_id = :a",
        a=_id(db, account_id),
    )
    result = _verify(db, village)
    assert result.first_break is None
    assert [m.account_id for m in result.balance_mismatches] == [account_id]
