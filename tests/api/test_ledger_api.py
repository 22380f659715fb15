"""The ledger over HTTP: booking, reading back, refusals, reversals, pending entries,
trial balance and verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    Village,
    all_pages,
    award,
    balance,
    make_village,
    ok,
    post_entry,
    posted,
    problem,
    random_id,
    spend,
    validation_failed,
)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- booking and reading back -----------------------------------------------------------


def test_award_is_booked_and_read_back(client: TestClient, village: Village) -> None:
    _, account = village.member()
    response = post_entry(
        client,
        village.id,
        [(village.issuance, -6), (account, 6)],
        memo="义务劳动 3 小时",
        metadata={"hours": 3, "project": "村道清扫"},
    )
    entry = ok(response, 201)
    assert entry["village_id"] == village.id and entry["township_id"] == village.township_id
    assert (entry["seq"], entry["code"], entry["status"]) == (1, "labor_award", "posted")
    me = ok(client.get("/v1/me"))
    assert entry["actor"] == f"user:{me['principal_id']}"
    assert entry["metadata"] == {"hours": 3, "project": "村道清扫"}
    assert entry["is_pending"] is False and entry["allow_below_floor"] is False
    assert entry["reversed_by_entry_id"] is None
    assert [(p["account_id"], p["amount"], p["balance_after"]) for p in entry["postings"]] == [
        (village.issuance, -6, -6),
        (account, 6, 6),
    ]
    assert ok(client.get(f"/v1/entries/{entry['id']}")) == entry


def test_balance_fields(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 10)
    assert ok(spend(client, village, account, 4), 201)["status"] == "posted"
    assert balance(client, account) == {
        "account_id": account,
        "asset": "POINTS",
        "posted": 6,
        "pending_debits": 0,
        "pending_credits": 0,
        "available": 6,
        "pending_under_notice": 0,
        "held_by_objection": 0,
        "balance_floor": 0,
        "last_seq": 2,
    }
    assert posted(client, village.issuance) == -10
    assert posted(client, village.supermarket) == 4
    assert balance(client, village.issuance)["balance_floor"] is None


def test_money_entries_use_fen(client: TestClient, village: Village) -> None:
    ok(
        post_entry(
            client, village.id, [(village.funding, -500_00), (village.fund, 500_00)], "fund"
        ),
        201,
    )
    assert balance(client, village.fund)["asset"] == "CNY"
    assert posted(client, village.fund) == 500_00
    refused = post_entry(
        client, village.id, [(village.fund, -600_00), (village.funding, 600_00)], "refund"
    )
    body = problem(refused, 409, "insufficient_funds")
    assert (body["balance_fen"], body["requested_fen"]) == (500_00, 600_00)


def test_statement_pages_newest_first_with_balance_after(
    client: TestClient, village: Village
) -> None:
    _, account = village.member()
    for points in (1, 2, 3, 4, 5):
        award(client, village, account, points)
    ok(spend(client, village, account, 7), 201)

    lines, pages = all_pages(client, f"/v1/accounts/{account}/statement", 2)
    assert pages == 3
    assert [line["amount"] for line in lines] == [-7, 5, 4, 3, 2, 1]
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(seqs, reverse=True)
    assert lines[0]["balance_after"] == posted(client, account) == 8
    for newer, older in pairwise(lines):
        assert newer["balance_after"] - newer["amount"] == older["balance_after"]
    assert lines[-1]["balance_after"] == 1
    assert [line["code"] for line in lines[:2]] == ["supermarket_redeem", "labor_award"]

    first = ok(client.get(f"/v1/accounts/{account}/statement", params={"limit": 2}))
    assert first["account_id"] == account and first["next_cursor"]


def test_balance_as_of_counts_back_dated_entries_at_their_date(
    client: TestClient, village: Village
) -> None:
    _, account = village.member()
    now = datetime.now(UTC)
    award(client, village, account, 5)
    back_dated = award(
        client, village, account, 10, occurred_at=(now - timedelta(days=10)).isoformat()
    )
    assert _instant(back_dated["occurred_at"]) == now - timedelta(days=10)
    assert _instant(back_dated["recorded_at"]) >= now - timedelta(minutes=1)

    def as_of(at: datetime) -> int:
        url = f"/v1/accounts/{account}/balance-as-of"
        body = ok(client.get(url, params={"at": at.isoformat()}))
        assert body["account_id"] == account
        return int(body["posted"])

    assert as_of(now - timedelta(days=20)) == 0
    assert as_of(now - timedelta(days=5)) == 10
    assert as_of(now + timedelta(minutes=5)) == 15
    problem(
        client.get(f"/v1/accounts/{random_id()}/balance-as-of", params={"at": now.isoformat()}),
        404,
        "not_found",
    )


def test_entries_list_newest_first_with_pages(client: TestClient, village: Village) -> None:
    _, account = village.member()
    booked = [award(client, village, account, n)["id"] for n in range(1, 6)]
    make_village(client, village.township_id)  # another village's books stay apart
    items, pages = all_pages(client, "/v1/entries", 2, village_id=village.id)
    assert pages == 3
    assert [e["id"] for e in items] == booked[::-1]
    assert [e["seq"] for e in items] == [5, 4, 3, 2, 1]


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("postings", "code"),
    [
        (lambda v, a: [(v.issuance, -5), (a, 4)], "unbalanced_entry"),
        (lambda v, a: [(v.issuance, -5), (v.fund, 5)], "unbalanced_entry"),
        (lambda v, a: [(a, 5)], "too_few_postings"),
        (lambda v, a: [], "too_few_postings"),
        (lambda v, a: [(a, -5), (a, 5)], "duplicate_account"),
        (lambda v, a: [(v.issuance, 0), (a, 0)], "amount_out_of_range"),
        (lambda v, a: [(v.issuance, -(10**13)), (a, 10**13)], "amount_out_of_range"),
    ],
    ids=["sum", "assets", "one", "none", "duplicate", "zero", "huge"],
)
def test_malformed_entries_are_refused(
    client: TestClient, village: Village, postings: Any, code: str
) -> None:
    _, account = village.member()
    problem(post_entry(client, village.id, postings(village, account)), 422, code)
    assert village.entries() == []


@pytest.mark.parametrize("code", ["reversal", "pending_post", "pending_void", "Bad Code", "9lives"])
def test_invalid_entry_codes_are_refused(client: TestClient, village: Village, code: str) -> None:
    _, account = village.member()
    body = problem(
        post_entry(client, village.id, [(village.issuance, -1), (account, 1)], code),
        422,
        "invalid_entry_code",
    )
    assert body["entry_code"] == code


def test_account_of_another_village_is_refused(client: TestClient, village: Village) -> None:
    other = make_village(client, village.township_id)
    _, stranger = other.member()
    refused = post_entry(client, village.id, [(village.issuance, -5), (stranger, 5)])
    body = problem(refused, 422, "account_in_other_books")
    assert body["account_id"] == stranger
    assert posted(client, stranger) == 0


def test_spending_more_than_available_is_refused(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 3)
    body = problem(spend(client, village, account, 5), 409, "insufficient_points")
    assert (body["balance_points"], body["requested_points"]) == (3, 5)
    assert body["account_id"] == account
    assert posted(client, account) == 3
    assert len(village.entries()) == 1


def test_floor_override_needs_a_listed_code(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 3)

    def penalty(points: int) -> Any:
        return post_entry(
            client,
            village.id,
            [(account, -points), (village.issuance, points)],
            "conduct_penalty",
            allow_below_floor=True,
        )

    body = problem(penalty(5), 422, "floor_override_not_allowed")
    assert body["entry_code"] == "conduct_penalty"

    ok(
        client.patch(
            f"/v1/villages/{village.id}", json={"allow_below_floor_codes": ["conduct_penalty"]}
        )
    )
    entry = ok(penalty(5), 201)
    assert entry["allow_below_floor"] is True
    assert balance(client, account)["available"] == -2

    # In debt: no spending until points are earned back.
    body = problem(spend(client, village, account, 1), 409, "insufficient_points")
    assert (body["balance_points"], body["requested_points"]) == (-2, 1)
    award(client, village, account, 2)
    problem(spend(client, village, account, 1), 409, "insufficient_points")
    award(client, village, account, 1)
    ok(spend(client, village, account, 1), 201)
    assert posted(client, account) == 0
    # Without the flag, the listed code still respects the floor.
    refused = post_entry(
        client, village.id, [(account, -1), (village.issuance, 1)], "conduct_penalty"
    )
    problem(refused, 409, "insufficient_points")


def test_entry_dated_in_the_future_is_refused(client: TestClient, village: Village) -> None:
    _, account = village.member()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = problem(
        post_entry(
            client, village.id, [(village.issuance, -1), (account, 1)], occurred_at=tomorrow
        ),
        422,
        "occurred_at_in_future",
    )
    assert "occurred_at" in body


@pytest.mark.parametrize("amount", [1.5, "5", None, True, [5], 2.000001])
def test_amounts_must_be_json_integers(client: TestClient, village: Village, amount: Any) -> None:
    _, account = village.member()
    body = {
        "village_id": village.id,
        "code": "labor_award",
        "postings": [
            {"account_id": village.issuance, "amount": -5},
            {"account_id": account, "amount": amount},
        ],
    }
    errors = validation_failed(client.post("/v1/entries", json=body))
    assert any(e["location"][-1] == "amount" for e in errors), errors
    assert village.entries() == []


def test_a_whole_number_written_with_a_fraction_is_that_integer(
    client: TestClient, village: Village
) -> None:
    # JSON Schema's `integer` (what the OpenAPI document says) takes 5.0 as 5.
    _, account = village.member()
    body = {
        "village_id": village.id,
        "code": "labor_award",
        "postings": [
            {"account_id": village.issuance, "amount": -5},
            {"account_id": account, "amount": 5.0},
        ],
    }
    response = client.post("/v1/entries", json=body)
    assert response.status_code == 201, response.text
    assert [p["amount"] for p in response.json()["postings"]] == [-5, 5]
    assert client.get(f"/v1/accounts/{account}/balance").json()["posted"] == 5


def test_unknown_ids_are_not_found(client: TestClient, village: Village) -> None:
    _, account = village.member()
    unknown = random_id()
    problem(
        post_entry(client, village.id, [(village.issuance, -1), (unknown, 1)]), 404, "not_found"
    )
    problem(post_entry(client, unknown, [(village.issuance, -1), (account, 1)]), 404, "not_found")
    for path in (
        f"/v1/entries/{unknown}",
        f"/v1/accounts/{unknown}",
        f"/v1/accounts/{unknown}/balance",
        f"/v1/accounts/{unknown}/statement",
        f"/v1/villages/{unknown}/trial-balance",
        f"/v1/villages/{unknown}/verification",
    ):
        problem(client.get(path), 404, "not_found")
    problem(client.get("/v1/entries", params={"village_id": unknown}), 404, "not_found")
    for action, body in (("reversals", {"reason": "x"}), ("post", None), ("void", {})):
        problem(client.post(f"/v1/entries/{unknown}/{action}", json=body), 404, "not_found")


# --- reversals --------------------------------------------------------------------------


def _reverse(client: TestClient, entry_id: str, reason: str = "录入错误") -> Any:
    return client.post(f"/v1/entries/{entry_id}/reversals", json={"reason": reason})


def test_reversal_restores_balances_and_marks_the_original(
    client: TestClient, village: Village
) -> None:
    _, account = village.member()
    original = award(client, village, account, 8)

    reversal = ok(_reverse(client, original["id"]), 201)
    assert reversal["code"] == "reversal"
    assert reversal["reverses_entry_id"] == original["id"]
    assert {(p["account_id"], p["amount"]) for p in reversal["postings"]} == {
        (village.issuance, 8),
        (account, -8),
    }
    assert posted(client, account) == 0 and posted(client, village.issuance) == 0
    fetched = ok(client.get(f"/v1/entries/{original['id']}"))
    assert fetched["status"] == "reversed"
    assert fetched["reversed_by_entry_id"] == reversal["id"]

    body = problem(_reverse(client, original["id"]), 409, "entry_already_reversed")
    assert body["reversed_by_entry_id"] == reversal["id"]
    problem(_reverse(client, reversal["id"]), 409, "entry_not_reversible")
    validation_failed(client.post(f"/v1/entries/{original['id']}/reversals", json={}))
    assert len(village.entries()) == 2


def test_reversal_of_spent_award_goes_below_zero(client: TestClient, village: Village) -> None:
    _, account = village.member()
    original = award(client, village, account, 10)
    ok(spend(client, village, account, 8), 201)

    reversal = ok(_reverse(client, original["id"]), 201)
    assert reversal["allow_below_floor"] is True
    assert balance(client, account)["posted"] == -8
    problem(spend(client, village, account, 1), 409, "insufficient_points")


# --- pending entries --------------------------------------------------------------------


def _pending_spend(client: TestClient, village: Village, account: str, points: int) -> Any:
    return ok(spend(client, village, account, points, is_pending=True), 201)


def _holds(client: TestClient, account: str) -> tuple[int, int, int, int]:
    b = balance(client, account)
    return b["posted"], b["available"], b["pending_debits"], b["pending_credits"]


def test_pending_entry_holds_then_posts(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 20)
    pending = _pending_spend(client, village, account, 8)
    assert (pending["is_pending"], pending["status"]) == (True, "pending")
    assert _holds(client, account) == (20, 12, 8, 0)
    assert _holds(client, village.supermarket) == (0, 0, 0, 8)
    # The hold counts against spending.
    problem(spend(client, village, account, 13), 409, "insufficient_points")

    posting = ok(client.post(f"/v1/entries/{pending['id']}/post"), 201)
    assert posting["code"] == "pending_post"
    assert posting["pending_entry_id"] == pending["id"]
    assert _holds(client, account) == (12, 12, 0, 0)
    assert _holds(client, village.supermarket) == (8, 8, 0, 0)
    fetched = ok(client.get(f"/v1/entries/{pending['id']}"))
    assert (fetched["status"], fetched["resolved_by_entry_id"]) == ("posted", posting["id"])

    url = f"/v1/entries/{pending['id']}"
    problem(client.post(f"{url}/post"), 409, "pending_entry_already_posted")
    problem(client.post(f"{url}/void", json={}), 409, "pending_entry_already_posted")
    assert _holds(client, account) == (12, 12, 0, 0)


def test_pending_award_is_not_usable_until_posted(client: TestClient, village: Village) -> None:
    _, account = village.member()
    pending = ok(
        post_entry(client, village.id, [(village.issuance, -5), (account, 5)], is_pending=True),
        201,
    )
    assert _holds(client, account) == (0, 0, 0, 5)
    problem(spend(client, village, account, 1), 409, "insufficient_points")
    ok(client.post(f"/v1/entries/{pending['id']}/post"), 201)
    ok(spend(client, village, account, 5), 201)


def test_void_releases_holds(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 20)
    pending = _pending_spend(client, village, account, 8)

    voiding = ok(
        client.post(f"/v1/entries/{pending['id']}/void", json={"reason": "公示期内异议成立"}), 201
    )
    assert voiding["code"] == "pending_void"
    assert _holds(client, account) == (20, 20, 0, 0)
    assert _holds(client, village.supermarket) == (0, 0, 0, 0)
    assert ok(client.get(f"/v1/entries/{pending['id']}"))["status"] == "voided"

    problem(client.post(f"/v1/entries/{pending['id']}/post"), 409, "pending_entry_already_voided")
    problem(
        client.post(f"/v1/entries/{pending['id']}/void", json={}),
        409,
        "pending_entry_already_voided",
    )
    problem(_reverse(client, pending["id"]), 409, "entry_not_reversible")
    problem(_reverse(client, voiding["id"]), 409, "entry_not_reversible")


def test_post_or_void_of_a_plain_entry_is_refused(client: TestClient, village: Village) -> None:
    _, account = village.member()
    entry = award(client, village, account, 5)
    problem(client.post(f"/v1/entries/{entry['id']}/post"), 409, "entry_not_pending")
    problem(client.post(f"/v1/entries/{entry['id']}/void", json={}), 409, "entry_not_pending")


def test_reversal_of_pending_entries(client: TestClient, village: Village) -> None:
    _, account = village.member()
    award(client, village, account, 20)
    pending = _pending_spend(client, village, account, 8)
    problem(_reverse(client, pending["id"]), 409, "entry_not_reversible")

    ok(client.post(f"/v1/entries/{pending['id']}/post"), 201)
    reversal = ok(_reverse(client, pending["id"]), 201)
    assert _holds(client, account) == (20, 20, 0, 0)
    assert _holds(client, village.supermarket) == (0, 0, 0, 0)
    fetched = ok(client.get(f"/v1/entries/{pending['id']}"))
    assert (fetched["status"], fetched["reversed_by_entry_id"]) == ("reversed", reversal["id"])
    problem(_reverse(client, pending["id"]), 409, "entry_already_reversed")


# --- trial balance and verification -----------------------------------------------------


def test_trial_balance_and_verification(client: TestClient, village: Village) -> None:
    _, alice = village.member()
    _, bob = village.member()
    award(client, village, alice, 10)
    award(client, village, bob, 7)
    ok(spend(client, village, alice, 4), 201)
    _pending_spend(client, village, bob, 2)
    ok(
        post_entry(client, village.id, [(village.funding, -1000), (village.fund, 1000)], "fund"),
        201,
    )

    tb = ok(client.get(f"/v1/villages/{village.id}/trial-balance"))
    assert tb["village_id"] == village.id and tb["is_balanced"] is True
    totals = {t["asset"]: t for t in tb["totals"]}
    assert set(totals) == {"POINTS", "CNY"}
    for total in totals.values():
        assert total["posted"] == 0
        assert total["pending_debits"] == total["pending_credits"]
    assert totals["POINTS"]["pending_debits"] == 2
    for asset, total in totals.items():
        assert (
            sum(line["posted"] for line in tb["lines"] if line["asset"] == asset) == total["posted"]
        )
    members_line = next(line for line in tb["lines"] if line["kind"] == "member")
    assert (members_line["accounts"], members_line["posted"]) == (2, 13)

    entries = village.entries()
    verification = ok(client.get(f"/v1/villages/{village.id}/verification"))
    assert verification["is_intact"] is True
    assert verification["entries_checked"] == len(entries) == 5
    assert verification["last_seq"] == entries[0]["seq"]
    assert verification["first_break"] is None and verification["balance_mismatches"] == []


def test_empty_books_verify(client: TestClient, village: Village) -> None:
    verification = ok(client.get(f"/v1/villages/{village.id}/verification"))
    assert (verification["is_intact"], verification["entries_checked"]) == (True, 0)
    assert ok(client.get(f"/v1/villages/{village.id}/trial-balance"))["is_balanced"] is True
