"""A settlement as CSV (the summary) and XLSX (a summary sheet and a sheet per indicator),
with Chinese headers and yuan formats. Both are byte-for-byte reproducible: the workbook's
dates and the zip's timestamps are fixed, not the time of the download."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from jifen.kit.exports import Cell, Sheet, to_csv

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIXED_DOC_TIME = "2000-01-01T00:00:00Z"
_YUAN = "#,##0.00"
WITHHOLDING_HEADERS = ["即付(元)", "暂扣待验收(元)"]


def _yuan(fen: Decimal | int | str | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def summary(result: dict[str, Any]) -> Sheet:
    # With the scheme's withholding, the award's paid-now and withheld parts (what became
    # of the withheld part later is the settlement's `withholdings`, not this frozen file).
    withholding = "withholding" in result
    rows: list[list[Cell]] = []
    for v in result["villages"]:
        rows.append(
            [
                v["code"],
                v["name"],
                "是" if v["eligible"] else "否",
                _dec(v["score"]),
                v["rank"],
                v["tier_label"] or "",
                _yuan(Decimal(v["award_before_caps_fen"]).quantize(Decimal(1))),
                _yuan(v["cap_fen"]),
                _yuan(v["award_fen"]),
                *([_yuan(v["paid_now_fen"]), _yuan(v["withheld_fen"])] if withholding else []),
                v["explanation"],
            ]
        )
    return Sheet(
        title="汇总",
        headers=[
            "村代码",
            "村名",
            "具备资格",
            "综合得分",
            "排名",
            "等次",
            "封顶前奖补(元)",
            "上限(元)",
            "奖补金额(元)",
            *(WITHHOLDING_HEADERS if withholding else []),
            "说明",
        ],
        rows=rows,
        totals=[
            ("奖补资金池(元)", _yuan(result["pool_fen"])),
            ("奖补合计(元)", _yuan(result["total_fen"])),
            ("未分配(元)", _yuan(result["unallocated_fen"])),
            *(
                [
                    ("即付合计(元)", _yuan(result["paid_now_total_fen"])),
                    ("暂扣待验收合计(元)", _yuan(result["withheld_total_fen"])),
                ]
                if withholding
                else []
            ),
        ],
    )


def indicator_sheets(result: dict[str, Any], labels: list[dict[str, str]]) -> list[Sheet]:
    sheets = []
    for indicator in labels:
        indicator_id, label = indicator["id"], indicator["label"]
        rows: list[list[Cell]] = []
        for v in result["villages"]:
            found = next((i for i in v["indicators"] if i["id"] == indicator_id), None)
            rows.append(
                [
                    v["code"],
                    v["name"],
                    Decimal(v["raw"][indicator_id]),
                    _dec(found["normalised"]) if found else None,
                    _dec(found["weight"]) if found else None,
                    _dec(found["contribution"]) if found else None,
                ]
            )
        sheets.append(
            Sheet(
                title=label,
                headers=["村代码", "村名", "原始值", "标准化值", "权重", "得分贡献"],
                rows=rows,
            )
        )
    return sheets


def to_settlement_csv(result: dict[str, Any]) -> bytes:
    return to_csv(summary(result))


def to_settlement_xlsx(result: dict[str, Any], labels: list[dict[str, str]]) -> bytes:
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    bold = Font(bold=True)
    money = {"封顶前奖补(元)", "上限(元)", "奖补金额(元)", *WITHHOLDING_HEADERS}
    for sheet in [summary(result), *indicator_sheets(result, labels)]:
        page = book.create_sheet(sheet.title[:31])
        for column, header in enumerate(sheet.headers, 1):
            page.cell(row=1, column=column, value=header).font = bold
        for number, cells in enumerate(sheet.rows, 2):
            for column, value in enumerate(cells, 1):
                cell = page.cell(row=number, column=column, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text from users never runs as a formula
                elif isinstance(value, Decimal):
                    is_money = sheet.headers[column - 1] in money
                    cell.number_format = _YUAN if is_money else "0.0000"
        for offset, (label, value) in enumerate(sheet.totals):
            row = len(sheet.rows) + 3 + offset
            page.cell(row=row, column=1, value=label).font = bold
            page.cell(row=row, column=2, value=value).number_format = _YUAN
        page.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return _fixed(out.getvalue())


def _fixed(content: bytes) -> bytes:
    """The same workbook as the same bytes: fixed document dates and zip timestamps."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + _FIXED_DOC_TIME.encode() + rb"\g<3>",
                    data,
                )
            info = zipfile.ZipInfo(item.filename, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            target.writestr(info, data)
    return out.getvalue()
