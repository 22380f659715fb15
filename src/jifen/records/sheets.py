"""A clerk's sheet of records (an inspection round's 40 rows), and a dry run of a batch.

A sheet is a CSV (UTF-8, or GB18030 as Excel saves it in China) or XLSX file whose first
non-empty row names its columns in Chinese (see COLUMNS; docs/clerk-sheets.md). Reading
it is pure: it yields one SheetRow per non-empty line, with the line number the clerk
sees. Each row becomes a record request only when its turn comes (`row_request`), so that
a row naming an unknown member is refused on its own, as `sheet_row_invalid`.

A dry run (`preview`) records every row in the request's transaction, row after row (so
a cap counts the rows before it), takes back each refused row at once, and rolls the
whole transaction back at the end: nothing is written. A refused row is taken back by
undoing the transaction's write batch to a mark taken before it; a row refused after it
wrote (which the batch cannot undo) makes the preview start again without it, from a
clean transaction, so that the books' chain head kept in memory never runs ahead of the
database.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from openpyxl import load_workbook
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from jifen.access.cards import member_number
from jifen.db import write_batch
from jifen.ledger import service as ledger
from jifen.models import Household, HouseholdMembership, Member, Record
from jifen.problems import Problem
from jifen.records import errors, service

SHEET_ROWS_MAX = 500
SHEET_BYTES_MAX = 2 * 1024 * 1024
CELL_LENGTH_MAX = 1000

# Column header -> field. English names are accepted too, for sheets made by programs.
COLUMNS: dict[str, str] = {
    "规则": "rule_id",
    "规则编号": "rule_id",
    "rule_id": "rule_id",
    "成员编号": "member_number",
    "编号": "member_number",
    "member_number": "member_number",
    "户号": "household_number",
    "household_number": "household_number",
    "姓名": "name",
    "name": "name",
    "数量": "quantity",
    "quantity": "quantity",
    "日期": "date",
    "date": "date",
    "场次": "occurrence",
    "occurrence": "occurrence",
    "地点": "place",
    "place": "place",
    "照片": "photo",
    "photo": "photo",
    "备注": "note",
    "note": "note",
}
REQUIRED = ("rule_id", "date")
SUBJECT = ("member_number", "household_number", "name")
# The header a field is named by in messages to the clerk.
LABELS = {
    "rule_id": "规则",
    "member_number": "成员编号",
    "household_number": "户号",
    "name": "姓名",
    "quantity": "数量",
    "date": "日期",
    "occurrence": "场次",
    "place": "地点",
    "photo": "照片",
    "note": "备注",
}

Recorded = Literal["booked", "capped", "pending"]
Outcome = Literal["booked", "capped", "pending", "duplicate", "refused", "replayed"]


@dataclass(frozen=True)
class SheetRow:
    line: int  # the row's number in the sheet, as the clerk's spreadsheet shows it
    cells: dict[str, str]  # field -> text, blank cells left out


# --- reading a sheet ----------------------------------------------------------------------


def read_sheet(content: bytes, filename: str | None = None) -> list[SheetRow]:
    """The sheet's rows. Refuses a file that is too large, not CSV or XLSX, without the
    required columns, or with columns nothing reads (they would be ignored silently)."""
    if len(content) > SHEET_BYTES_MAX:
        raise errors.SheetTooLarge(
            f"a sheet may have at most {SHEET_BYTES_MAX} bytes",
            detail_zh=f"表格文件不能超过 {SHEET_BYTES_MAX // 1024 // 1024} MB",
            bytes_max=SHEET_BYTES_MAX,
        )
    if not content.strip():
        raise errors.SheetUnreadable("the sheet is empty", detail_zh="表格是空的")
    is_xlsx = content.startswith(b"PK\x03\x04") or (filename or "").lower().endswith(".xlsx")
    lines = _xlsx_lines(content) if is_xlsx else _csv_lines(content)
    header: list[str] | None = None
    rows: list[SheetRow] = []
    for number, cells in lines:
        texts = [_text(cell) for cell in cells]
        if not any(texts):
            continue
        if header is None:
            header = _fields_of(texts)
            continue
        extra = [t for i, t in enumerate(texts) if t and (i >= len(header) or not header[i])]
        if extra:
            raise errors.SheetUnreadable(
                f"line {number} has values in columns without a header",
                detail_zh=f"第 {number} 行有内容写在了没有表头的列中",
                line=number,
            )
        row = {name: text for name, text in zip(header, texts, strict=False) if name and text}
        if len(rows) == SHEET_ROWS_MAX:
            raise errors.SheetTooLarge(
                f"a sheet may have at most {SHEET_ROWS_MAX} rows",
                detail_zh=f"表格最多 {SHEET_ROWS_MAX} 行",
                rows_max=SHEET_ROWS_MAX,
            )
        rows.append(SheetRow(number, row))
    if header is None:
        raise errors.SheetUnreadable("the sheet has no header row", detail_zh="表格没有表头")
    if not rows:
        raise errors.SheetUnreadable("the sheet has no rows", detail_zh="表格中没有数据行")
    return rows


def _csv_lines(content: bytes) -> list[tuple[int, list[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes every byte string
        raise errors.SheetUnreadable(
            "the CSV file is neither UTF-8 nor GB18030",
            detail_zh="CSV 文件既不是 UTF-8 编码，也不是 GB18030 编码",
        )
    if "\x00" in text:
        raise errors.SheetUnreadable(
            "this is not a CSV or XLSX file", detail_zh="不是 CSV 或 XLSX 文件"
        )
    try:
        return [
            (number, cells)
            for number, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
        ]
    except csv.Error as exc:
        raise errors.SheetUnreadable(
            f"the CSV file cannot be read: {exc}", detail_zh="CSV 文件无法读取"
        ) from None


def _xlsx_lines(content: bytes) -> list[tuple[int, list[Any]]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise errors.SheetUnreadable(
            f"the XLSX file cannot be read: {type(exc).__name__}",
            detail_zh="XLSX 文件无法读取",
        ) from None
    try:
        sheet = book.worksheets[0]
        lines: list[tuple[int, list[Any]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            lines.append((number, list(values)))
            if len(lines) > SHEET_ROWS_MAX * 2 + 100:
                # Blank lines are skipped, but not without end.
                raise errors.SheetTooLarge(
                    f"a sheet may have at most {SHEET_ROWS_MAX} rows",
                    detail_zh=f"表格最多 {SHEET_ROWS_MAX} 行",
                    rows_max=SHEET_ROWS_MAX,
                )
        return lines
    finally:
        book.close()


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell).strip()
    if len(text) > CELL_LENGTH_MAX:
        raise errors.SheetUnreadable(
            f"a cell may hold at most {CELL_LENGTH_MAX} characters",
            detail_zh=f"单元格内容不能超过 {CELL_LENGTH_MAX} 个字",
        )
    return text


def _fields_of(header: list[str]) -> list[str]:
    fields: list[str] = []
    unknown: list[str] = []
    for title in header:
        name = title.replace(" ", "").rstrip("*＊").strip()
        if not name:
            fields.append("")
            continue
        known = COLUMNS.get(name) or COLUMNS.get(name.lower())
        if known is None:
            unknown.append(title)
        fields.append(known or "")
    if unknown:
        raise errors.SheetUnreadable(
            f"unknown columns: {', '.join(unknown)}",
            detail_zh=f"无法识别的表头：{'、'.join(unknown)}",
            unknown_columns=unknown,
            columns=sorted(LABELS.values()),
        )
    missing = [LABELS[f] for f in REQUIRED if f not in fields]
    if not any(f in fields for f in SUBJECT):
        missing.append("成员编号、户号或姓名")
    if missing:
        raise errors.SheetUnreadable(
            f"the sheet lacks the columns: {', '.join(missing)}",
            detail_zh=f"表格缺少表头：{'、'.join(missing)}",
            missing_columns=missing,
        )
    repeated = sorted({LABELS[f] for f in fields if f and fields.count(f) > 1})
    if repeated:
        raise errors.SheetUnreadable(
            f"columns given twice: {', '.join(repeated)}",
            detail_zh=f"表头重复：{'、'.join(repeated)}",
        )
    return fields


# --- a row as a record request ------------------------------------------------------------


@dataclass
class Directory:
    """The village's member numbers, read once per sheet (they are computed from ids)."""

    village_id: uuid.UUID
    by_number: dict[str, list[uuid.UUID]] | None = field(default=None)

    def members_numbered(self, session: Session, number: str) -> list[uuid.UUID]:
        if self.by_number is None:
            self.by_number = {}
            ids = session.execute(
                select(Member.id).where(Member.village_id == self.village_id)
            ).scalars()
            for member_id in ids:
                self.by_number.setdefault(member_number(member_id), []).append(member_id)
        return self.by_number.get(number, [])


