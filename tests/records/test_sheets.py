"""A clerk's sheet of records (CSV or XLSX, Chinese headers) and the dry runs of a sheet
and of a JSON batch: each row its own outcome, nothing written by a dry run, the books'
chain intact after refused rows."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy.orm import Session

from jifen.access.cards import member_number
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.problems import ValidationFailed
from jifen.records import service as records
from jifen.records import sheets
from jifen.records.errors import SheetTooLarge, SheetUnreadable
from jifen.records.service import RecordRequest
from tests.api.helpers import local_noon, local_today, ok, problem
from tests.api.test_charters_api import _balance, _group_leader_role, _key, _publish, _village
from tests.records.world import CLERK, EVENT, World

HEADER = ["规则", "成员编号", "户号", "姓名", "数量", "日期", "场次", "照片", "备注"]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(
    client: TestClient,
    village_id: str,
    content: bytes,
    headers: dict[str, str],
    *,
    preview: bool = False,
    name: str = "巡查.csv",
    **form: str,
) -> Any:
    route = "record-sheet-previews" if preview else "record-sheets"
    return client.post(
        f"/v1/villages/{village_id}/{route}",
        files={"file": (name, content, "application/octet-stream")},
        data=form,
        headers=headers,
    )


@pytest.fixture
def round_(client: TestClient, db: Database) -> dict[str, Any]:
    """清泉村 (household points) with its charter, a member in a numbered household, and
    a clerk's key."""
    village, household_id, member_id = _village(client)
    _group_leader_role(client, village)
    _publish(client, village["id"])
    household = ok(client.get(f"/v1/households/{household_id}"))
    member = ok(client.get(f"/v1/members/{member_id}"))
    yesterday = (local_today(client) - timedelta(days=1)).isoformat()
    return {
        "village": village,
        "household_id": household_id,
        "household_number": household["number"],
        "member_id": member_id,
        "member_name": member["name"],
        "number": member_number(uuid.UUID(member_id)),
        "yesterday": yesterday,
        "clerk": {"Authorization": f"Bearer {_key(db, village, 'village_clerk')}"},
    }


def _mixed_rows(r: dict[str, Any]) -> list[list[str]]:
    day, number = r["yesterday"], r["number"]
    return [
        ["labor_hour", number, "", "", "5", day, "上午", "", "清理水渠"],
        # The member's day cap is 16 points: 10 already, so this one is cut to 6.
        ["labor_hour", number, "", "", "5", day, "下午", "", ""],
        ["labor_hour", number, "", "", "1", day, "上午", "", "重复"],
        ["lane_rubbish", "", r["household_number"], r["member_name"], "", day, "", "", "无照片"],
        ["labor_hour", "", "no-such-户", "", "1", day, "傍晚", "", ""],
        [
            "lane_rubbish",
            "",
            r["household_number"],
            r["member_name"],
            "",
            day,
            "",
            "https://files.example.cn/p/1.jpg",
            "",
        ],
    ]


def _verified(client: TestClient, village_id: str) -> None:
    verification = ok(client.get(f"/v1/villages/{village_id}/verification"))
    assert verification["is_intact"], verification


def test_a_sheet_is_previewed_then_recorded_row_by_row(
    client: TestClient, round_: dict[str, Any]
) -> None:
    village_id, clerk = round_["village"]["id"], round_["clerk"]
    content = _csv(_mixed_rows(round_))
    expected = ["booked", "capped", "duplicate", "refused", "refused", "booked"]

    # The dry run: every row's outcome, nothing written.
    preview = ok(_upload(client, village_id, content, clerk, preview=True, sheet_key="round-1"))
    assert [row["outcome"] for row in preview["rows"]] == expected
    assert [row["line"] for row in preview["rows"]] == [2, 3, 4, 5, 6, 7]
    codes = [(row["problem"] or {}).get("code") for row in preview["rows"]]
    assert codes == [None, None, "duplicate_record", "evidence_missing", "sheet_row_invalid", None]
    assert [(row["record"] or {}).get("points") for row in preview["rows"]] == [
        10,
        6,
        None,
        None,
        None,
        -5,
    ]
    assert preview["counts"] == {"booked": 2, "capped": 1, "duplicate": 1, "refused": 2}
    assert preview["rows"][4]["problem"]["column"] == "户号"
    assert _balance(client, household_id=round_["household_id"]) == {"main": 0}
    records = ok(client.get(f"/v1/villages/{village_id}/records"))
    assert records["items"] == []

    # The real upload: the same outcomes, booked.
    done = ok(_upload(client, village_id, content, clerk, sheet_key="round-1"))
    outcomes = [
        (item["result"] or {}).get("outcome") or item["problem"]["code"] for item in done["items"]
    ]
    assert outcomes == [
        "booked",
        "capped",
        "duplicate",
        "evidence_missing",
        "sheet_row_invalid",
        "booked",
    ]
    assert [item["idempotency_key"] for item in done["items"]][:2] == ["round-1:2", "round-1:3"]
    first = done["items"][0]["result"]["record"]
    assert done["items"][2]["result"]["duplicate_of"] == first["id"]
    assert done["items"][2]["result"]["record"] is None
    assert first["note"] == "清理水渠" and first["member_id"] == round_["member_id"]
    deduction = done["items"][5]["result"]["record"]
    assert deduction["evidence"][0]["ref"] == "https://files.example.cn/p/1.jpg"
    assert _balance(client, household_id=round_["household_id"]) == {
        "main": 10 + 6 - 5,
        "merit": 16,
    }
    _verified(client, village_id)

    # The same sheet again books nothing twice; a preview with its key says so.
    again = ok(_upload(client, village_id, content, clerk, sheet_key="round-1"))
    assert [i["replayed"] for i in again["items"]] == [True, True, True, False, False, True]
    assert _balance(client, household_id=round_["household_id"])["main"] == 11
    repeat = ok(_upload(client, village_id, content, clerk, preview=True, sheet_key="round-1"))
    assert [row["outcome"] for row in repeat["rows"]] == [
        "replayed",
        "replayed",
        "replayed",
        "refused",
        "refused",
        "replayed",
    ]
    _verified(client, village_id)


