"""Helpers for the HTTP API tests: build tenants over the API and check answers.

Everything here goes through the `client` fixture (a TestClient), never the services.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import httpx
from fastapi.testclient import TestClient

PROBLEM_JSON = "application/problem+json"

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def random_id() -> str:
    return str(uuid.uuid4())


# --- checking answers -------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    """Assert a successful answer with this status and return its JSON body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return response.json()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 refusal with this status and code; return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = assert_problem(response)
    assert body["code"] == code, body
    return body


def assert_problem(response: httpx.Response) -> dict[str, Any]:
    """Assert a 4xx problem+json answer with a code; return its body."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code, body
    assert isinstance(body["code"], str) and body["code"], body
    assert body["type"].endswith(body["code"]), body
    return body


def validation_failed(response: httpx.Response) -> list[dict[str, Any]]:
    """Assert a 422 validation_failed refusal and return its `errors` list."""
    body = problem(response, 422, "validation_failed")
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert {"location", "message", "type"} <= error.keys(), error
    return list(body["errors"])


def all_pages(
    client: TestClient, url: str, limit: int, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; return every item and the number of pages read."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = ok(client.get(url, params=query))
        pages += 1
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages
        assert len(page["items"]) == limit
        assert pages < 1000, "pagination does not end"


# --- time -------------------------------------------------------------------------------


def local_today(client: TestClient) -> date:
    """Today in the villages' time zone (the app's settings)."""
    zone = client.app.state.settings.zone  # type: ignore[attr-defined]
    return datetime.now(zone).date()


def local_noon(client: TestClient, day: date) -> str:
    """Noon of `day` in the villages' time zone, as an ISO instant with its offset."""
    zone = client.app.state.settings.zone  # type: ignore[attr-defined]
    return datetime.combine(day, time(12), tzinfo=zone).isoformat()


# --- tenancy ----------------------------------------------------------------------------


def create_township(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {"code": unique("town"), "name": unique("测试镇"), **overrides}
    return ok(client.post("/v1/townships", json=body), 201)  # type: ignore[no-any-return]


def create_village(
    client: TestClient, township_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    township_id = township_id or create_township(client)["id"]
    body = {"township_id": township_id, "code": unique("village"), "name": unique("测试村")}
    body.update(overrides)
    return ok(client.post("/v1/villages", json=body), 201)  # type: ignore[no-any-return]


def create_household(client: TestClient, village_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"village_id": village_id, "number": unique("h-"), "name": unique("测试户")}
    body.update(overrides)
    return ok(client.post("/v1/households", json=body), 201)  # type: ignore[no-any-return]


def create_member(client: TestClient, village_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"village_id": village_id, "name": unique("村民"), **overrides}
    return ok(client.post("/v1/members", json=body), 201)  # type: ignore[no-any-return]


def create_organisation(client: TestClient, township_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"township_id": township_id, "name": unique("商店"), "kind": "shop", **overrides}
    return ok(client.post("/v1/organisations", json=body), 201)  # type: ignore[no-any-return]


def accounts(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    items, _ = all_pages(client, "/v1/accounts", 200, **params)
    return items


def only_account(client: TestClient, **params: Any) -> str:
    """The id of the one account matching the filter (e.g. member_id=...)."""
    found = accounts(client, **params)
    assert len(found) == 1, found
    return str(found[0]["id"])


def households_of(client: TestClient, village_id: str) -> list[dict[str, Any]]:
    items, _ = all_pages(client, "/v1/households", 200, village_id=village_id)
    return items


@dataclass
class Village:
    """A village created over the API, with the ids of its standard accounts."""

    client: TestClient
    township_id: str
    id: str
    issuance: str
    supermarket: str
    expiry: str
    fund: str
    funding: str
    raw: dict[str, Any] = field(repr=False)

    def member(self, **overrides: Any) -> tuple[str, str]:
        """A new member of the village: (member id, member account id)."""
        member = create_member(self.client, self.id, **overrides)
        return member["id"], only_account(self.client, member_id=member["id"])

    def household(self, **overrides: Any) -> tuple[str, str]:
        """A new household of the village: (household id, household account id)."""
        household = create_household(self.client, self.id, **overrides)
        return household["id"], only_account(self.client, household_id=household["id"])

    def entries(self) -> list[dict[str, Any]]:
        items, _ = all_pages(self.client, "/v1/entries", 200, village_id=self.id)
        return items


def standard_accounts(client: TestClient, village_id: str) -> dict[tuple[str, str, str], str]:
    """The village's own accounts, by (kind, category, asset)."""
    return {
        (a["kind"], a["category"], a["asset"]): a["id"]
        for a in accounts(client, village_id=village_id)
        if a["member_id"] is None and a["household_id"] is None and a["organisation_id"] is None
    }


def make_village(client: TestClient, township_id: str | None = None, **overrides: Any) -> Village:
    raw = create_village(client, township_id, **overrides)
    by_kind = standard_accounts(client, raw["id"])
    return Village(
        client=client,
        township_id=raw["township_id"],
        id=raw["id"],
        issuance=by_kind[("issuance", "general", "POINTS")],
        supermarket=by_kind[("supermarket", "main", "POINTS")],
        expiry=by_kind[("expiry", "main", "POINTS")],
        fund=by_kind[("fund", "main", "CNY")],
        funding=by_kind[("funding", "main", "CNY")],
        raw=raw,
    )


# --- ledger -----------------------------------------------------------------------------


def entry_body(
    village_id: str, postings: list[tuple[str, int]], code: str = "labor_award", **extra: Any
) -> dict[str, Any]:
    return {
        "village_id": village_id,
        "code": code,
        "postings": [{"account_id": a, "amount": n} for a, n in postings],
        **extra,
    }


def post_entry(
    client: TestClient,
    village_id: str,
    postings: list[tuple[str, int]],
    code: str = "labor_award",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    return client.post(
        "/v1/entries", json=entry_body(village_id, postings, code, **extra), headers=headers
    )


def move(
    client: TestClient, village: Village, source: str, target: str, points: int, **extra: Any
) -> httpx.Response:
    """Book `points` from source to target (a two-posting entry)."""
    return post_entry(client, village.id, [(source, -points), (target, points)], **extra)


def award(
    client: TestClient, village: Village, account_id: str, points: int, **extra: Any
) -> dict[str, Any]:
    """Issue points to an account from the general issuance account; must succeed."""
    return ok(move(client, village, village.issuance, account_id, points, **extra), 201)  # type: ignore[no-any-return]


def spend(
    client: TestClient, village: Village, account_id: str, points: int, **extra: Any
) -> httpx.Response:
    """Redeem points of an account at the village supermarket."""
    extra.setdefault("code", "supermarket_redeem")
    return move(client, village, account_id, village.supermarket, points, **extra)


def balance(client: TestClient, account_id: str) -> dict[str, Any]:
    return ok(client.get(f"/v1/accounts/{account_id}/balance"))  # type: ignore[no-any-return]


def posted(client: TestClient, account_id: str) -> int:
    return int(balance(client, account_id)["posted"])