def _invalid(row: SheetRow, field_name: str, detail: str, detail_zh: str) -> errors.SheetRowInvalid:
    return errors.SheetRowInvalid(
        f"line {row.line}, {LABELS[field_name]}: {detail}",
        detail_zh=f"第 {row.line} 行「{LABELS[field_name]}」：{detail_zh}",
        line=row.line,
        column=LABELS[field_name],
    )


def row_request(
    session: Session,
    row: SheetRow,
    *,
    village_id: uuid.UUID,
    directory: Directory,
    clock: ledger.Clock,
) -> service.RecordRequest:
    """The record a sheet row asks for, its person found by member number, household
    number and name. Refuses (sheet_row_invalid) what cannot be read or found."""
    cells = row.cells
    rule_id = cells.get("rule_id", "")
    if not rule_id:
        raise _invalid(row, "rule_id", "empty", "未填写")
    on = _day(row, cells.get("date", ""))
    today = clock.local_date(clock.now)
    if on > today:
        raise _invalid(row, "date", f"{on} is after today", f"{on} 晚于今天")
    # Noon of an earlier day; today's rows happened by now.
    occurred_at = clock.now if on == today else datetime.combine(on, time(12), clock.settings.zone)
    try:
        quantity = Decimal(cells.get("quantity", "1"))
    except InvalidOperation:
        raise _invalid(row, "quantity", "not a number", "不是数字") from None
    if not quantity.is_finite():
        raise _invalid(row, "quantity", "not a number", "不是数字")
    member_id, household_id = _person(session, row, village_id, directory, on)
    photo = cells.get("photo")
    return service.RecordRequest(
        village_id=village_id,
        rule_id=rule_id,
        member_id=member_id,
        household_id=household_id,
        quantity=quantity,
        occurred_at=occurred_at,
        occurrence=cells.get("occurrence"),
        place=cells.get("place", "")[:200],
        evidence=[{"kind": "photo", "ref": photo[:500], "note": ""}] if photo else [],
        note=cells.get("note", ""),
    )