def test_an_xlsx_sheet_with_excel_dates_and_names(
    client: TestClient, round_: dict[str, Any]
) -> None:
    village_id, clerk = round_["village"]["id"], round_["clerk"]
    day = date.fromisoformat(round_["yesterday"])
    header = ["规则*", "姓名", "数量", "日期", "备注"]
    rows: list[list[Any]] = [
        ["labor_hour", round_["member_name"], 2, datetime(day.year, day.month, day.day), "修路"],
        [None, None, None, None, None],  # a blank line is skipped
        ["labor_hour", "查无此人", 1.5, day.isoformat(), ""],
    ]
    content = _xlsx(rows, header)
    done = ok(_upload(client, village_id, content, clerk, name="巡查.xlsx", sheet_key="x-1"))
    first, second = done["items"]
    assert first["result"]["outcome"] == "booked" and first["result"]["line"] == 2
    assert first["result"]["record"]["points"] == 4
    assert first["result"]["record"]["occurred_on"] == day.isoformat()
    assert second["problem"]["code"] == "sheet_row_invalid" and second["problem"]["line"] == 4
    _verified(client, village_id)


def test_a_json_batch_is_previewed_without_writing(
    client: TestClient, round_: dict[str, Any]
) -> None:
    village_id, clerk = round_["village"]["id"], round_["clerk"]
    yesterday = local_noon(client, date.fromisoformat(round_["yesterday"]))
    labor = {"rule_id": "labor_hour", "member_id": round_["member_id"], "occurred_at": yesterday}
    items = [
        {**labor, "idempotency_key": "j-1", "quantity": "5", "occurrence": "morning"},
        {**labor, "idempotency_key": "j-2", "quantity": "5", "occurrence": "afternoon"},
        {**labor, "idempotency_key": "j-3", "quantity": "1", "occurrence": "morning"},
        {**labor, "idempotency_key": "j-4", "rule_id": "no_such_rule"},
    ]
    url = f"/v1/villages/{village_id}/record-batch-previews"
    preview = ok(client.post(url, json={"items": items}, headers=clerk))
    assert [r["outcome"] for r in preview["rows"]] == ["booked", "capped", "duplicate", "refused"]
    assert preview["rows"][3]["problem"]["code"] == "unknown_rule"
    assert [r["idempotency_key"] for r in preview["rows"]] == ["j-1", "j-2", "j-3", "j-4"]
    assert preview["rows"][3]["problem"]["detail"].endswith("has no rule 'no_such_rule'")
    # A refused row reads in the caller's language, as a refused request does.
    zh = clerk | {"Accept-Language": "zh-CN"}
    in_chinese = ok(client.post(url, json={"items": items}, headers=zh))["rows"][3]["problem"]
    assert in_chinese["title"] == "生效的章程版本中没有该条规则"
    assert in_chinese["detail"].endswith("版章程中没有规则 no_such_rule")
    atomic = problem(
        client.post(url, json={"items": items, "atomic": True}, headers=zh),
        422,
        "validation_failed",
    )
    assert atomic["detail"] == "试运行会列出每一项的结果：请不要填写 atomic"
    assert _balance(client, household_id=round_["household_id"]) == {"main": 0}
    problem(
        client.post(url, json={"items": items, "atomic": True}, headers=clerk),
        422,
        "validation_failed",
    )

    # Recorded for real, the first two show as done before in a new dry run.
    batch = f"/v1/villages/{village_id}/record-batches"
    ok(client.post(batch, json={"items": items[:2]}, headers=clerk))
    again = ok(client.post(url, json={"items": items}, headers=clerk))
    assert [r["outcome"] for r in again["rows"]] == ["replayed", "replayed", "duplicate", "refused"]
    assert _balance(client, household_id=round_["household_id"])["main"] == 16
    _verified(client, village_id)


