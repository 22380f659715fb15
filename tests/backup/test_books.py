"""`jifen export` / `jifen import`: the books round-trip byte for byte, and an altered
file is refused whole, naming its first failing line."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jifen.backup import books
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.canonical import canonical_json, sha256_hex
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import (
    AccountBalance,
    ApiKey,
    Book,
    Entry,
    Township,
    Village,
)
from tests.factories import (
    account_of,
    award,
    clock,
    make_goods,
    make_household,
    make_member,
    make_organisation,
    make_sale,
    make_township,
    make_village,
)

JIFEN = [sys.executable, "-m", "jifen"]


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run([*JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


def _seed(db: Database, settings: Settings) -> None:
    """Township east with villages a (every kind of entry) and b; township west with c."""
    with db.unit_of_work() as session:
        east = make_township(session, code="east", name="东镇")
        west = make_township(session, code="west", name="西镇")
        shop = make_organisation(session, east.id, name="东镇便民超市")
        make_organisation(session, east.id, name="没有账户的商家")
        a = make_village(session, east, code="a", name="甲村")
        old = make_household(session, a, number="9", name="王家")
        # Numbered below the household it split from: sorted first in the file.
        make_household(session, a, number="10", name="王家二房", split_from_household_id=old.id)
        alice = make_member(session, a, name="王丽", household_id=old.id, is_head=True)
        bob = make_member(session, a, name="王强", phone="13800000000", id_number_tail="1234")
        alice_account = account_of(session, a, AccountKind.MEMBER, alice.id)
        bob_account = account_of(session, a, AccountKind.MEMBER, bob.id)
        shop_account = ledger.open_account(
            session,
            village_id=a.id,
            kind=AccountKind.ORGANISATION,
            organisation_id=shop.id,
            now=clock(settings).now,
        )
        award(session, settings, a, alice_account, 20, details={"record": "r1", "n": 1.5})
        wrong = award(session, settings, a, bob_account, 7, memo="记错了")
        ledger.reverse(
            session, entry_id=wrong.entry.id, actor="clerk", clock=clock(settings), reason="记错"
        )
        award(session, settings, a, shop_account, 3, idempotency_key="k-1")
        held = award(session, settings, a, bob_account, 5, is_pending=True)
        ledger.post_pending(session, entry_id=held.entry.id, actor="clerk", clock=clock(settings))
        voided = award(session, settings, a, bob_account, 4, is_pending=True)
        ledger.void_pending(session, entry_id=voided.entry.id, actor="clerk", clock=clock(settings))
        award(session, settings, a, alice_account, 2, is_pending=True)  # still pending
        goods = make_goods(session, settings, a, stock=3, price_points=6)
        make_sale(session, settings, a, alice, goods)  # a redemption
        b = make_village(session, east, code="b", name="乙村")
        award(
            session,
            settings,
            b,
            account_of(session, b, AccountKind.MEMBER, make_member(session, b).id),
            1,
        )
        c = make_village(session, west, code="c", name="丙村")
        award(
            session,
            settings,
            c,
            account_of(session, c, AccountKind.MEMBER, make_member(session, c).id),
            9,
        )


def _export(db: Database, out: Path, *, township: str | None, village: str | None) -> bytes:
    with db.unit_of_work(write=False) as session:
        scope = books.find_scope(session, township=township, village=village)
        books.export_path(session, scope, out, revision=books.schema_revision(session))
    return out.read_bytes()


def _fresh_url(
    backend: str, database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    """An empty database at head: a new SQLite file, or the PostgreSQL test database
    emptied (its data was exported first)."""
    if backend == "sqlite":
        path = tmp_path / "restored.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    from tests.conftest import _empty_pg

    _empty_pg(database_url)
    return database_url


def _state(url: str) -> dict[str, object]:
    """What must survive: chain heads, balances, entry hashes, per village."""
    database = Database(Settings(database_url=url))
    try:
        with database.unit_of_work(write=False) as session:
            heads = sorted(
                (str(b.village_id), b.last_seq, b.last_hash)
                for b in session.execute(select(Book)).scalars()
            )
            balances = sorted(
                (str(b.account_id), b.posted, b.pending_debits, b.pending_credits, b.last_seq)
                for b in session.execute(select(AccountBalance)).scalars()
            )
            hashes = sorted(session.execute(select(Entry.hash)).scalars())
            for village_id in session.execute(select(Village.id)).scalars():
                assert ledger.verify_books(session, village_id).is_intact
                assert ledger.trial_balance(session, village_id).is_balanced
    finally:
        database.dispose()
    return {"heads": heads, "balances": balances, "hashes": hashes}


def _lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.splitlines()]


def _join(lines: list[dict[str, object]]) -> bytes:
    return b"".join(
        json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for line in lines
    )


def test_a_township_round_trips_byte_for_byte(
    db: Database,
    settings: Settings,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    _seed(db, settings)
    first = _export(db, tmp_path / "east.jsonl", township="east", village=None)
    assert _export(db, tmp_path / "again.jsonl", township="east", village=None) == first
    lines = _lines(first)
    header = lines[0]
    assert header["type"] == "header" and header["format_version"] == 1
    counts = header["counts"]
    assert isinstance(counts, dict)
    assert counts["village"] == 2 and counts["organisation"] == 2
    assert counts["entry"] == sum(1 for line in lines if line["type"] == "entry")
    codes = {line["code"] for line in lines if line["type"] == "entry"}
    assert {"labor_award", "reversal", "supermarket_sale"} <= codes
    assert any(line["type"] == "entry" and line["is_pending"] for line in lines)
    # Nothing of the other township, and no secret of any kind.
    assert "丙村" not in first.decode() and "西镇" not in first.decode()
    assert b"jfk_" not in first and b"secret" not in first
    before = _state(database_url)
    east_heads = [h for h in before["heads"] if h in _heads_of(lines)]  # type: ignore[attr-defined]

    url = _fresh_url(backend, database_url, request, tmp_path)
    loaded = books.load(books.read_lines(tmp_path / "east.jsonl"))
    restored = Database(Settings(database_url=url))
    try:
        with restored.unit_of_work() as session:
            books.write(session, loaded)
        second = _export(restored, tmp_path / "second.jsonl", township="east", village=None)
        with restored.unit_of_work(write=False) as session:
            # No user, key or other township came along.
            assert session.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 0
            assert session.execute(select(Township.code)).scalars().all() == ["east"]
    finally:
        restored.dispose()
    assert second == first
    after = _state(url)
    assert after["heads"] == east_heads
    east_hashes = {line["hash"] for line in lines if line["type"] == "entry"}
    assert set(after["hashes"]) == east_hashes  # type: ignore[call-overload]


def _heads_of(lines: list[dict[str, object]]) -> list[tuple[str, object, object]]:
    return [
        (str(line["village_id"]), line["last_seq"], line["last_hash"])
        for line in lines
        if line["type"] == "books"
    ]


def test_the_cli_exports_one_village_and_imports_it_into_an_empty_database(
    db: Database,
    settings: Settings,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    _seed(db, settings)
    out = tmp_path / "a.jsonl"
    exported = _jifen(database_url, "export", "--village", "a", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[0] == "[1/1] a 甲村: 12 entries"
    lines = _lines(out.read_bytes())
    assert lines[0]["scope"] == {"township": "east", "village": "a"}
    # Only the organisation its accounts name.
    assert [line["name"] for line in lines if line["type"] == "organisation"] == ["东镇便民超市"]
    again = _jifen(database_url, "export", "--village", "a", "--out", str(out))
    assert again.returncode == 2 and "not overwritten" in again.stderr

    refused = _jifen(database_url, "import", str(out))
    assert refused.returncode == 1
    assert "not empty" in refused.stderr

    url = _fresh_url(backend, database_url, request, tmp_path)
    imported = _jifen(url, "import", str(out))
    assert imported.returncode == 0, imported.stderr
    verified = _jifen(url, "verify", "--all")
    assert verified.returncode == 0, verified.stdout
    assert "1 of 1 villages intact" in verified.stdout
    second = tmp_path / "a2.jsonl"
    assert _jifen(url, "export", "--village", "a", "--out", str(second)).returncode == 0
    assert second.read_bytes() == out.read_bytes()


def _entries(lines: list[dict[str, object]]) -> list[int]:
    return [i for i, line in enumerate(lines) if line["type"] == "entry"]


def _rehash(entry: dict[str, object]) -> None:
    """What a careful forger does: the entry's own hash made to fit its new content."""
    from jifen.ledger.chain import CHAIN_VERSION

    content = {k: v for k, v in entry.items() if k not in ("type", "hash")}
    postings = content.pop("postings")
    assert isinstance(postings, list)
    content = {
        **{
            k: (v.replace("-", "") if isinstance(v, str) and _is_uuid(v) else v)
            for k, v in content.items()
        },
        "v": CHAIN_VERSION,
        "postings": [
            [
                p["position"],
                p["account_id"].replace("-", ""),
                p["asset"],
                p["amount"],
                p["effect"],
                p["balance_after"],
            ]
            for p in postings
        ],
    }
    entry["hash"] = sha256_hex(canonical_json(content))


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _tamper_amount(lines: list[dict[str, object]]) -> int:
    i = _entries(lines)[0]
    postings = lines[i]["postings"]
    assert isinstance(postings, list)
    postings[0]["amount"] -= 1
    postings[1]["amount"] += 1
    return i + 1


