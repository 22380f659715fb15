"""Mini-program friction (issue #13): a binding's history and balances default to the
holder the charter awards to; binding by a platform-verified phone number; rotating a
client's secret without downtime; household events name the member who acted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.main import create_app
from jifen.models import OAuthClient, OutboxEvent
from tests.api.helpers import (
    create_household,
    create_member,
    create_village,
    local_noon,
    local_today,
    ok,
    problem,
    validation_failed,
)
from tests.api.test_charters_api import _group_leader_role, _key, _publish, _village

SCOPES = ["members:read", "members:bind", "balances:read"]


def _register(client: TestClient, township_id: str) -> dict[str, Any]:
    body = {"township_id": township_id, "name": "积分小程序", "scopes": SCOPES}
    return ok(client.post("/v1/clients", json=body), 201)  # type: ignore[no-any-return]


def _token_answer(client: TestClient, client_id: str, secret: str) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )


def _bearer(client: TestClient, app: dict[str, Any]) -> dict[str, str]:
    answer = _token_answer(client, app["client_id"], app["client_secret"])
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _bind_with_code(
    client: TestClient, member_id: str, headers: dict[str, str], user_ref: str
) -> dict[str, Any]:
    code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
    body = {"user_ref": user_ref, "code": code}
    return ok(client.post("/v1/bindings", json=body, headers=headers), 201)  # type: ignore[no-any-return]


# --- the default holder -------------------------------------------------------------------


def test_a_household_village_shows_the_households_points_by_default(
    client: TestClient, db: Database
) -> None:
    village, household_id, member_id = _village(client)
    _group_leader_role(client, village)
    _publish(client, village["id"])  # points_holder: household
    clerk = {"Authorization": f"Bearer {_key(db, village, 'village_clerk')}"}
    yesterday = local_noon(client, local_today(client) - timedelta(days=1))
    record = {"rule_id": "labor_hour", "member_id": member_id, "quantity": "3"}
    ok(
        client.post(
            f"/v1/villages/{village['id']}/records",
            json={**record, "occurred_at": yesterday},
            headers=clerk,
        ),
        201,
    )
    app = _register(client, village["township_id"])
    headers = _bearer(client, app)
    binding = _bind_with_code(client, member_id, headers, "openid-household")
    base = f"/v1/bindings/{binding['id']}"

    history = ok(client.get(f"{base}/history", headers=headers))
    assert [line["amount"] for line in history["items"]] == [6]
    balances = ok(client.get(f"{base}/balances", headers=headers))
    assert [(b["holder"], b["is_default"], b["posted"]) for b in balances] == [
        ("household", True, 6),
        ("member", False, 0),
    ]
    # An explicit holder still chooses.
    member_history = ok(client.get(f"{base}/history?holder=member", headers=headers))
    assert member_history["items"] == []
    only = ok(client.get(f"{base}/balances?holder=member", headers=headers))
    assert [b["holder"] for b in only] == ["member"]
    validation_failed(client.get(f"{base}/history?holder=village", headers=headers))

    # The household's event names the member who acted, masked.
    with db.unit_of_work(write=False) as session:
        payloads = [
            e.payload
            for e in session.execute(select(OutboxEvent).order_by(OutboxEvent.seq)).scalars()
            if e.type == "points.earned" and e.village_id is not None
        ]
    member = ok(client.get(f"/v1/members/{member_id}"))
    household_events = [p for p in payloads if p["household_id"] == household_id]
    assert household_events, payloads
    for payload in household_events:
        assert payload["acting_member_id"] == member_id
        name = member["name"]
        assert payload["acting_member_name"][0] == name[0]
        assert "*" in payload["acting_member_name"] or len(name) == 1


def test_a_village_without_a_household_charter_defaults_to_the_member(
    client: TestClient,
) -> None:
    village = create_village(client)
    household = create_household(client, village["id"])
    member = create_member(
        client, village["id"], household_id=household["id"], joined_on="2026-01-01"
    )
    app = _register(client, village["township_id"])
    headers = _bearer(client, app)
    binding = _bind_with_code(client, member["id"], headers, "openid-member")
    balances = ok(client.get(f"/v1/bindings/{binding['id']}/balances", headers=headers))
    assert [(b["holder"], b["is_default"]) for b in balances] == [
        ("member", True),
        ("household", False),
    ]
    history = ok(client.get(f"/v1/bindings/{binding['id']}/history", headers=headers))
    assert history["account_id"] == balances[0]["account_id"]


# --- binding by phone ---------------------------------------------------------------------


def test_binding_by_a_verified_phone_number(client: TestClient) -> None:
    village = create_village(client)
    sibling = create_village(client, village["township_id"])
    elsewhere = create_village(client)  # another township
    alice = create_member(client, village["id"], phone="138-0013-8000")
    create_member(client, village["id"], phone="13900139000")
    create_member(client, sibling["id"], phone="13900139000")  # shared across villages
    create_member(client, elsewhere["id"], phone="13700137000")
    gone = create_member(client, village["id"], phone="13600136000")
    ok(
        client.post(
            f"/v1/members/{gone['id']}/deactivation",
            json={"on": date.today().isoformat(), "reason": "moved_away"},
        )
    )
    app = _register(client, village["township_id"])
    headers = _bearer(client, app)

    def bind(user_ref: str, phone: str) -> Any:
        return client.post(
            "/v1/bindings", json={"user_ref": user_ref, "phone": phone}, headers=headers
        )

    # As the platform passes it on: with the country code.
    binding = ok(bind("openid-a", "+86 13800138000"), 201)
    assert binding["member_id"] == alice["id"]
    assert ok(bind("openid-a", "13800138000"), 201)["id"] == binding["id"]  # again: the same
    problem(bind("openid-b", "13900139000"), 409, "phone_ambiguous")
    problem(bind("openid-c", "13700137000"), 422, "phone_not_matched")  # another township
    problem(bind("openid-d", "13600136000"), 422, "phone_not_matched")  # deactivated
    problem(bind("openid-e", "13500135000"), 422, "phone_not_matched")
    validation_failed(bind("openid-f", "call me"))
    code = ok(client.post(f"/v1/members/{alice['id']}/binding-codes"), 201)["secret"]
    problem(
        client.post(
            "/v1/bindings",
            json={"user_ref": "openid-g", "phone": "13800138000", "code": code},
            headers=headers,
        ),
        422,
        "validation_failed",
    )


@pytest.fixture
def tight_binding(settings: Settings, db: Database, admin_key: str) -> Iterator[TestClient]:
    tight = settings.model_copy(update={"binding_rate_limit": "3/minute"})
    with TestClient(
        create_app(tight, db),
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {admin_key}"},
    ) as http:
        yield http


def test_phone_attempts_are_throttled_with_codes(tight_binding: TestClient) -> None:
    client = tight_binding
    village = create_village(client)
    member = create_member(client, village["id"])
    app = _register(client, village["township_id"])
    headers = _bearer(client, app)
    code = ok(client.post(f"/v1/members/{member['id']}/binding-codes"), 201)["secret"]
    guesses = [{"phone": f"1380013800{i}"} for i in range(2)] + [{"code": "WRONG-CODE"}]
    for guess in guesses:
        answer = client.post("/v1/bindings", json={"user_ref": "u", **guess}, headers=headers)
        assert answer.status_code == 422, answer.text
    refused = client.post("/v1/bindings", json={"user_ref": "u", "code": code}, headers=headers)
    problem(refused, 429, "rate_limited")


# --- rotating a client's secret -----------------------------------------------------------


def test_a_client_secret_is_rotated_without_downtime(client: TestClient, db: Database) -> None:
    village = create_village(client)
    app = _register(client, village["township_id"])
    first = app["client_secret"]
    url = f"/v1/clients/{app['id']}/secret-rotations"

    rotated = ok(client.post(url, json={}), 201)
    second = rotated["client_secret"]
    assert second != first and rotated["client_id"] == app["client_id"]
    expires = rotated["previous_secret_expires_at"]
    assert expires is not None
    # Both work during the grace period (24 h by default).
    for secret in (first, second):
        assert _token_answer(client, app["client_id"], secret).status_code == 200
    assert _token_answer(client, app["client_id"], "wrong").status_code == 401

    # When the grace period is over, the old one stops.
    with db.unit_of_work() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == app["client_id"])
            .values(previous_secret_expires_at=utc_now() - timedelta(seconds=1))
        )
    assert _token_answer(client, app["client_id"], first).status_code == 401
    assert _token_answer(client, app["client_id"], second).status_code == 200

    # A rotation with no grace at all; and one past the maximum is refused.
    third = ok(client.post(url, json={"grace_seconds": 0}), 201)
    assert third["previous_secret_expires_at"] is None
    assert _token_answer(client, app["client_id"], second).status_code == 401
    assert _token_answer(client, app["client_id"], third["client_secret"]).status_code == 200
    problem(client.post(url, json={"grace_seconds": 8 * 24 * 3600}), 422, "grace_too_long")
    validation_failed(client.post(url, json={"grace_seconds": -1}))

    # A second rotation ends the first one's grace at once: only the last two secrets.
    fourth = ok(client.post(url, json={"grace_seconds": 3600}), 201)
    fifth = ok(client.post(url, json={"grace_seconds": 3600}), 201)
    assert _token_answer(client, app["client_id"], third["client_secret"]).status_code == 401
    for secret in (fourth["client_secret"], fifth["client_secret"]):
        assert _token_answer(client, app["client_id"], secret).status_code == 200

    # Secrets are never kept for an idempotent replay, and a revoked client stays revoked.
    ok(client.post(f"/v1/clients/{app['id']}/revocation"))
    problem(client.post(url, json={}), 403, "forbidden")
