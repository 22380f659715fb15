"""Never a 500: malformed requests get a 4xx problem+json answer with a `code`."""

from __future__ import annotations

import base64
import json
from string import Template
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    Village,
    assert_problem,
    award,
    create_household,
    create_member,
)


@pytest.fixture
def ids(client: TestClient, village: Village) -> dict[str, str]:
    """Ids of a small village that the malformed requests point at ($village, ...)."""
    household = create_household(client, village.id)["id"]
    member = create_member(client, village.id, household_id=household, joined_on="2024-01-01")
    _, account = village.member()
    return {
        "village": village.id,
        "issuance": village.issuance,
        "account": account,
        "household": household,
        "member": member["id"],
        "entry": award(client, village, account, 5)["id"],
        "huge_cursor": _cursor({"seq": BIG}),
    }


ENTRY: dict[str, Any] = {
    "village_id": "$village",
    "code": "labor_award",
    "postings": [
        {"account_id": "$issuance", "amount": -1},
        {"account_id": "$account", "amount": 1},
    ],
}
BIG = 10**30
TOO_BIG_METADATA = {f"k{i}": "x" * 100 for i in range(100)}
DEEP = "[" * 100_000 + "]" * 100_000
SPLIT = {"number": "n", "name": "n", "member_ids": ["$member"], "on": "2024-06-01"}


def entry(**changes: Any) -> dict[str, Any]:
    return {**ENTRY, **changes}


def raw(text: str | bytes, **headers: str) -> dict[str, Any]:
    return {"content": text, "headers": {"Content-Type": "application/json", **headers}}


def raw_entry(tail: str) -> dict[str, Any]:
    """An entry body with `tail` (raw JSON text, e.g. a NaN) spliced in as a last field."""
    return raw(json.dumps(ENTRY)[:-1] + ", " + tail + "}")


