"""`jifen import-sheet`: a village's paper ledger (XLSX/CSV) moved onto jifen."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from jifen.cli import app
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import AuditEvent, Entry, Household, Member, Village
from jifen.onboarding.sheet import SheetUnreadable, parse
from tests.factories import make_household, make_village

HEADER = ["户号", "户主", "姓名", "手机号", "积分余额", "累计积分"]
GOOD = [
    ["001", "张三", "张三", "13900000001", 120, 300],
    ["001", "张三", "李四", None, None, None],
    ["002", "王五", None, None, 45.0, "45"],
    ["003", "赵六", "赵六", 13900000003, 0, 80],
]


def _xlsx(
    path: Path, rows: list[list[Any]], title: str | None = "清泉村积分台账（2026年10月）"
) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _csv(path: Path, rows: list[list[Any]], encoding: str) -> Path:
    lines = [",".join(HEADER)] + [
        ",".join("" if cell is None else str(cell) for cell in row) for row in rows
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def village(db: Database) -> Village:
    with db.unit_of_work() as session:
        return make_village(session, code="qingquan", name="清泉村")


def _run(database_url: str, *args: str) -> Any:
    result = CliRunner().invoke(
        app, ["import-sheet", *args], env={"JIFEN_DATABASE_URL": database_url}
    )
    return result


def _count(db: Database, model: Any) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _balances(db: Database, village: Village, kind: AccountKind, number: str) -> tuple[int, int]:
    with db.unit_of_work(write=False) as session:
        household = session.execute(
            select(Household).where(Household.village_id == village.id, Household.number == number)
        ).scalar_one()
        owner = household.id
        if kind is AccountKind.MEMBER:
            raise AssertionError("use _member_balances")
        return _track_balances(session, village, kind, owner)


def _track_balances(
    session: Any, village: Village, kind: AccountKind, owner: Any
) -> tuple[int, int]:
    found = []
    for category in ("main", "merit"):
        account = ledger.find_account_id(
            session, village_id=village.id, kind=kind, owner_id=owner, category=category
        )
        found.append(0 if account is None else ledger.get_balance(session, account).posted)
    return found[0], found[1]


def test_a_household_sheet_imports_once_with_its_digest_and_rows(
    db: Database, village: Village, database_url: str, tmp_path: Path
) -> None:
    path = _xlsx(tmp_path / "清泉村台账.xlsx", GOOD)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    dry = _run(database_url, str(path), "--village", "qingquan", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"sha256 {digest}: 4 rows read, 0 refused" in dry.output
    assert "new household 户号 001 张三 (row 3)" in dry.output
    assert "new member 李四 of 户号 001 (row 4)" in dry.output
    assert "new member 王五 of 户号 002 (户主) (row 5)" in dry.output
    assert "new opening 户号 001 张三: 积分余额 120, 累计积分 300 (row 3)" in dry.output
    assert "new opening 户号 003 赵六: 积分余额 0, 累计积分 80 (row 6)" in dry.output
    assert "dry run: nothing written" in dry.output
    assert _count(db, Household) == 0 and _count(db, Entry) == 0

    done = _run(database_url, str(path), "--village", "qingquan", "--operator", "村会计 周")
    assert done.exit_code == 0, done.output
    assert "imported: 3 households, 4 members, 3 opening entries" in done.output
    assert _balances(db, village, AccountKind.HOUSEHOLD, "001") == (120, 300)
    assert _balances(db, village, AccountKind.HOUSEHOLD, "002") == (45, 45)
    assert _balances(db, village, AccountKind.HOUSEHOLD, "003") == (0, 80)
    with db.unit_of_work(write=False) as session:
        # Points came from the village's issuance accounts: 120 + 45 = 165 spendable,
        # 300 + 45 + 80 = 425 merit.
        for category, expected in (("general", -165), ("merit", -425)):
            issuance = ledger.find_account_id(
                session, village_id=village.id, kind=AccountKind.ISSUANCE, category=category
            )
            assert issuance is not None
            assert ledger.get_balance(session, issuance).posted == expected
        entries = session.execute(select(Entry).order_by(Entry.seq)).scalars().all()
        assert [e.code for e in entries] == ["opening_balance"] * 3
        assert [(e.details["row"], e.details["points"], e.details["merit"]) for e in entries] == [
            (3, 120, 300),
            (5, 45, 45),
            (6, 0, 80),
        ]
        assert {e.details["sheet_sha256"] for e in entries} == {digest}
        assert [e.posting_count for e in entries] == [4, 4, 2]
        head = session.execute(select(Member).where(Member.name == "张三")).scalar_one()
        assert head.phone == "13900000001"
        audit = session.execute(select(AuditEvent)).scalars().all()
        assert len(audit) == 1
        assert audit[0].action == "import_sheet" and "村会计 周" in audit[0].principal_name
        assert audit[0].target["sheet_sha256"] == digest
        assert audit[0].target["openings_booked"] == 3

    again = _run(database_url, str(path), "--village", "qingquan")
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert "already there: opening 户号 001 张三" in again.output
    assert _count(db, Entry) == 3 and _count(db, Member) == 4 and _count(db, AuditEvent) == 1

    # Another sheet saying otherwise of a holder already opened is refused, whole.
    changed = _xlsx(tmp_path / "改过的.xlsx", [*GOOD[:3], ["003", "赵六", "赵六", None, 5, 80]])
    refused = _run(database_url, str(changed), "--village", "qingquan")
    assert refused.exit_code == 1
    assert "row 6 refused: 户号 003 赵六 已开账：积分余额 0，累计积分 80 (opened already" in (
        refused.output
    )
    assert _count(db, Entry) == 3


def test_bad_rows_are_listed_and_nothing_is_written(
    db: Database, village: Village, database_url: str, tmp_path: Path
) -> None:
    rows = [
        *GOOD,
        [None, None, None, None, None, None],  # blank: skipped, not refused
        ["004", "孙七", "孙七", "13900000004", "十二", 1],
        [None, "周八", "周八", None, 10, 10],
        ["005", "吴九", "吴九", None, -5, 0],
        ["006", "郑十", "郑十", None, 12.5, 0],
        ["001", "钱一", "钱一", None, 3, 3],
        ["002", "王五", "王五", None, None, None],
        ["007", "冯二", "冯二", "call me", 1, 1],
        ["001", "张三", "李四", None, 7, None],
    ]
    path = _xlsx(tmp_path / "bad.xlsx", rows)
    result = _run(database_url, str(path), "--village", "qingquan", "--dry-run")
    assert result.exit_code == 1
    refusals = [line for line in result.output.splitlines() if " refused: " in line]
    assert refusals == [
        "row 8 refused: 积分余额 '十二' 不是数字 (not a number)",
        "row 9 refused: 户号为空 (户号 is empty)",
        "row 10 refused: 积分余额 -5 是负数，欠分请在导入后以扣分记录 "
        "(negative: open debts by a deduction after the import)",
        "row 11 refused: 积分余额 12.5 不是整数 (not a whole number of points)",
        "row 12 refused: 户主 钱一 与第 3 行的 张三 不一致 (differs from 张三 on row 3)",
        "row 13 refused: 户号 002 的 王五 已在第 5 行 (on row 5 too)",
        "row 14 refused: 手机号 'call me' 不是电话号码 (not a phone number)",
        "row 15 refused: 户号 001 的 李四 已在第 4 行 (on row 4 too)",
    ]
    assert "nothing imported: 8 rows refused" in result.output
    # Without --dry-run: the same refusal, and still nothing written.
    assert _run(database_url, str(path), "--village", "qingquan").exit_code == 1
    assert _count(db, Household) == 0 and _count(db, Member) == 0 and _count(db, Entry) == 0


def test_a_household_holds_one_balance(
    db: Database, village: Village, database_url: str, tmp_path: Path
) -> None:
    path = _xlsx(tmp_path / "twice.xlsx", [GOOD[0], ["001", "张三", "李四", None, 5, None]])
    result = _run(database_url, str(path), "--village", "qingquan")
    assert result.exit_code == 1
    assert (
        "row 4 refused: 户号 001 的余额已在第 3 行，一户只有一个余额 "
        "(the household's balances are on row 3 already)" in result.output
    )
    # Per member, the same sheet is two holders: 张三 120/300 and 李四 5/0.
    members = _run(database_url, str(path), "--village", "qingquan", "--holder", "member")
    assert members.exit_code == 0, members.output
    assert "imported: 1 households, 2 members, 2 opening entries" in members.output
    with db.unit_of_work(write=False) as session:
        for name, expected in (("张三", (120, 300)), ("李四", (5, 0))):
            member = session.execute(select(Member).where(Member.name == name)).scalar_one()
            assert _track_balances(session, village, AccountKind.MEMBER, member.id) == expected


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_a_csv_sheet_as_excel_saves_it(
    db: Database, village: Village, database_url: str, tmp_path: Path, encoding: str
) -> None:
    path = _csv(tmp_path / "台账.csv", GOOD, encoding)
    result = _run(database_url, str(path), "--village", "qingquan")
    assert result.exit_code == 0, result.output
    assert "imported: 3 households, 4 members, 3 opening entries" in result.output
    assert _balances(db, village, AccountKind.HOUSEHOLD, "002") == (45, 45)


def test_unreadable_files_and_wrong_options_are_refused(
    db: Database, village: Village, database_url: str, tmp_path: Path
) -> None:
    with pytest.raises(SheetUnreadable, match="no column 户主"):
        parse("户号,姓名,积分余额\r\n1,张三,5\r\n".encode(), filename="x.csv")
    with pytest.raises(SheetUnreadable, match="neither 积分余额 nor 累计积分"):
        parse("户号,户主\r\n1,张三\r\n".encode(), filename="x.csv")
    with pytest.raises(SheetUnreadable, match="header naming 户号"):
        parse("名单\r\n张三\r\n".encode(), filename="x.csv")
    with pytest.raises(SheetUnreadable, match="not a readable XLSX"):
        parse(b"PK\x03\x04 broken", filename="x.xlsx")
    path = _xlsx(tmp_path / "ok.xlsx", GOOD, title=None)
    missing = _run(database_url, str(path), "--village", "qingquan", "--sheet", "Sheet9")
    assert missing.exit_code == 2 and "no worksheet 'Sheet9'" in missing.output
    assert _run(database_url, str(path), "--village", "nowhere").exit_code == 2
    assert _run(database_url, str(path), "--village", "qingquan", "--holder", "x").exit_code == 2
    assert _count(db, Entry) == 0


def test_a_household_number_taken_by_another_head_is_refused(
    db: Database, village: Village, database_url: str, tmp_path: Path
) -> None:
    with db.unit_of_work() as session:
        make_household(session, village, number="002", name="王大")
    path = _xlsx(tmp_path / "taken.xlsx", GOOD)
    result = _run(database_url, str(path), "--village", "qingquan")
    assert result.exit_code == 1
    assert (
        "row 5 refused: 户号 002 在系统中的户主是 王大，不是 王五 "
        "(户号 002 is 王大's in jifen, not 王五's)" in result.output
    )
    assert _count(db, Household) == 1 and _count(db, Entry) == 0