def _day(row: SheetRow, text: str) -> date:
    cleaned = text.strip().replace("/", "-").replace(".", "-")
    for unit in ("年", "月"):
        cleaned = cleaned.replace(unit, "-")
    cleaned = cleaned.replace("日", "")
    try:
        year, month, day = (int(part) for part in cleaned.split("-"))
        return date(year, month, day)
    except ValueError:
        raise _invalid(
            row, "date", f"{text!r} is not a day (YYYY-MM-DD)", "日期格式应为 2026-11-26"
        ) from None


def _person(
    session: Session, row: SheetRow, village_id: uuid.UUID, directory: Directory, on: date
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(member, household): a member by number or name (within the household if 户号
    is given), or a household alone (a finding against the household)."""
    cells = row.cells
    number, name = cells.get("member_number"), cells.get("name")
    household_number = cells.get("household_number")
    household_id: uuid.UUID | None = None
    if household_number:
        household_id = session.execute(
            select(Household.id).where(
                Household.village_id == village_id, Household.number == household_number
            )
        ).scalar_one_or_none()
        if household_id is None:
            raise _invalid(row, "household_number", "no such household", "本村没有这个户号")
    if number:
        ids = directory.members_numbered(session, number.zfill(8) if number.isdigit() else number)
        if not ids:
            raise _invalid(row, "member_number", "no such member", "本村没有这个成员编号")
        if len(ids) > 1:
            raise _invalid(
                row, "member_number", "names several members", "对应多名村民，请改用户号和姓名"
            )
        member = session.get(Member, ids[0])
        assert member is not None
        if name and member.name != name:
            raise _invalid(
                row, "name", "is not the name of the member with this number", "与成员编号不符"
            )
        # A 户号 given with it is checked by the charter's own subject check.
        return member.id, household_id
    if name:
        query = select(Member.id).where(Member.village_id == village_id, Member.name == name)
        if household_id is not None:
            query = query.join(
                HouseholdMembership,
                and_(
                    HouseholdMembership.member_id == Member.id,
                    HouseholdMembership.household_id == household_id,
                    HouseholdMembership.joined_on <= on,
                    or_(HouseholdMembership.left_on.is_(None), HouseholdMembership.left_on > on),
                ),
            )
        ids = list(session.execute(query.limit(2)).scalars())
        if not ids:
            raise _invalid(row, "name", "no such member", "没有找到此人（请核对姓名与户号）")
        if len(ids) > 1:
            raise _invalid(
                row,
                "name",
                "names several members: add 户号 or 成员编号",
                "同名多人，请填写户号或成员编号",
            )
        return ids[0], household_id
    return None, household_id


# --- a dry run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewItem:
    key: str | None
    line: int | None
    # The record the row asks for, read in the preview's session (it may refuse).
    request: Callable[[Session], service.RecordRequest]
    # Whether an earlier request already did this key (it may refuse: key reused).
    done_before: Callable[[Session], bool]


@dataclass(frozen=True)
class PreviewOutcome:
    outcome: Outcome
    # The record as it would be (its columns: the row itself is rolled back).
    record: dict[str, Any] | None = None
    duplicate_of: str | None = None
    problem: Problem | None = None


def preview(
    session: Session,
    items: Sequence[PreviewItem],
    *,
    recorder: service.Recorder,
    clock: ledger.Clock,
) -> list[PreviewOutcome]:
    """What recording the items in order would do; nothing stays written. The caller's
    transaction is rolled back at the end (and when a refused row cannot be undone)."""
    refused_late: dict[int, Problem] = {}
    while True:
        outcomes = _preview_once(session, items, refused_late, recorder=recorder, clock=clock)
        session.rollback()
        if outcomes is not None:
            return outcomes


def _preview_once(
    session: Session,
    items: Sequence[PreviewItem],
    refused_late: dict[int, Problem],
    *,
    recorder: service.Recorder,
    clock: ledger.Clock,
) -> list[PreviewOutcome] | None:
    outcomes: list[PreviewOutcome] = []
    for index, item in enumerate(items):
        if index in refused_late:
            outcomes.append(PreviewOutcome("refused", problem=refused_late[index]))
            continue
        # Nothing deferred before the mark, so that the row's own reads write nothing.
        session.flush()
        batch = write_batch(session)
        batch.flush()
        mark = batch.mark()
        try:
            if item.done_before(session):
                outcomes.append(PreviewOutcome("replayed"))
                continue
            row = service.record(session, item.request(session), recorder=recorder, clock=clock)
            session.flush()
        except Problem as refusal:
            if not batch.can_undo(mark) or session.deleted:
                # It wrote before it was refused: start again without it.
                refused_late[index] = refusal
                return None
            batch.undo(mark)
            for obj in list(session.new):
                session.expunge(obj)
            for obj in list(session.dirty):
                session.expire(obj)
            if isinstance(refusal, errors.DuplicateRecord):
                outcomes.append(
                    PreviewOutcome(
                        "duplicate",
                        duplicate_of=str(refusal.extra.get("record_id")),
                        problem=refusal,
                    )
                )
            else:
                outcomes.append(PreviewOutcome("refused", problem=refusal))
            continue
        snapshot = {a.key: getattr(row, a.key) for a in Record.__mapper__.column_attrs}
        outcomes.append(PreviewOutcome(outcome_of(row), record=snapshot))
    return outcomes


def outcome_of(row: Record) -> Recorded:
    if row.status == service.PENDING:
        return "pending"
    return "capped" if row.cap is not None else "booked"