def _tamper_amount_rehashed(lines: list[dict[str, object]]) -> int:
    line_number = _tamper_amount(lines)
    _rehash(lines[line_number - 1])
    return line_number  # balance_after no longer follows from the amounts


def _delete_entry(lines: list[dict[str, object]]) -> int:
    i = _entries(lines)[2]
    del lines[i]
    return i + 1  # the next entry's seq does not follow


def _delete_last_entry(lines: list[dict[str, object]]) -> int:
    """The last entry of village b: no later entry notices, its accounts' balances do."""
    i = _entries(lines)[-1]
    postings = lines[i]["postings"]
    assert isinstance(postings, list)
    accounts = {p["account_id"] for p in postings}
    del lines[i]
    return next(
        n
        for n, line in enumerate(lines, 1)
        if line["type"] == "balance" and line["account_id"] in accounts
    )


def _alter_balance(lines: list[dict[str, object]]) -> int:
    i = next(n for n, line in enumerate(lines) if line["type"] == "balance" and line["posted"])
    lines[i]["posted"] += 100  # type: ignore[operator]
    return i + 1


def _alter_head(lines: list[dict[str, object]]) -> int:
    i = next(n for n, line in enumerate(lines) if line["type"] == "books")
    lines[i]["last_hash"] = "f" * 64
    return i + 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_amount, "does not match its hash"),
        (_tamper_amount_rehashed, "balance_after"),
        (_delete_entry, "expected seq"),
        (_delete_last_entry, "balance of account"),
        (_alter_balance, "balance of account"),
        (_alter_head, "entries are missing or the head was altered"),
    ],
)
def test_an_altered_file_is_refused_whole_naming_the_first_bad_line(
    db: Database,
    settings: Settings,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tamper: object,
    reason: str,
) -> None:
    _seed(db, settings)
    lines = _lines(_export(db, tmp_path / "east.jsonl", township="east", village=None))
    line_number = tamper(lines)  # type: ignore[operator]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_join(lines))
    url = _fresh_url(backend, database_url, request, tmp_path)
    refused = _jifen(url, "import", str(bad))
    assert refused.returncode == 1
    assert f"line {line_number}: " in refused.stderr and reason in refused.stderr, refused.stderr
    restored = Database(Settings(database_url=url))
    try:
        with restored.unit_of_work(write=False) as session:
            assert books.is_empty(session) is None
    finally:
        restored.dispose()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"not json\n", "line 1: not a JSON object"),
        (b'{"type":"township"}\n', "line 1: the first line must be the header"),
        (b'{"type":"header","format":"jifen-books","format_version":2}\n', "format_version"),
        (b"[1, 2]\n", "line 1: not a JSON object"),
    ],
)
def test_input_that_is_not_an_export_is_refused(content: bytes, expected: str) -> None:
    with pytest.raises(books.ImportRefused) as refused:
        books.load(io.BytesIO(content))
    assert expected in str(refused.value)