def test_a_sheet_that_cannot_be_read_is_refused_whole(
    client: TestClient, round_: dict[str, Any]
) -> None:
    village_id, clerk = round_["village"]["id"], round_["clerk"]
    row = ["labor_hour", round_["number"], "", "", "1", round_["yesterday"], "", "", ""]
    refused = problem(
        _upload(client, village_id, _csv([row], [*HEADER[:-1], "颜色"]), clerk, sheet_key="k"),
        422,
        "sheet_unreadable",
    )
    assert refused["unknown_columns"] == ["颜色"]
    refused = problem(
        _upload(client, village_id, _csv([["1"]], ["姓名"]), clerk, sheet_key="k"),
        422,
        "sheet_unreadable",
    )
    assert set(refused["missing_columns"]) == {"规则", "日期"}
    problem(
        _upload(client, village_id, b"\x00\x01\x02binary", clerk, preview=True),
        422,
        "sheet_unreadable",
    )
    problem(
        _upload(client, village_id, _csv([row] * 501), clerk, sheet_key="k"),
        413,
        "sheet_too_large",
    )
    # A sheet needs its key; nothing was recorded by any of these.
    problem(_upload(client, village_id, _csv([row]), clerk), 422, "validation_failed")
    assert ok(client.get(f"/v1/villages/{village_id}/records"))["items"] == []


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", SheetUnreadable),
        (b"\xef\xbb\xbf\xe8\xa7\x84\xe5\x88\x99,\xe6\x97\xa5\xe6\x9c\x9f\n", SheetUnreadable),
        (b"x" * (sheets.SHEET_BYTES_MAX + 1), SheetTooLarge),
        (b"PK\x03\x04 not really a zip", SheetUnreadable),
    ],
)
def test_sheet_refusals_are_problems_not_crashes(content: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        sheets.read_sheet(content)


def test_gb18030_csv_as_excel_saves_it_in_china() -> None:
    text = "规则,姓名,日期,数量\nlabor_hour,王秀英,2026-11-20,2\n\n"
    rows = sheets.read_sheet(text.encode("gb18030"), "巡查.csv")
    assert rows == [
        sheets.SheetRow(
            2, {"rule_id": "labor_hour", "name": "王秀英", "date": "2026-11-20", "quantity": "2"}
        )
    ]


def test_a_preview_row_refused_after_it_wrote_is_taken_back_whole(world: World) -> None:
    """A row refused after it wrote cannot be undone in memory: the preview starts again
    without it, so the books' chain head it advanced never reaches the next row."""

    def request(occurrence: str) -> Callable[[Session], RecordRequest]:
        return lambda _session: RecordRequest(
            village_id=world.village_id,
            rule_id="public_cleaning",
            member_id=world.a1,
            household_id=None,
            quantity=Decimal(1),
            occurred_at=EVENT,
            occurrence=occurrence,
        )

    def writes_then_refuses(session: Session) -> RecordRequest:
        records.record(session, request("late")(session), recorder=CLERK, clock=world.clock())
        raise ValidationFailed("refused after it wrote")

    def never(_session: Session) -> bool:
        return False

    items = [
        sheets.PreviewItem("k-1", 2, request("a"), never),
        sheets.PreviewItem("k-2", 3, writes_then_refuses, never),
        sheets.PreviewItem("k-3", 4, request("b"), never),
        sheets.PreviewItem("k-4", 5, request("a"), never),
    ]
    with world.db.unit_of_work() as session:
        outcomes = sheets.preview(session, items, recorder=CLERK, clock=world.clock())
    assert [o.outcome for o in outcomes] == ["booked", "refused", "booked", "duplicate"]
    assert outcomes[1].problem is not None and outcomes[1].problem.code == "validation_failed"
    assert [o.record["points"] for o in outcomes[:1] + outcomes[2:3] if o.record] == [3, 3]
    assert world.household_points(world.household_a) == 0

    world.record("public_cleaning", world.a1, occurrence="c")
    assert world.household_points(world.household_a) == 3
    with world.db.unit_of_work(write=False) as session:
        assert ledger.verify_books(session, world.village_id).is_intact
