"""Idempotency-Key on POST: a retry books nothing new and answers as the first time."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from jifen.access import service as access
from jifen.db import Database
from jifen.kit.clock import utc_now
from tests.api.helpers import (
    Village,
    award,
    entry_body,
    ok,
    post_entry,
    posted,
    problem,
    spend,
    unique,
)

REPLAYED = "Idempotent-Replayed"


def _key(key: str, credential: str | None = None) -> dict[str, str]:
    """An Idempotency-Key header, sent with another caller's credential if given."""
    auth = {"Authorization": f"Bearer {credential}"} if credential else {}
    return {"Idempotency-Key": key, **auth}


@pytest.fixture
def alice(admin_key: str) -> str:
    return admin_key


@pytest.fixture
def bob(db: Database) -> str:
    with db.unit_of_work() as session:
        _user, key = access.create_platform_admin(
            session, name="bob", username=None, password=None, now=utc_now()
        )
    return key


def test_retry_with_same_key_replays_the_first_answer(client: TestClient, village: Village) -> None:
    _, account = village.member()
    postings = [(village.issuance, -6), (account, 6)]
    first = post_entry(client, village.id, postings, headers=_key("k-1"), memo="清扫")
    entry = ok(first, 201)
    assert entry["idempotency_key"] == "k-1"
    assert REPLAYED not in first.headers

    retry = post_entry(client, village.id, postings, headers=_key("k-1"), memo="清扫")
    assert retry.status_code == 201
    assert retry.headers[REPLAYED] == "true"
    assert retry.headers["content-type"].startswith("application/json")
    assert retry.json() == entry
    assert retry.content == first.content

    assert [e["id"] for e in village.entries()] == [entry["id"]]
    assert posted(client, account) == 6


def test_same_body_with_keys_in_another_order_is_the_same_request(
    client: TestClient, village: Village
) -> None:
    _, account = village.member()
    body = entry_body(village.id, [(village.issuance, -3), (account, 3)], metadata={"a": 1, "b": 2})
    headers = {**_key("k-order"), "Content-Type": "application/json"}
    first = ok(client.post("/v1/entries", content=json.dumps(body), headers=headers), 201)

    reordered = {k: body[k] for k in reversed(list(body))}
    reordered["metadata"] = {"b": 2, "a": 1}
    reordered["postings"] = [dict(reversed(list(p.items()))) for p in body["postings"]]
    spaced = json.dumps(reordered, indent=4)
    retry = client.post("/v1/entries", content=spaced, headers=headers)
    assert retry.status_code == 201 and retry.headers[REPLAYED] == "true"
    assert retry.json() == first
    assert len(village.entries()) == 1


def test_same_key_with_another_body_is_refused(client: TestClient, village: Village) -> None:
    _, account = village.member()
    ok(
        post_entry(client, village.id, [(village.issuance, -6), (account, 6)], headers=_key("k")),
        201,
    )
    refused = post_entry(
        client, village.id, [(village.issuance, -7), (account, 7)], headers=_key("k")
    )
    body = problem(refused, 422, "idempotency_key_reused")
    assert body["idempotency_key"] == "k"
    # The same key on another endpoint is another request too.
    refused = client.post("/v1/townships", json={"code": "t", "name": "t"}, headers=_key("k"))
    problem(refused, 422, "idempotency_key_reused")
    assert posted(client, account) == 6
    assert len(village.entries()) == 1


def test_keys_of_different_actors_are_separate(
    client: TestClient, village: Village, alice: str, bob: str
) -> None:
    _, account = village.member()
    postings = [(village.issuance, -2), (account, 2)]
    first = ok(post_entry(client, village.id, postings, headers=_key("shared", alice)), 201)
    bob_response = post_entry(client, village.id, postings, headers=_key("shared", bob))
    second = ok(bob_response, 201)
    assert REPLAYED not in bob_response.headers
    assert second["id"] != first["id"]
    assert first["actor"] != second["actor"]
    assert {first["actor"][:5], second["actor"][:5]} == {"user:"}
    assert posted(client, account) == 4
    assert len(village.entries()) == 2

    # Each actor's retry replays their own first answer.
    again = post_entry(client, village.id, postings, headers=_key("shared", alice))
    assert again.headers[REPLAYED] == "true" and again.json() == first


def test_key_of_another_actor_with_another_body_is_not_reused(
    client: TestClient, village: Village, alice: str, bob: str
) -> None:
    _, account = village.member()
    first = ok(
        post_entry(
            client, village.id, [(village.issuance, -2), (account, 2)], headers=_key("x", alice)
        ),
        201,
    )
    second = post_entry(
        client, village.id, [(village.issuance, -9), (account, 9)], headers=_key("x", bob)
    )
    assert ok(second, 201)["actor"] != first["actor"]
    assert posted(client, account) == 11


def test_refusal_is_not_stored(client: TestClient, village: Village) -> None:
    _, account = village.member()
    headers = _key("redeem-1")
    problem(spend(client, village, account, 5, headers=headers), 409, "insufficient_points")
    retry = spend(client, village, account, 5, headers=headers)
    problem(retry, 409, "insufficient_points")
    assert REPLAYED not in retry.headers

    award(client, village, account, 5)
    entry = ok(spend(client, village, account, 5, headers=headers), 201)
    assert entry["idempotency_key"] == "redeem-1"
    replay = spend(client, village, account, 5, headers=headers)
    assert replay.headers[REPLAYED] == "true" and replay.json() == entry
    assert posted(client, account) == 0


def test_idempotency_on_other_endpoints(client: TestClient) -> None:
    body = {"code": unique("idem"), "name": "幂等镇"}
    first = client.post("/v1/townships", json=body, headers=_key("town-1"))
    township = ok(first, 201)
    retry = client.post("/v1/townships", json=body, headers=_key("town-1"))
    assert retry.status_code == 201 and retry.headers[REPLAYED] == "true"
    assert retry.json() == township
    listed = ok(client.get("/v1/townships"))["items"]
    assert [t["id"] for t in listed] == [township["id"]]

    problem(client.post("/v1/townships", json=body), 409, "already_exists")


def test_idempotent_reversal_and_post(client: TestClient, village: Village) -> None:
    _, account = village.member()
    entry = award(client, village, account, 5)
    url = f"/v1/entries/{entry['id']}/reversals"
    reversal = ok(client.post(url, json={"reason": "重复"}, headers=_key("rev")), 201)
    retry = client.post(url, json={"reason": "重复"}, headers=_key("rev"))
    assert retry.status_code == 201 and retry.json() == reversal
    problem(client.post(url, json={"reason": "重复"}), 409, "entry_already_reversed")

    award(client, village, account, 5)
    pending = ok(spend(client, village, account, 3, is_pending=True), 201)
    url = f"/v1/entries/{pending['id']}/post"
    posting = ok(client.post(url, headers=_key("post")), 201)
    retry = client.post(url, headers=_key("post"))
    assert retry.status_code == 201 and retry.headers[REPLAYED] == "true"
    assert retry.json() == posting
    problem(client.post(url), 409, "pending_entry_already_posted")
    assert posted(client, account) == 2


def test_bad_keys_are_refused(client: TestClient) -> None:
    body = {"code": unique("k"), "name": "x"}
    problem(
        client.post("/v1/townships", json=body, headers=_key("k" * 256)), 422, "validation_failed"
    )
    problem(client.post("/v1/townships", json=body, headers=_key("")), 422, "validation_failed")
    assert ok(client.get("/v1/townships"))["items"] == []
