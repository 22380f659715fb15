"""Tables for people: CSV that Excel opens in Chinese, and XLSX.

A `Sheet` is a header row, data rows and, below them, a few labelled totals (合计). The
header row is always the first row, so a sheet reads back into a spreadsheet or a script
as a plain table. CSV is UTF-8 with a byte order mark: without it, Excel on a Chinese
Windows reads the file as GBK and shows mojibake.

Text that a spreadsheet would take for a formula (=, +, -, @ first) is written as text:
names of goods and members come from users, and a cell must never run as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

Cell = str | int | Decimal | date | datetime | None
Format = Literal["csv", "xlsx"]

# A download is built in memory: a bound on its rows keeps a request's memory bounded.
EXPORT_ROWS_MAX = 20_000
SHEET_TITLE_MAX = 31  # Excel's limit on a sheet's name

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_COLUMN_WIDTH_MAX = 60


class TooManyRows(ValueError):
    """A sheet with more rows than a download may hold."""


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    # (label, value) lines written below the table, after an empty row.
    totals: Sequence[tuple[str, Cell]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.rows) > EXPORT_ROWS_MAX:
            raise TooManyRows(f"{len(self.rows)} rows; at most {EXPORT_ROWS_MAX} in a download")
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"a row has {len(row)} cells for {len(self.headers)} headers")


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    filename: str

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename)


def render(sheet: Sheet, fmt: Format, filename_stem: str) -> Download:
    content = to_csv(sheet) if fmt == "csv" else to_xlsx(sheet)
    return Download(content, MEDIA_TYPES[fmt], f"{filename_stem}.{fmt}")


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return _inert(value)
    return str(value)


def _inert(text: str) -> str:
    """Text a spreadsheet shows as it is, never evaluates."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(sheet: Sheet) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_text(h) for h in sheet.headers])
    for row in sheet.rows:
        writer.writerow([_text(cell) for cell in row])
    if sheet.totals:
        writer.writerow([])
        for label, value in sheet.totals:
            writer.writerow([_text(label), _text(value)])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(sheet: Sheet) -> bytes:
    book = Workbook()
    page = book.active
    assert page is not None
    page.title = _sheet_title(sheet.title)
    widths = [_width(h) for h in sheet.headers]
    bold = Font(bold=True)
    for column, header in enumerate(sheet.headers, 1):
        _put(page, 1, column, header).font = bold
    for number, row in enumerate(sheet.rows, 2):
        for column, cell in enumerate(row, 1):
            _put(page, number, column, cell)
            widths[column - 1] = max(widths[column - 1], _width(cell))
    if sheet.totals:
        first = len(sheet.rows) + 3
        for offset, (label, value) in enumerate(sheet.totals):
            _put(page, first + offset, 1, label).font = bold
            _put(page, first + offset, 2, value)
    for column, width in enumerate(widths, 1):
        page.column_dimensions[get_column_letter(column)].width = min(width + 2, _COLUMN_WIDTH_MAX)
    page.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _put(page: Any, row: int, column: int, value: Cell) -> Any:
    cell = page.cell(row=row, column=column)
    if isinstance(value, datetime):
        # Spreadsheets have no time zones: the caller gives local times.
        cell.value = value.replace(tzinfo=None)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
    elif isinstance(value, Decimal):
        cell.value = value
        cell.number_format = "0.00"
    elif isinstance(value, str):
        cell.value = value
        # openpyxl takes a leading "=" for a formula: keep every text a text.
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def _width(value: Cell) -> int:
    text = _text(value)
    # A Chinese character takes about two columns of a Latin one.
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title).strip() or "Sheet"
    return cleaned[:SHEET_TITLE_MAX]


def content_disposition(filename: str) -> str:
    """attachment, with an ASCII fallback name and the real (Chinese) one (RFC 6266/5987)."""
    fallback = "".join(
        ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


__all__ = [
    "EXPORT_ROWS_MAX",
    "MEDIA_TYPES",
    "Cell",
    "Download",
    "Format",
    "Sheet",
    "TooManyRows",
    "content_disposition",
    "render",
    "to_csv",
    "to_xlsx",
]
