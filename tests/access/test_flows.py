"""Access control end to end over HTTP: API keys, roles as data, OAuth2 clients and their
tokens, member binding, cashiers and clerks, residents, rate limits and the audit trail."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import credentials
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.main import create_app
from jifen.models import ApiKey, IdempotencyRecord, MemberCredential, OAuthClient
from tests.api.helpers import Village, make_village, ok, post_entry, problem

BEARER = "Authorization"


def _as(key: str) -> dict[str, str]:
    return {BEARER: f"Bearer {key}"}


def _user_with_role(
    client: TestClient, village: Village, role_code: str, *, on_village: bool = True, **extra
) -> tuple[dict, str]:  # type: ignore[type-arg,no-untyped-def]
    """A user of the village (or its township) holding one built-in role, and their key."""
    body = {"name": role_code, "township_id": village.township_id, **extra}
    if on_village:
        body["village_id"] = village.id
    user = ok(client.post("/v1/users", json=body), 201)
    roles = ok(client.get("/v1/roles", params={"township_id": village.township_id}))
    role_id = next(r["id"] for r in roles if r["code"] == role_code)
    ok(client.post(f"/v1/users/{user['id']}/grants", json={"role_id": role_id}), 201)
    key = ok(client.post(f"/v1/users/{user['id']}/api-keys", json={"name": "钥匙"}), 201)
    return user, key["key"]


# --- API keys -----------------------------------------------------------------------------


def test_api_key_is_shown_once_stored_hashed_and_revocable(
    client: TestClient, village: Village, db: Database
) -> None:
    user, key = _user_with_role(client, village, "village_clerk")
    prefix = "_".join(key.split("_")[:2])
    assert key.startswith("jfk_") and len(key) > 40

    listed = ok(client.get(f"/v1/users/{user['id']}/api-keys"))
    assert [k["prefix"] for k in listed] == [prefix]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is None
    with db.unit_of_work(write=False) as session:
        stored = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one()
        assert stored.secret_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in repr(stored.__dict__)

    me = ok(client.get("/v1/me", headers=_as(key)))
    assert me["principal_id"] == user["id"] and me["grants"][0]["role"] == "village_clerk"
    used = ok(client.get(f"/v1/users/{user['id']}/api-keys"))[0]["last_used_at"]
    assert used is not None

    # A wrong secret with the right prefix is refused.
    problem(client.get("/v1/me", headers=_as(prefix + "_wrong")), 401, "unauthenticated")

    ok(client.post(f"/v1/api-keys/{listed[0]['id']}/revocation"))
    refused = client.get("/v1/me", headers=_as(key))
    problem(refused, 401, "unauthenticated")
    assert "revoked" in refused.json()["detail"]


def test_disabled_user_cannot_use_their_key(client: TestClient, village: Village) -> None:
    user, key = _user_with_role(client, village, "village_clerk")
    ok(client.patch(f"/v1/users/{user['id']}", json={"disabled": True}))
    problem(client.get("/v1/me", headers=_as(key)), 401, "unauthenticated")
    ok(client.patch(f"/v1/users/{user['id']}", json={"disabled": False}))
    ok(client.get("/v1/me", headers=_as(key)))


# --- who may book what --------------------------------------------------------------------


def test_cashier_redeems_and_refunds_but_cannot_award(client: TestClient, village: Village) -> None:
    _, account = village.member()
    ok(post_entry(client, village.id, [(village.issuance, -20), (account, 20)]), 201)
    _, cashier = _user_with_role(client, village, "supermarket_cashier")

    award = post_entry(
        client, village.id, [(village.issuance, -5), (account, 5)], headers=_as(cashier)
    )
    assert problem(award, 403, "forbidden")["detail"].endswith("points:award here")
    # Calling it a redemption changes nothing: the shape decides.
    disguised = post_entry(
        client,
        village.id,
        [(village.issuance, -5), (account, 5)],
        code="redemption",
        headers=_as(cashier),
    )
    problem(disguised, 403, "forbidden")

    sale = ok(
        post_entry(
            client,
            village.id,
            [(account, -8), (village.supermarket, 8)],
            code="redemption",
            headers=_as(cashier),
        ),
        201,
    )
    refund = client.post(
        f"/v1/entries/{sale['id']}/reversals", json={"reason": "退货"}, headers=_as(cashier)
    )
    ok(refund, 201)
    # But reversing an award is a clerk's (entries:reverse), not a cashier's refund.
    first = village.entries()[-1]
    problem(
        client.post(
            f"/v1/entries/{first['id']}/reversals", json={"reason": "x"}, headers=_as(cashier)
        ),
        403,
        "forbidden",
    )


def test_finance_books_money_but_not_points(client: TestClient, village: Village) -> None:
    _, account = village.member()
    _, finance = _user_with_role(client, village, "township_finance", on_village=False)
    deposit = post_entry(
        client,
        village.id,
        [(village.funding, -50000), (village.fund, 50000)],
        code="fund_deposit",
        headers=_as(finance),
    )
    ok(deposit, 201)
    points = post_entry(
        client, village.id, [(village.issuance, -5), (account, 5)], headers=_as(finance)
    )
    problem(points, 403, "forbidden")


def test_clerk_of_one_village_cannot_see_another(client: TestClient, village: Village) -> None:
    other = make_village(client)
    _, account_elsewhere = other.member()
    _, clerk = _user_with_role(client, village, "village_clerk")
    problem(client.get(f"/v1/accounts/{account_elsewhere}", headers=_as(clerk)), 404, "not_found")
    problem(
        post_entry(
            client, other.id, [(other.issuance, -1), (account_elsewhere, 1)], headers=_as(clerk)
        ),
        404,
        "not_found",
    )
    listed = ok(client.get("/v1/townships", headers=_as(clerk)))["items"]
    assert [t["id"] for t in listed] == [village.township_id]


def test_resident_sees_only_their_own_household(client: TestClient, village: Village) -> None:
    household = ok(
        client.post(
            "/v1/households", json={"village_id": village.id, "number": "9", "name": "王家"}
        ),
        201,
    )
    me = ok(
        client.post(
            "/v1/members",
            json={"village_id": village.id, "name": "王大妈", "household_id": household["id"]},
        ),
        201,
    )
    spouse = ok(
        client.post(
            "/v1/members",
            json={"village_id": village.id, "name": "王大爷", "household_id": household["id"]},
        ),
        201,
    )
    neighbour_id, neighbour_account = village.member()
    _, resident = _user_with_role(client, village, "resident", member_id=me["id"])

    ok(client.get(f"/v1/members/{me['id']}", headers=_as(resident)))
    ok(client.get(f"/v1/households/{household['id']}", headers=_as(resident)))
    ok(client.get(f"/v1/members/{spouse['id']}", headers=_as(resident)))
    problem(client.get(f"/v1/members/{neighbour_id}", headers=_as(resident)), 403, "forbidden")
    problem(
        client.get(f"/v1/accounts/{neighbour_account}/balance", headers=_as(resident)),
        403,
        "forbidden",
    )
    problem(
        client.get("/v1/members", params={"village_id": village.id}, headers=_as(resident)),
        403,
        "forbidden",
    )


# --- roles as data ------------------------------------------------------------------------


def test_village_defines_a_group_leader_role_and_cannot_escalate(
    client: TestClient, village: Village
) -> None:
    _, clerk = _user_with_role(client, village, "village_clerk")
    leader_role = ok(
        client.post(
            "/v1/roles",
            json={
                "township_id": village.township_id,
                "village_id": village.id,
                "code": "group_leader",
                "label": "组长",
                "scope": "village",
                "permissions": ["tenancy:read", "balances:read", "points:award"],
            },
            headers=_as(clerk),
        ),
        201,
    )
    # A clerk cannot make a role with powers they do not hold themselves...
    escalated = client.post(
        "/v1/roles",
        json={
            "township_id": village.township_id,
            "village_id": village.id,
            "code": "fixer",
            "label": "万能",
            "scope": "village",
            "permissions": ["points:award", "books:verify", "funds:write"],
        },
        headers=_as(clerk),
    )
    assert problem(escalated, 403, "permission_not_held")["missing"] == [
        "books:verify",
        "funds:write",
    ]
    # ... nor grant a built-in role whose powers they lack.
    leader = ok(
        client.post(
            "/v1/users",
            json={"name": "三组组长", "township_id": village.township_id, "village_id": village.id},
            headers=_as(clerk),
        ),
        201,
    )
    roles = ok(client.get("/v1/roles", params={"village_id": village.id}, headers=_as(clerk)))
    cashier_role = next(r for r in roles if r["code"] == "supermarket_cashier")
    problem(
        client.post(
            f"/v1/users/{leader['id']}/grants",
            json={"role_id": cashier_role["id"]},
            headers=_as(clerk),
        ),
        403,
        "permission_not_held",
    )
    ok(
        client.post(
            f"/v1/users/{leader['id']}/grants",
            json={"role_id": leader_role["id"]},
            headers=_as(clerk),
        ),
        201,
    )
    key = ok(
        client.post(
            f"/v1/users/{leader['id']}/api-keys", json={"name": "组长手机"}, headers=_as(clerk)
        ),
        201,
    )["key"]
    _, account = village.member()
    ok(
        post_entry(client, village.id, [(village.issuance, -2), (account, 2)], headers=_as(key)),
        201,
    )
    problem(
        client.get(f"/v1/villages/{village.id}/trial-balance", headers=_as(key)), 403, "forbidden"
    )

    # Taking a permission away from the role takes it from everyone holding it.
    ok(
        client.patch(
            f"/v1/roles/{leader_role['id']}",
            json={"permissions": ["tenancy:read", "balances:read"]},
            headers=_as(clerk),
        )
    )
    problem(
        post_entry(client, village.id, [(village.issuance, -2), (account, 2)], headers=_as(key)),
        403,
        "forbidden",
    )


def test_a_clerk_cannot_take_over_a_user_with_more_powers(
    client: TestClient, village: Village
) -> None:
    """A township official living in the clerk's village is still out of the clerk's reach:
    a key for them, or their password, would be their powers."""
    official, _ = _user_with_role(client, village, "township_finance")
    _, clerk = _user_with_role(client, village, "village_clerk")
    assert official["village_id"] == village.id
    problem(
        client.post(
            f"/v1/users/{official['id']}/api-keys", json={"name": "偷"}, headers=_as(clerk)
        ),
        403,
        "permission_not_held",
    )
    problem(
        client.patch(f"/v1/users/{official['id']}", json={"disabled": True}, headers=_as(clerk)),
        403,
        "permission_not_held",
    )
    [key] = ok(client.get(f"/v1/users/{official['id']}/api-keys"))
    problem(
        client.post(f"/v1/api-keys/{key['id']}/revocation", headers=_as(clerk)),
        403,
        "permission_not_held",
    )
    # A peer with no more powers than the clerk is within reach.
    peer, _ = _user_with_role(client, village, "supermarket_cashier")
    problem(  # ...except for powers the clerk lacks (points:redeem)
        client.post(f"/v1/users/{peer['id']}/api-keys", json={"name": "x"}, headers=_as(clerk)),
        403,
        "permission_not_held",
    )
    plain = ok(
        client.post(
            "/v1/users",
            json={"name": "新人", "township_id": village.township_id, "village_id": village.id},
            headers=_as(clerk),
        ),
        201,
    )
    ok(
        client.post(f"/v1/users/{plain['id']}/api-keys", json={"name": "x"}, headers=_as(clerk)),
        201,
    )


def test_built_in_roles_cannot_be_changed_over_the_api(client: TestClient) -> None:
    roles = ok(client.get("/v1/roles"))
    clerk = next(r for r in roles if r["code"] == "village_clerk")
    problem(client.patch(f"/v1/roles/{clerk['id']}", json={"label": "x"}), 403, "forbidden")


def test_village_role_granted_on_a_township_is_refused(
    client: TestClient, village: Village
) -> None:
    user = ok(client.post("/v1/users", json={"name": "x", "township_id": village.township_id}), 201)
    roles = ok(client.get("/v1/roles"))
    admin_role = next(r for r in roles if r["code"] == "township_admin")
    clerk_role = next(r for r in roles if r["code"] == "village_clerk")
    problem(
        client.post(f"/v1/users/{user['id']}/grants", json={"role_id": clerk_role["id"]}),
        422,
        "role_scope_mismatch",
    )
    problem(
        client.post(
            f"/v1/users/{user['id']}/grants",
            json={"role_id": admin_role["id"], "village_id": village.id},
        ),
        422,
        "role_scope_mismatch",
    )


# --- OAuth2 clients, tokens, bindings -----------------------------------------------------


@pytest.fixture
def mini_program(client: TestClient, village: Village) -> dict:  # type: ignore[type-arg]
    return ok(
        client.post(
            "/v1/clients",
            json={
                "township_id": village.township_id,
                "name": "清泉积分小程序",
                "scopes": ["members:read", "members:bind", "balances:read"],
            },
        ),
        201,
    )


def _token(client: TestClient, app: dict, **form: str) -> dict:  # type: ignore[type-arg]
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers={BEARER: f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def test_token_endpoint_follows_rfc_6749(client: TestClient, mini_program: dict) -> None:  # type: ignore[type-arg]
    token = _token(client, mini_program)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    assert token["scope"] == "balances:read members:bind members:read"
    narrowed = _token(client, mini_program, scope="balances:read")
    assert narrowed["scope"] == "balances:read"

    # Secret in the form instead of Basic.
    form = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": mini_program["client_id"],
            "client_secret": mini_program["client_secret"],
        },
        headers={BEARER: ""},
    )
    assert form.status_code == 200

    def error(data: dict, status: int, code: str, auth: str | None = None) -> None:  # type: ignore[type-arg]
        response = client.post("/oauth/token", data=data, headers={BEARER: auth or ""})
        assert response.status_code == status, response.text
        assert response.json()["error"] == code

    creds = {"client_id": mini_program["client_id"], "client_secret": mini_program["client_secret"]}
    error({"grant_type": "password", **creds}, 400, "unsupported_grant_type")
    error(creds, 400, "invalid_request")
    error(
        {"grant_type": "client_credentials", **creds, "client_secret": "wrong"},
        401,
        "invalid_client",
    )
    error({"grant_type": "client_credentials"}, 401, "invalid_client")
    error(
        {"grant_type": "client_credentials", **creds, "scope": "catalog:read"}, 400, "invalid_scope"
    )


def test_tokens_expire_and_die_with_their_client(
    client: TestClient,
    mini_program: dict,
    db: Database,  # type: ignore[type-arg]
) -> None:
    token = _token(client, mini_program)["access_token"]
    ok(client.get("/v1/me", headers=_as(token)))
    with db.unit_of_work() as session:
        key = credentials.signing_key(session, utc_now())
        principal = session.execute(
            select(OAuthClient.principal_id).where(
                OAuthClient.client_id == mini_program["client_id"]
            )
        ).scalar_one()
    past = utc_now() - timedelta(hours=1)
    stale = credentials.issue_token(
        key, subject=principal, client_id="x", scopes=["members:read"], now=past, ttl=60
    )
    problem(client.get("/v1/me", headers=_as(stale)), 401, "unauthenticated")
    forged = jwt.encode(
        {"sub": str(principal), "aud": "jifen", "iss": "jifen", "exp": time.time() + 60},
        b"not-our-key" * 3,
        algorithm="HS256",
    )
    problem(client.get("/v1/me", headers=_as(forged)), 401, "unauthenticated")

    ok(client.post(f"/v1/clients/{mini_program['id']}/revocation"))
    problem(client.get("/v1/me", headers=_as(token)), 401, "unauthenticated")


def test_client_binds_a_member_with_a_one_time_code_and_reads_their_points(
    client: TestClient,
    village: Village,
    mini_program: dict,
    db: Database,  # type: ignore[type-arg]
) -> None:
    member_id, account = village.member()
    ok(
        post_entry(client, village.id, [(village.issuance, -12), (account, 12)], memo="义务劳动"),
        201,
    )
    issued = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)
    assert issued["kind"] == "code" and issued["expires_at"] is not None
    token = _token(client, mini_program)["access_token"]
    app = _as(token)

    # The code as typed on a phone: lower case, no dash.
    typed = issued["secret"].replace("-", "").lower()
    binding = ok(
        client.post("/v1/bindings", json={"user_ref": "openid-1", "code": typed}, headers=app),
        201,
    )
    assert binding["member_id"] == member_id
    # Used once: the same code cannot bind another user.
    problem(
        client.post("/v1/bindings", json={"user_ref": "openid-2", "code": typed}, headers=app),
        422,
        "credential_rejected",
    )
    with db.unit_of_work(write=False) as session:
        stored = session.execute(select(MemberCredential.secret_hash)).scalars().all()
        assert credentials.digest(issued["secret"]) in stored

    balances = ok(client.get(f"/v1/bindings/{binding['id']}/balances", headers=app))
    assert [(b["holder"], b["posted"]) for b in balances] == [("member", 12)]
    history = ok(client.get(f"/v1/bindings/{binding['id']}/history", headers=app))
    assert [(line["amount"], line["memo"]) for line in history["items"]] == [(12, "义务劳动")]
    found = ok(client.get("/v1/bindings", params={"user_ref": "openid-1"}, headers=app))
    assert [b["id"] for b in found] == [binding["id"]]

    # The client reads its bound members only, and nothing else of the village.
    problem(client.get(f"/v1/accounts/{account}/balance", headers=app), 403, "forbidden")
    ok(client.delete(f"/v1/bindings/{binding['id']}", headers=app))
    problem(client.get(f"/v1/bindings/{binding['id']}/balances", headers=app), 404, "not_found")


def test_binding_with_a_card_and_its_refusals(
    client: TestClient,
    village: Village,
    mini_program: dict,  # type: ignore[type-arg]
) -> None:
    member_id, _ = village.member()
    other_member, _ = village.member()
    card = ok(client.post(f"/v1/members/{member_id}/card"), 201)["secret"]
    app = _as(_token(client, mini_program)["access_token"])
    first = ok(
        client.post("/v1/bindings", json={"user_ref": "u1", "card_token": card}, headers=app), 201
    )
    # Binding again is harmless (a retry); a card is not used up.
    again = ok(
        client.post("/v1/bindings", json={"user_ref": "u1", "card_token": card}, headers=app), 201
    )
    assert again["id"] == first["id"]
    other_card = ok(client.post(f"/v1/members/{other_member}/card"), 201)["secret"]
    problem(
        client.post("/v1/bindings", json={"user_ref": "u1", "card_token": other_card}, headers=app),
        409,
        "binding_conflict",
    )
    # A new card revokes the old one.
    ok(client.post(f"/v1/members/{member_id}/card"), 201)
    problem(
        client.post("/v1/bindings", json={"user_ref": "u9", "card_token": card}, headers=app),
        422,
        "credential_rejected",
    )
    problem(
        client.post("/v1/bindings", json={"user_ref": "u9", "code": "AAAAA-BBBBB"}, headers=app),
        422,
        "credential_rejected",
    )
    problem(
        client.post("/v1/bindings", json={"user_ref": "u9"}, headers=app), 422, "validation_failed"
    )


def test_client_of_another_township_cannot_bind_or_read(
    client: TestClient,
    village: Village,
    mini_program: dict,  # type: ignore[type-arg]
) -> None:
    member_id, _ = village.member()
    elsewhere = make_village(client)
    stranger = ok(
        client.post(
            "/v1/clients",
            json={
                "township_id": elsewhere.township_id,
                "name": "别镇",
                "scopes": ["members:bind", "members:read"],
            },
        ),
        201,
    )
    code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
    strange = _as(_token(client, stranger)["access_token"])
    problem(
        client.post("/v1/bindings", json={"user_ref": "x", "code": code}, headers=strange),
        422,
        "credential_rejected",
    )
    mine = _as(_token(client, mini_program)["access_token"])
    binding = ok(
        client.post("/v1/bindings", json={"user_ref": "x", "code": code}, headers=mine), 201
    )
    problem(client.get(f"/v1/bindings/{binding['id']}", headers=strange), 404, "not_found")


def test_token_scope_limits_the_client(
    client: TestClient,
    village: Village,
    mini_program: dict,  # type: ignore[type-arg]
) -> None:
    member_id, _ = village.member()
    code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
    read_only = _as(_token(client, mini_program, scope="members:read")["access_token"])
    problem(
        client.post("/v1/bindings", json={"user_ref": "x", "code": code}, headers=read_only),
        403,
        "forbidden",
    )


# --- rate limits --------------------------------------------------------------------------


@pytest.fixture
def tight_client(settings: Settings, db: Database, admin_key: str) -> Iterator[TestClient]:
    tight = settings.model_copy(update={"rate_limit": "5/minute", "token_rate_limit": "3/minute"})
    with TestClient(
        create_app(tight, db), raise_server_exceptions=False, headers=_as(admin_key)
    ) as http:
        yield http


def test_rate_limit_per_key_answers_429_with_retry_after(tight_client: TestClient) -> None:
    for _ in range(5):
        ok(tight_client.get("/v1/me"))
    refused = tight_client.get("/v1/me")
    body = problem(refused, 429, "rate_limited")
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60 and body["retry_after"] == retry_after


def test_token_endpoint_is_rate_limited_per_client(tight_client: TestClient) -> None:
    data = {"grant_type": "client_credentials", "client_id": "jfcl_nobody", "client_secret": "x"}
    for _ in range(3):
        assert tight_client.post("/oauth/token", data=data, headers={BEARER: ""}).status_code == 401
    refused = tight_client.post("/oauth/token", data=data, headers={BEARER: ""})
    assert refused.status_code == 429 and "retry-after" in refused.headers


# --- audit --------------------------------------------------------------------------------


def test_every_write_is_audited_with_its_principal(client: TestClient, village: Village) -> None:
    _, clerk = _user_with_role(client, village, "village_clerk")
    clerk_id = ok(client.get("/v1/me", headers=_as(clerk)))["principal_id"]
    _, account = village.member()
    entry = ok(
        post_entry(client, village.id, [(village.issuance, -3), (account, 3)], headers=_as(clerk)),
        201,
    )
    # A refused write leaves no trace in the audit (nothing changed).
    problem(
        post_entry(
            client, village.id, [(account, -99), (village.supermarket, 99)], code="redemption"
        ),
        409,
        "insufficient_points",
    )
    events = ok(
        client.get("/v1/audit-events", params={"village_id": village.id, "principal_id": clerk_id})
    )["items"]
    assert [(e["action"], e["method"], e["path"]) for e in events] == [
        ("create_entry", "POST", "/v1/entries")
    ]
    assert events[0]["target"]["result_id"] == entry["id"]
    assert events[0]["village_id"] == village.id and events[0]["principal_name"] == "village_clerk"

    everything = ok(client.get("/v1/audit-events", params={"township_id": village.township_id}))
    actions = [e["action"] for e in everything["items"]]
    assert {"create_village", "create_user", "create_grant", "create_api_key"} <= set(actions)
    _, auditor = _user_with_role(client, village, "auditor", on_village=False)
    ok(client.get("/v1/audit-events", params={"village_id": village.id}, headers=_as(auditor)))
    problem(
        client.get("/v1/audit-events", params={"village_id": village.id}, headers=_as(clerk)),
        403,
        "forbidden",
    )


def test_unknown_ids_are_ordinary_not_found(client: TestClient) -> None:
    problem(client.get(f"/v1/users/{uuid.uuid4()}"), 404, "not_found")


def test_secrets_are_never_kept_for_idempotent_replays(
    client: TestClient, village: Village, db: Database
) -> None:
    user = ok(
        client.post(
            "/v1/users",
            json={"name": "收银台", "township_id": village.township_id, "village_id": village.id},
        ),
        201,
    )
    retry = {"Idempotency-Key": "till-key-1"}
    first = ok(
        client.post(f"/v1/users/{user['id']}/api-keys", json={"name": "收银台"}, headers=retry),
        201,
    )
    again = client.post(f"/v1/users/{user['id']}/api-keys", json={"name": "收银台"}, headers=retry)
    body = problem(again, 409, "secret_shown_once")
    assert body["resource_id"] == first["id"] and again.headers["idempotent-replayed"] == "true"
    assert len(ok(client.get(f"/v1/users/{user['id']}/api-keys"))) == 1  # made once
    member_id, _ = village.member()
    code = ok(
        client.post(f"/v1/members/{member_id}/binding-codes", headers={"Idempotency-Key": "c1"}),
        201,
    )["secret"]
    with db.unit_of_work(write=False) as session:
        stored = b"".join(session.execute(select(IdempotencyRecord.response_body)).scalars())
    assert first["key"].encode() not in stored and code.encode() not in stored


def test_nothing_to_hide_about_the_platform(client: TestClient, village: Village) -> None:
    _, clerk = _user_with_role(client, village, "village_clerk")
    refused = client.post("/v1/townships", json={"code": "x", "name": "x"}, headers=_as(clerk))
    assert "townships:create" in problem(refused, 403, "forbidden")["detail"]
