"""POST /v1/villages/{id}/entry-batches: many entries in one request, each on its own or
all or nothing, each retry-safe by its own key."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    Village,
    award,
    ok,
    posted,
    problem,
    unique,
    validation_failed,
)

BEARER = "Authorization"


@pytest.fixture
def cashier_key(client: TestClient, village: Village) -> str:
    """The API key of a supermarket cashier of the village (redeems, never awards)."""
    body = {"name": "收银员", "township_id": village.township_id, "village_id": village.id}
    user = ok(client.post("/v1/users", json=body), 201)
    roles = ok(client.get("/v1/roles", params={"township_id": village.township_id}))
    role_id = next(r["id"] for r in roles if r["code"] == "supermarket_cashier")
    ok(client.post(f"/v1/users/{user['id']}/grants", json={"role_id": role_id}), 201)
    key = ok(client.post(f"/v1/users/{user['id']}/api-keys", json={"name": "收银台"}), 201)
    return str(key["key"])


def _item(key: str, postings: list[tuple[str, int]], code: str = "labor_award") -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "code": code,
        "postings": [{"account_id": a, "amount": n} for a, n in postings],
    }


def _batch(client: TestClient, village: Village, items: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post(f"/v1/villages/{village.id}/entry-batches", json={"items": items, **extra})


def test_each_item_is_booked_or_refused_on_its_own(client: TestClient, village: Village) -> None:
    _, alice = village.member()
    _, bob = village.member()
    award(client, village, alice, 5)
    items = [
        _item("k1", [(village.issuance, -3), (bob, 3)]),
        _item("k2", [(alice, -4), (village.supermarket, 4)], code="redemption"),
        # Alice has 1 left after k2: this one is refused, and only this one.
        _item("k3", [(alice, -2), (village.supermarket, 2)], code="redemption"),
        _item("k4", [(village.issuance, -7), (alice, 7)]),
    ]
    body = ok(_batch(client, village, items))
    assert [i["status"] for i in body["items"]] == [201, 201, 409, 201]
    assert [i["index"] for i in body["items"]] == [0, 1, 2, 3]
    assert (body["done"], body["replayed"], body["refused"]) == (3, 0, 1)
    refused = body["items"][2]
    assert refused["result"] is None and refused["problem"]["code"] == "insufficient_points"
    assert refused["problem"]["requested_points"] == 2 and refused["problem"]["balance_points"] == 1
    booked = [i["result"] for i in body["items"] if i["result"]]
    assert [e["idempotency_key"] for e in booked] == ["k1", "k2", "k4"]
    # In order, one after another in the chain.
    seqs = [e["seq"] for e in booked]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert posted(client, alice) == 5 - 4 + 7
    assert posted(client, bob) == 3


def test_a_retried_batch_replays_what_was_done_and_judges_refusals_afresh(
    client: TestClient, village: Village
) -> None:
    _, alice = village.member()
    items = [
        _item("r1", [(village.issuance, -2), (alice, 2)]),
        _item("r2", [(alice, -5), (village.supermarket, 5)], code="redemption"),
    ]
    first = ok(_batch(client, village, items))
    assert [i["status"] for i in first["items"]] == [201, 409]
    award(client, village, alice, 10)
    again = ok(_batch(client, village, items))
    assert again["items"][0]["replayed"] is True
    assert again["items"][0]["result"] == first["items"][0]["result"]
    # The refusal was not kept: now that there are points, the item is booked.
    assert again["items"][1]["status"] == 201 and again["items"][1]["replayed"] is False
    assert (again["done"], again["replayed"], again["refused"]) == (1, 1, 0)
    assert posted(client, alice) == 2 + 10 - 5


def test_a_key_names_one_item_for_good(client: TestClient, village: Village) -> None:
    _, alice = village.member()
    ok(_batch(client, village, [_item("same", [(village.issuance, -1), (alice, 1)])]))
    other = ok(_batch(client, village, [_item("same", [(village.issuance, -9), (alice, 9)])]))
    assert other["items"][0]["problem"]["code"] == "idempotency_key_reused"
    assert posted(client, alice) == 1


def test_all_or_nothing_writes_nothing_when_an_item_is_refused(
    client: TestClient, village: Village
) -> None:
    _, alice = village.member()
    items = [
        _item("a1", [(village.issuance, -3), (alice, 3)]),
        _item("a2", [(alice, -9), (village.supermarket, 9)], code="redemption"),
    ]
    refused = problem(_batch(client, village, items, atomic=True), 422, "batch_refused")
    assert refused["index"] == 1 and refused["idempotency_key"] == "a2"
    assert refused["problem"]["code"] == "insufficient_points"
    assert posted(client, alice) == 0
    assert village.entries() == []
    items[1] = _item("a2", [(alice, -1), (village.supermarket, 1)], code="redemption")
    done = ok(_batch(client, village, items, atomic=True))
    assert [i["status"] for i in done["items"]] == [201, 201] and done["atomic"] is True
    assert posted(client, alice) == 2


def test_a_batch_is_checked_as_a_whole_before_anything_is_booked(
    client: TestClient, village: Village
) -> None:
    _, alice = village.member()
    twice = [_item("dup", [(village.issuance, -1), (alice, 1)])] * 2
    validation_failed(_batch(client, village, twice))
    too_many = [_item(unique("k"), [(village.issuance, -1), (alice, 1)]) for _ in range(1001)]
    validation_failed(_batch(client, village, too_many))
    validation_failed(_batch(client, village, []))
    keyed = client.post(
        f"/v1/villages/{village.id}/entry-batches",
        json={"items": [_item("h", [(village.issuance, -1), (alice, 1)])]},
        headers={"Idempotency-Key": "batch-1"},
    )
    validation_failed(keyed)
    assert posted(client, alice) == 0


def test_each_item_needs_what_its_own_booking_needs(
    client: TestClient, village: Village, cashier_key: str
) -> None:
    _, alice = village.member()
    award(client, village, alice, 10)
    items = [
        _item(unique("c"), [(alice, -2), (village.supermarket, 2)], code="redemption"),
        _item(unique("c"), [(village.issuance, -2), (alice, 2)]),
    ]
    body = ok(
        client.post(
            f"/v1/villages/{village.id}/entry-batches",
            json={"items": items},
            headers={BEARER: f"Bearer {cashier_key}"},
        )
    )
    assert [i["status"] for i in body["items"]] == [201, 403]
    assert body["items"][1]["problem"]["code"] == "forbidden"
    assert posted(client, alice) == 8


def test_every_booked_item_is_audited(client: TestClient, village: Village) -> None:
    _, alice = village.member()
    items = [_item(unique("au"), [(village.issuance, -1), (alice, 1)]) for _ in range(3)]
    body = ok(_batch(client, village, items))
    events = ok(
        client.get(
            "/v1/audit-events",
            params={"village_id": village.id, "action": "create_entry_batch"},
        )
    )["items"]
    assert sorted(e["target"]["batch_index"] for e in events) == [0, 1, 2]
    assert {e["target"]["result_id"] for e in events} == {i["result"]["id"] for i in body["items"]}
