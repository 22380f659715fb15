"""The download and chart helpers (jifen.kit.exports, jifen.kit.charts), without a database."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal

import openpyxl
import pytest

from jifen.kit import charts, exports

SHEET = exports.Sheet(
    title="测试：表[1]",
    headers=["商品", "数量", "金额（元）", "时间"],
    rows=[
        ['=HYPERLINK("http://evil")', 3, Decimal("1.50"), datetime(2026, 3, 1, 9, 30)],
        ["-肥皂", -2, Decimal("-0.05"), None],
    ],
    totals=[("合计", Decimal("1.45"))],
)


def test_csv_has_a_bom_and_never_a_formula() -> None:
    content = exports.to_csv(SHEET)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [
        ["商品", "数量", "金额（元）", "时间"],
        ['\'=HYPERLINK("http://evil")', "3", "1.50", "2026-03-01 09:30:00"],
        ["'-肥皂", "-2", "-0.05", ""],
        [],
        ["合计", "1.45"],
    ]


def test_xlsx_keeps_text_as_text_and_numbers_as_numbers() -> None:
    book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(SHEET)))
    page = book.worksheets[0]
    assert page.title == "测试：表_1_"
    rows = [list(row) for row in page.iter_rows(values_only=True)]
    assert rows[0] == ["商品", "数量", "金额（元）", "时间"]
    assert rows[1] == ['=HYPERLINK("http://evil")', 3, 1.5, datetime(2026, 3, 1, 9, 30)]
    assert page["A2"].data_type == "s"  # shown, never evaluated
    assert rows[2][:3] == ["-肥皂", -2, -0.05]
    assert rows[4][:2] == ["合计", 1.45]
    assert page["A1"].font.bold and page.freeze_panes == "A2"


def test_a_download_names_its_file_in_chinese_with_an_ascii_fallback() -> None:
    made = exports.render(SHEET, "xlsx", "对账-2026")
    assert made.filename == "对账-2026.xlsx"
    assert made.media_type.startswith("application/vnd.openxmlformats")
    assert made.content_disposition == (
        "attachment; filename=\"__-2026.xlsx\"; filename*=UTF-8''%E5%AF%B9%E8%B4%A6-2026.xlsx"
    )


def test_sheets_are_bounded() -> None:
    with pytest.raises(exports.TooManyRows):
        exports.Sheet("t", ["a"], [[1]] * (exports.EXPORT_ROWS_MAX + 1))
    with pytest.raises(ValueError, match="2 cells for 1 headers"):
        exports.Sheet("t", ["a"], [[1, 2]])


def test_a_bar_chart_is_a_standalone_svg() -> None:
    svg = charts.bar_chart_svg(
        title="对账",
        y_title="金额（元）",
        unit=" 元",
        bars=[
            charts.Bar("基金余额", Decimal("145.00")),
            charts.Bar("积分兑付义务", Decimal("131.50"), is_negative=True),
            charts.Bar("差额", Decimal("-3.25")),
        ],
    )
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    assert "基金余额" in text and "145.00 元" in text and "-3.25 元" in text
    assert b"pygal.js" not in svg  # loads nothing from elsewhere
    assert svg.count(charts.NEGATIVE.encode()) >= 2
    with pytest.raises(ValueError):
        charts.bar_chart_svg(title="t", y_title="y", bars=[])
