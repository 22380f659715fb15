"""Reading a village's points sheet: pure, no database.

The header row is the first of the first ten rows that names 户号 (villages' sheets
often open with a title row). Columns are found by their Chinese headers:

| column | headers accepted | meaning |
|---|---|---|
| household | 户号, 户编号 | the household's number (required) |
| head | 户主, 户主姓名 | the head of the household, also the household's name (required) |
| name | 姓名, 成员姓名 | a member of the household (default: the head) |
| phone | 手机号, 手机, 联系电话, 电话 | the member's phone number |
| points | 积分余额, 可用积分, 当前积分 | the spendable balance to open with |
| merit | 累计积分, 荣誉积分 | the merit score (the accumulated track) to open with |
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

HEADERS: dict[str, tuple[str, ...]] = {
    "household": ("户号", "户编号"),
    "head": ("户主", "户主姓名"),
    "name": ("姓名", "成员姓名"),
    "phone": ("手机号", "手机", "联系电话", "电话"),
    "points": ("积分余额", "可用积分", "当前积分"),
    "merit": ("累计积分", "荣誉积分"),
}
REQUIRED = ("household", "head")
HEADER_SEARCH_ROWS = 10
ROWS_MAX = 20_000
NAME_LENGTH_MAX = 200
NUMBER_LENGTH_MAX = 64
# A whole number of points, as a sheet holds it: 120, 120.0, "120", "１２０", "1,200".
POINTS_MAX = 10_000_000
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")


class SheetUnreadable(ValueError):
    """The file as a whole cannot be read (not XLSX/CSV, no header row, no 户号 column)."""


@dataclass(frozen=True)
class Row:
    """One understood row (its number as the sheet shows it, from 1)."""

    number: int
    household: str
    head: str
    name: str
    phone: str | None
    points: int | None
    merit: int | None


@dataclass(frozen=True)
class Refusal:
    number: int
    reason: str


@dataclass(frozen=True)
class Sheet:
    filename: str
    sha256: str
    rows: tuple[Row, ...]
    refusals: tuple[Refusal, ...]
    columns: tuple[str, ...]


def read(path: Path, *, sheet_name: str | None = None) -> Sheet:
    data = path.read_bytes()
    return parse(data, filename=path.name, sheet_name=sheet_name)


def parse(data: bytes, *, filename: str, sheet_name: str | None = None) -> Sheet:
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        grid = _xlsx_grid(data, sheet_name)
    else:
        if sheet_name is not None:
            raise SheetUnreadable("--sheet names a worksheet: only an XLSX file has them")
        grid = _csv_grid(data)
    header_at, columns = _header(grid)
    rows: list[Row] = []
    refusals: list[Refusal] = []
    for index in range(header_at + 1, len(grid)):
        number = index + 1
        cells = grid[index]
        if all(_text(cell) == "" for cell in cells):
            continue
        if len(rows) + len(refusals) >= ROWS_MAX:
            raise SheetUnreadable(f"more than {ROWS_MAX} rows: split the sheet")
        values = {field: cells[col] if col < len(cells) else None for field, col in columns.items()}
        row, reason = _row(number, values)
        if row is None:
            refusals.append(Refusal(number, reason))
        else:
            rows.append(row)
    _check_households(rows, refusals)
    return Sheet(
        filename=filename,
        sha256=digest,
        rows=tuple(row for row in rows if row.number not in {r.number for r in refusals}),
        refusals=tuple(sorted(refusals, key=lambda r: r.number)),
        columns=tuple(HEADERS[field][0] for field in columns),
    )


def _xlsx_grid(data: bytes, sheet_name: str | None) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SheetUnreadable(f"not a readable XLSX workbook: {exc}") from None
    try:
        if sheet_name is not None:
            if sheet_name not in workbook.sheetnames:
                raise SheetUnreadable(
                    f"no worksheet {sheet_name!r}; the workbook has {workbook.sheetnames}"
                )
            worksheet = workbook[sheet_name]
        else:
            worksheet = workbook.worksheets[0]
        grid = []
        for values in worksheet.iter_rows(values_only=True):
            grid.append(list(values))
            if len(grid) > ROWS_MAX + HEADER_SEARCH_ROWS + 1:
                raise SheetUnreadable(f"more than {ROWS_MAX} rows: split the sheet")
        return grid
    finally:
        workbook.close()


def _csv_grid(data: bytes) -> list[list[Any]]:
    # Excel in China saves CSV as GB18030 (GBK) unless told otherwise.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetUnreadable("the CSV is neither UTF-8 nor GB18030 text")
    if "\x00" in text:
        raise SheetUnreadable("not a CSV file (it holds NUL characters)")
    return [list(row) for row in csv.reader(io.StringIO(text))]


def _header(grid: list[list[Any]]) -> tuple[int, dict[str, int]]:
    for index, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        labels = [_text(cell).replace(" ", "") for cell in cells]
        if not any(label in HEADERS["household"] for label in labels):
            continue
        columns: dict[str, int] = {}
        for field, names in HEADERS.items():
            found = [col for col, label in enumerate(labels) if label in names]
            if len(found) > 1:
                raise SheetUnreadable(f"the header row {index + 1} names {names[0]} twice")
            if found:
                columns[field] = found[0]
        missing = [HEADERS[field][0] for field in REQUIRED if field not in columns]
        if missing:
            raise SheetUnreadable(f"the header row {index + 1} has no column {', '.join(missing)}")
        if "points" not in columns and "merit" not in columns:
            raise SheetUnreadable(
                f"the header row {index + 1} has neither 积分余额 nor 累计积分: no balance to open"
            )
        return index, columns
    raise SheetUnreadable(f"none of the first {HEADER_SEARCH_ROWS} rows is a header naming 户号")


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return unicodedata.normalize("NFKC", str(cell)).strip()


def _row(number: int, values: dict[str, Any]) -> tuple[Row | None, str]:
    household = _text(values.get("household"))
    head = _text(values.get("head"))
    name = _text(values.get("name")) or head
    if not household:
        return None, "户号为空 (户号 is empty)"
    if len(household) > NUMBER_LENGTH_MAX:
        return (
            None,
            f"户号超过 {NUMBER_LENGTH_MAX} 个字符 (longer than {NUMBER_LENGTH_MAX} characters)",
        )
    if not head:
        return None, "户主为空 (户主 is empty)"
    for label, value in (("户主", head), ("姓名", name)):
        if len(value) > NAME_LENGTH_MAX:
            return (
                None,
                f"{label}超过 {NAME_LENGTH_MAX} 个字符 (longer than {NAME_LENGTH_MAX} characters)",
            )
        if any(unicodedata.category(ch).startswith("C") for ch in value):
            return None, f"{label}含控制字符 (holds control characters)"
    phone = _text(values.get("phone")) or None
    if phone is not None and not _PHONE.match(phone):
        return None, f"手机号 {phone!r} 不是电话号码 (not a phone number)"
    amounts: dict[str, int | None] = {}
    for field, label in (("points", "积分余额"), ("merit", "累计积分")):
        amount, reason = _points(values.get(field), label)
        if reason:
            return None, reason
        amounts[field] = amount
    return (
        Row(
            number=number,
            household=household,
            head=head,
            name=name,
            phone=phone,
            points=amounts["points"],
            merit=amounts["merit"],
        ),
        "",
    )


def _points(cell: Any, label: str) -> tuple[int | None, str]:
    text = _text(cell).replace(",", "")
    if text == "":
        return None, ""
    if isinstance(cell, bool):
        return None, f"{label} {cell!r} 不是数字 (not a number)"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{label} {text!r} 不是数字 (not a number)"
    if not value.is_finite() or value != value.to_integral_value():
        return None, f"{label} {text} 不是整数 (not a whole number of points)"
    if value < 0:
        return None, (
            f"{label} {text} 是负数，欠分请在导入后以扣分记录 "
            "(negative: open debts by a deduction after the import)"
        )
    if value > POINTS_MAX:
        return None, f"{label} {text} 超过 {POINTS_MAX} (more than {POINTS_MAX})"
    return int(value), ""


def _check_households(rows: list[Row], refusals: list[Refusal]) -> None:
    """Rows of one household agree on its head, and a member appears once."""
    heads: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        head, first = heads.setdefault(row.household, (row.head, row.number))
        if head != row.head:
            refusals.append(
                Refusal(
                    row.number,
                    f"户主 {row.head} 与第 {first} 行的 {head} 不一致 "
                    f"(differs from {head} on row {first})",
                )
            )
            continue
        key = (row.household, row.name)
        if key in seen:
            refusals.append(
                Refusal(
                    row.number,
                    f"户号 {row.household} 的 {row.name} 已在第 {seen[key]} 行 "
                    f"(on row {seen[key]} too)",
                )
            )
            continue
        seen[key] = row.number
