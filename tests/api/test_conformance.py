"""The API as documented (issue 14): what a schema-driven fuzzer checked, kept as tests.

Problem bodies keep RFC 9457's own members, a 405 names every method of the path,
calendar-day query parameters take only YYYY-MM-DD within 2000-2999, a JSON body that
names a key twice is refused before anything (the idempotency hash included) reads it,
and every operation documents the 400 it can answer with.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from jifen.problems import Problem
from tests.api.helpers import Village, ok, problem


class _Collides(Problem):
    code = "test_collides"
    title = "A refusal whose extra field is named like an RFC 9457 member"
    title_zh = "测试用"
    status = 409


def test_an_extra_field_never_overwrites_the_http_status(caplog: pytest.LogCaptureFixture) -> None:
    refusal = _Collides("record r is approved", status="approved", record_id="r")
    with caplog.at_level(logging.ERROR, logger="jifen.problems"):
        body = refusal.body(instance="/v1/x")
    assert body["status"] == 409
    assert body["extra_status"] == "approved"
    assert body["record_id"] == "r" and body["code"] == "test_collides"
    assert "collides" in caplog.text


def test_a_405_allows_every_method_of_the_path(client: TestClient, village: Village) -> None:
    township = village.township_id
    response = client.delete(f"/v1/townships/{township}")
    body = problem(response, 405, "method_not_allowed")
    assert body["instance"] == f"/v1/townships/{township}"
    # The path has a GET route and a PATCH route (two routes, one path).
    assert response.headers["allow"] == "GET, PATCH"
    collection = client.put("/v1/townships")
    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("value", ["0", "20250314", "1999-12-31", "3000-01-01", "1e3", "-1"])
def test_a_day_is_a_calendar_day_of_the_years_2000_to_2999(
    client: TestClient, village: Village, value: str
) -> None:
    response = client.get(f"/v1/villages/{village.id}/rankings", params={"on": value})
    body = problem(response, 422, "validation_failed")
    assert body["errors"][0]["location"] == ["query", "on"], body


def test_the_bounds_of_the_day_range_are_taken(client: TestClient, village: Village) -> None:
    for value in ("2000-01-01", "2999-12-31"):
        ok(client.get(f"/v1/villages/{village.id}/rankings", params={"on": value}))
    # The calendar is still the schema's: 30 February is not a day.
    problem(
        client.get(f"/v1/villages/{village.id}/rankings", params={"on": "2025-02-30"}),
        422,
        "validation_failed",
    )


def test_a_key_named_twice_is_refused_and_nothing_is_written(
    client: TestClient, village: Village
) -> None:
    before = ok(client.get("/v1/households", params={"village_id": village.id}))["items"]
    raw = (
        '{"village_id": "%s", "number": "h-dup", "name": "Wang", "name": "Li"}'  # noqa: UP031
        % village.id
    ).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "dup-1"}
    response = client.post("/v1/households", content=raw, headers=headers)
    body = problem(response, 400, "duplicate_json_key")
    assert body["key"] == "name"
    # Nested objects too; a key repeated in two different objects is fine.
    nested = (
        json.dumps({"village_id": village.id, "number": "h-dup", "name": "Zhao"})[:-1]
        + ', "x": {"a": 1, "a": 2}}'
    )
    problem(
        client.post("/v1/households", content=nested.encode(), headers=headers),
        400,
        "duplicate_json_key",
    )
    after = ok(client.get("/v1/households", params={"village_id": village.id}))["items"]
    assert len(after) == len(before)
    # The same key with a clean body is judged afresh (the refusal was not stored).
    created = client.post(
        "/v1/households",
        json={"village_id": village.id, "number": "h-dup", "name": "Li"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Li"


def test_every_operation_documents_its_400(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    undocumented = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            response = operation["responses"].get("400")
            if response is None or "malformed_request" not in response["description"]:
                undocumented.append(f"{method.upper()} {path}")
    assert not undocumented, undocumented