def test_header_counts_and_order_are_checked(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    _seed(db, settings)
    lines = _lines(_export(db, tmp_path / "a.jsonl", township=None, village="a"))
    counts = lines[0]["counts"]
    assert isinstance(counts, dict)
    counts["member"] += 1
    with pytest.raises(books.ImportRefused, match="header counts 3 member lines, the file has 2"):
        books.load(io.BytesIO(_join(lines)))
    counts["member"] -= 1
    village = next(n for n, line in enumerate(lines) if line["type"] == "village")
    lines.insert(village + 1, dict(lines[1]))
    with pytest.raises(
        books.ImportRefused, match=f"line {village + 2}: a township line after the village"
    ):
        books.load(io.BytesIO(_join(lines)))


def test_an_unknown_field_is_refused_not_dropped(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    _seed(db, settings)
    lines = _lines(_export(db, tmp_path / "a.jsonl", township=None, village="a"))
    member = next(n for n, line in enumerate(lines) if line["type"] == "member")
    lines[member]["wechat_openid"] = "o-123"
    with pytest.raises(books.ImportRefused, match=f"line {member + 1}: member: wechat_openid"):
        books.load(io.BytesIO(_join(lines)))


def test_export_refuses_an_unknown_scope(
    db: Database, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    _seed(db, settings)
    for args in (["--village", "zzz"], ["--township", "nowhere"], []):
        result = _jifen(database_url, "export", *args, "--out", str(tmp_path / "x.jsonl"))
        assert result.returncode == 2, result.stderr
    assert not (tmp_path / "x.jsonl").exists()
