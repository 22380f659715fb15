"""Allied shops and settlements over HTTP, for the tests of this package."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import openpyxl
from fastapi.testclient import TestClient

from tests.api.helpers import Village, create_organisation, ok, unique


def register_shop(
    client: TestClient, village: Village, points_per_yuan: int, name: str | None = None
) -> dict[str, Any]:
    organisation = create_organisation(client, village.township_id, name=name or unique("理发店"))
    return ok(  # type: ignore[no-any-return]
        client.post(
            f"/v1/villages/{village.id}/allied-shops",
            json={"organisation_id": organisation["id"], "points_per_yuan": points_per_yuan},
        ),
        201,
    )


def pay_points(
    client: TestClient,
    shop: dict[str, Any],
    member_id: str,
    points: int,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        f"/v1/allied-shops/{shop['id']}/sales",
        json={"member_id": member_id, "points": points},
        headers={"Idempotency-Key": key or unique("allied-")},
    )


def settle(client: TestClient, shop: dict[str, Any], first: date, last: date) -> httpx.Response:
    return client.post(
        f"/v1/allied-shops/{shop['id']}/settlements",
        json={"period_start": first.isoformat(), "period_end": last.isoformat()},
    )


def pay_settlement(
    client: TestClient, settlement_id: str, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/v1/allied-settlements/{settlement_id}/payment", headers=headers)


def xlsx_rows(response: httpx.Response) -> list[list[Any]]:
    """The first sheet of an XLSX answer, row by row."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"].startswith("attachment;")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