def case(case_id: str, expected: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """A malformed request; `expected` None accepts any 4xx problem code.
    `$village`, `$account`, ... in the path and body are replaced by the context's ids."""
    return pytest.param(expected, method, path, kwargs, id=case_id)


CASES = [
    # Bodies that are not JSON, or not the JSON expected.
    case("invalid-json", "validation_failed", "POST", "/v1/entries", **raw("{not json")),
    case("json-array", "validation_failed", "POST", "/v1/entries", **raw("[]")),
    case("empty-body", "validation_failed", "POST", "/v1/entries", **raw("")),
    case("not-utf8", "validation_failed", "POST", "/v1/entries", **raw(b"\xff\xfe")),
    case(
        "text-plain",
        None,
        "POST",
        "/v1/townships",
        content="x",
        headers={"Content-Type": "text/plain"},
    ),
    case(
        "nan-metadata",
        "validation_failed",
        "POST",
        "/v1/entries",
        **raw_entry('"metadata": {"x": NaN}'),
    ),
    case(
        "infinity-memo", "validation_failed", "POST", "/v1/entries", **raw_entry('"memo": Infinity')
    ),
    case("deeply-nested", None, "POST", "/v1/entries", **raw(DEEP)),
    case(
        "deeply-nested-with-key",
        None,
        "POST",
        "/v1/entries",
        **raw(DEEP, **{"Idempotency-Key": "deep"}),
    ),
    # Wrong types.
    case("village-id-int", "validation_failed", "POST", "/v1/entries", json=entry(village_id=5)),
    case("postings-string", "validation_failed", "POST", "/v1/entries", json=entry(postings="x")),
    case(
        "pending-maybe", "validation_failed", "POST", "/v1/entries", json=entry(is_pending="maybe")
    ),
    case("memo-object", "validation_failed", "POST", "/v1/entries", json=entry(memo={})),
    case("metadata-list", "validation_failed", "POST", "/v1/entries", json=entry(metadata=[1])),
    case(
        "occurred-at-text",
        "validation_failed",
        "POST",
        "/v1/entries",
        json=entry(occurred_at="yesterday"),
    ),
    case("code-int", "validation_failed", "POST", "/v1/townships", json={"code": 5, "name": "x"}),
    case(
        "split-on-int",
        "validation_failed",
        "POST",
        "/v1/households/$household/splits",
        json={**SPLIT, "on": 5},
    ),
    # Unknown fields are forbidden.
    case("extra-entry-field", "validation_failed", "POST", "/v1/entries", json=entry(colour="red")),
    case(
        "extra-posting-field",
        "validation_failed",
        "POST",
        "/v1/entries",
        json=entry(postings=[*ENTRY["postings"][:1], {**ENTRY["postings"][1], "x": 1}]),
    ),
    case(
        "extra-township-field",
        "validation_failed",
        "POST",
        "/v1/townships",
        json={"code": "t", "name": "t", "id": "x"},
    ),
    case(
        "extra-village-patch",
        "validation_failed",
        "PATCH",
        "/v1/villages/$village",
        json={"code": "new"},
    ),
    case(
        "extra-reversal-field",
        "validation_failed",
        "POST",
        "/v1/entries/$entry/reversals",
        json={"reason": "r", "force": True},
    ),
    case(
        "extra-void-field",
        "validation_failed",
        "POST",
        "/v1/entries/$entry/void",
        json={"force": True},
    ),
    case(
        "extra-split-field",
        "validation_failed",
        "POST",
        "/v1/households/$household/splits",
        json={**SPLIT, "x": 1},
    ),
    # Bad UUIDs in paths, queries and bodies.
    case("uuid-township", "validation_failed", "GET", "/v1/townships/0"),
    case("uuid-entry", "validation_failed", "GET", "/v1/entries/123"),
    case("uuid-balance", "validation_failed", "GET", "/v1/accounts/xyz/balance"),
    case("uuid-verification", "validation_failed", "GET", "/v1/villages/nope/verification"),
    case(
        "uuid-reversal",
        "validation_failed",
        "POST",
        "/v1/entries/x/reversals",
        json={"reason": "r"},
    ),
    case(
        "uuid-deactivation",
        "validation_failed",
        "POST",
        "/v1/members/1/deactivation",
        json={"on": "2024-01-01", "reason": "other"},
    ),
    case("uuid-split", "validation_failed", "POST", "/v1/households/zz/splits", json=SPLIT),
    case("uuid-query", "validation_failed", "GET", "/v1/entries", params={"village_id": "x"}),
    case("missing-query", "validation_failed", "GET", "/v1/entries"),
    case(
        "uuid-posting",
        "validation_failed",
        "POST",
        "/v1/entries",
        json=entry(postings=[{"account_id": "x", "amount": 1}]),
    ),
    # Huge numbers.
    case(
        "huge-amount",
        "amount_out_of_range",
        "POST",
        "/v1/entries",
        json=entry(
            postings=[
                {"account_id": "$issuance", "amount": -BIG},
                {"account_id": "$account", "amount": BIG},
            ]
        ),
    ),
    case(
        "int64-amount",
        "amount_out_of_range",
        "POST",
        "/v1/entries",
        json=entry(
            postings=[
                {"account_id": "$issuance", "amount": -(2**63)},
                {"account_id": "$account", "amount": 2**63},
            ]
        ),
    ),
    case("huge-limit", "validation_failed", "GET", "/v1/townships", params={"limit": BIG}),
    case(
        "huge-floor",
        None,
        "POST",
        "/v1/accounts",
        json={
            "village_id": "$village",
            "kind": "expiry",
            "category": "extra",
            "balance_floor": BIG,
        },
    ),
    case(
        "huge-transfer",
        None,
        "POST",
        "/v1/households/$household/splits",
        json={**SPLIT, "transfer_points": BIG},
    ),
    case(
        "huge-seq-cursor",
        "invalid_cursor",
        "GET",
        "/v1/entries",
        params={"village_id": "$village", "cursor": "$huge_cursor"},
    ),
    # Too large, too small.
    case(
        "metadata-over-8k",
        "validation_failed",
        "POST",
        "/v1/entries",
        json=entry(metadata=TOO_BIG_METADATA),
    ),
    case(
        "reversal-metadata-over-8k",
        "validation_failed",
        "POST",
        "/v1/entries/$entry/reversals",
        json={"reason": "r", "metadata": TOO_BIG_METADATA},
    ),
    case("memo-too-long", "validation_failed", "POST", "/v1/entries", json=entry(memo="x" * 501)),
    case("negative-limit", "validation_failed", "GET", "/v1/townships", params={"limit": -1}),
    case(
        "zero-limit",
        "validation_failed",
        "GET",
        "/v1/accounts/$account/statement",
        params={"limit": 0},
    ),
    case("limit-text", "validation_failed", "GET", "/v1/members", params={"limit": "ten"}),
    case(
        "cursor-too-long", "validation_failed", "GET", "/v1/villages", params={"cursor": "x" * 501}
    ),
    # Instants at the edges of the calendar.
    case(
        "occurred-at-year-1",
        None,
        "POST",
        "/v1/entries",
        json=entry(occurred_at="0001-01-01T00:00:00+08:00"),
    ),
    case(
        "as-of-year-1",
        None,
        "GET",
        "/v1/accounts/$account/balance-as-of",
        params={"at": "0001-01-01T00:00:00+08:00"},
    ),
    case(
        "as-of-year-9999",
        None,
        "GET",
        "/v1/accounts/$account/balance-as-of",
        params={"at": "9999-12-31T23:59:59-08:00"},
    ),
    # Text no database column can hold.
    case("nul-in-name", None, "POST", "/v1/townships", json={"code": "nul", "name": "x\u0000y"}),
    case("nul-in-memo", None, "POST", "/v1/entries", json=entry(memo="\u0000")),
    case("nul-in-phone", None, "PATCH", "/v1/members/$member", json={"phone": "\u0000"}),
    # Headers.
    case(
        "garbage-bearer",
        "unauthenticated",
        "POST",
        "/v1/entries",
        json=ENTRY,
        headers={"Authorization": "Bearer " + "a" * 300},
    ),
    case(
        "forged-key-with-idempotency-key",
        "unauthenticated",
        "POST",
        "/v1/townships",
        json={"code": "la", "name": "x"},
        headers={"Authorization": "Bearer jfk_000000000000_forged", "Idempotency-Key": "k"},
    ),
    case(
        "basic-scheme",
        "unauthenticated",
        "GET",
        "/v1/townships",
        headers={"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
    ),
    case(
        "forged-jwt",
        "unauthenticated",
        "GET",
        "/v1/townships",
        headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.x"},
    ),
    # Routes and methods.
    case("unknown-route", "not_found", "GET", "/v1/nothing"),
    case("wrong-method", "method_not_allowed", "DELETE", "/v1/entries/$entry"),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """Replace $village, $account, ... in every string of a request by the ids."""
    if isinstance(value, str):
        return Template(value).safe_substitute(ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize(("expected", "method", "path", "kwargs"), CASES)
def test_malformed_request_is_a_problem(
    client: TestClient,
    village: Village,
    ids: dict[str, str],
    expected: str | None,
    method: str,
    path: str,
    kwargs: Any,
) -> None:
    entries_before = village.entries()
    response = client.request(method, _fill(path, ids), **_fill(kwargs, ids))
    body = assert_problem(response)
    if expected is not None:
        assert body["code"] == expected, body
    assert village.entries() == entries_before


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


LISTS = [
    "/v1/townships",
    "/v1/villages",
    "/v1/households",
    "/v1/members",
    "/v1/organisations",
    "/v1/accounts",
    "/v1/entries",
    "/v1/accounts/$account/statement",
]
GARBAGE_CURSORS = {
    "punctuation": "!!!",
    "not-json": "bm90IGpzb24",
    "json-list": _cursor([1]),
    "json-string": _cursor("abc"),
    "id-int": _cursor({"id": 5}),
    "id-null": _cursor({"id": None}),
    "id-text": _cursor({"id": "zz"}),
    "seq-text": _cursor({"seq": "abc"}),
    "seq-list": _cursor({"seq": [1]}),
    "both-text": _cursor({"id": "zz", "seq": "zz"}),
    "both-wrong": _cursor({"id": 5, "seq": {"a": 1}}),
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
def test_garbage_cursor_is_invalid_cursor(
    client: TestClient, ids: dict[str, str], cursor: str
) -> None:
    failures = []
    for path in LISTS:
        url = _fill(path, ids)
        params = {"cursor": cursor, **({"village_id": ids["village"]} if "entries" in url else {})}
        response = client.get(url, params=params)
        if response.status_code != 422 or response.json().get("code") != "invalid_cursor":
            failures.append((url, response.status_code, response.json().get("code")))
        else:
            assert_problem(response)
    assert not failures, "\n".join(map(str, failures))
