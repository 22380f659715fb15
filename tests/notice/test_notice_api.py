"""Public notice (公示) through the HTTP API: lists, objections, decisions, late appeals,
the three-part balance, mini-program objections, events and permissions.

清泉村 (tests/notice/world.py): 志愿服务 (contribution, 2 points an hour) is listed
`before`; 公共区域清扫 (sanitation, 3 points) `after`. A month's list opens on the 25th of
the next month for 7 days (June's: open 25 Jul - 31 Jul, closes 1 Aug, late appeals until
the end of 31 Aug); the village clerk decides. Household A (张家: 张三 a1, 张小梅 a2) holds
the points. Every balance below is worked out by hand in the comments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import service as access
from jifen.access.permissions import ClientScope
from jifen.api.deps import get_clock
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.main import create_app
from jifen.models import OAuthClient, OutboxEvent, Township
from jifen.notice import service as notice
from tests.api.helpers import ok, problem
from tests.factories import make_member, make_village
from tests.notice.world import notice_world
from tests.records.world import LEADER, World, at


class Now:
    """The clock every request sees (time is injected: nothing waits on the wall)."""

    def __init__(self) -> None:
        self.now = at(2026, 6, 15)


@pytest.fixture
def world(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> World:
    return notice_world(db, settings, monkeypatch)


@pytest.fixture
def now() -> Now:
    return Now()


def _key(db: Database, world: World, role_code: str, *, village_id: uuid.UUID | None) -> str:
    with db.unit_of_work() as session:
        roles = {
            r.code: r.id for r in access.list_roles(session, township_id=None, village_id=None)
        }
        user = access.create_user(
            session,
            name=role_code,
            township_id=world.township_id,
            village_id=village_id,
            created_by="test",
            now=utc_now(),
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=roles[role_code],
            village_id=village_id,
            created_by="test",
            now=utc_now(),
        )
        _row, token = access.create_api_key(
            session, user_id=user.id, name=role_code, created_by="test", now=utc_now()
        )
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app_client(settings: Settings, db: Database, now: Now) -> Iterator[TestClient]:
    app = create_app(settings, db)
    app.dependency_overrides[get_clock] = lambda: ledger.Clock(now=now.now, settings=settings)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


class Api:
    """The clerk's (and others') calls, each with its own key."""

    def __init__(self, http: TestClient, world: World, db: Database) -> None:
        self.http = http
        self.world = world
        village_id = world.village_id
        self.clerk = _bearer(_key(db, world, "village_clerk", village_id=village_id))
        self.cashier = _bearer(_key(db, world, "supermarket_cashier", village_id=village_id))
        self.township_admin = {
            "Authorization": f"Bearer {_key(db, world, 'township_admin', village_id=None)}"
        }

    def volunteer(self, member: uuid.UUID, when: datetime, hours: int) -> dict[str, Any]:
        body = {
            "rule_id": "volunteer",
            "member_id": str(member),
            "quantity": str(hours),
            "occurred_at": when.isoformat(),
            "evidence": [
                {"kind": "photo", "ref": "https://files.example/volunteer.jpg"},
                {"kind": "witness", "ref": "村民代表 刘"},
            ],
        }
        url = f"/v1/villages/{self.world.village_id}/records"
        return ok(self.http.post(url, json=body, headers=self.clerk), 201)  # type: ignore[no-any-return]

    def cleaning(self, member: uuid.UUID, when: datetime) -> dict[str, Any]:
        body = {
            "rule_id": "public_cleaning",
            "member_id": str(member),
            "occurred_at": when.isoformat(),
        }
        url = f"/v1/villages/{self.world.village_id}/records"
        return ok(self.http.post(url, json=body, headers=self.clerk), 201)  # type: ignore[no-any-return]

    def lists(self, **params: str) -> list[dict[str, Any]]:
        url = f"/v1/villages/{self.world.village_id}/notice-lists"
        return ok(self.http.get(url, params=params, headers=self.clerk))["items"]  # type: ignore[no-any-return]

    def notice_list(self, list_id: str) -> dict[str, Any]:
        return ok(self.http.get(f"/v1/notice-lists/{list_id}", headers=self.clerk))  # type: ignore[no-any-return]

    def object(self, list_id: str, entry_id: str, *, by: uuid.UUID, headers: Any = None) -> Any:
        body = {"entry_id": entry_id, "raised_by_member_id": str(by), "reason": "没有参加志愿服务"}
        return self.http.post(
            f"/v1/notice-lists/{list_id}/objections", json=body, headers=headers or self.clerk
        )

    def decide(self, objection_id: str, *, upheld: bool, headers: Any = None) -> Any:
        body = {"upheld": upheld, "reason": "经村务监督委员会核实"}
        return self.http.post(
            f"/v1/notice-objections/{objection_id}/decisions",
            json=body,
            headers=headers or self.clerk,
        )

    def balance(self) -> dict[str, Any]:
        account_id = self.world.account_id(AccountKind.HOUSEHOLD, self.world.household_a)
        return ok(self.http.get(f"/v1/accounts/{account_id}/balance", headers=self.clerk))  # type: ignore[no-any-return]

    def split(self) -> tuple[int, int, int, int]:
        """Household A: (posted, available, pending under notice, held by objection)."""
        b = self.balance()
        return b["posted"], b["available"], b["pending_under_notice"], b["held_by_objection"]

    def spend(self, points: int) -> Any:
        account = self.world.account_id(AccountKind.HOUSEHOLD, self.world.household_a)
        shop = self.world.account_id(AccountKind.SUPERMARKET, None)
        body = {
            "village_id": str(self.world.village_id),
            "code": "redemption",
            "postings": [
                {"account_id": str(account), "amount": -points},
                {"account_id": str(shop), "amount": points},
            ],
        }
        return self.http.post("/v1/entries", json=body, headers=self.cashier)

    def tick(self, when: datetime) -> notice.NoticeTickReport:
        return notice.tick(self.world.db, now=when)


@pytest.fixture
def api(app_client: TestClient, world: World, db: Database) -> Api:
    return Api(app_client, world, db)


def _events(db: Database, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(OutboxEvent).where(OutboxEvent.type.like(f"{prefix}%")).order_by(OutboxEvent.seq)
        ).scalars()
        return [(row.type, dict(row.payload)) for row in rows]


def test_before_list_holds_points_until_it_closes_and_an_objection_holds_one_entry(
    api: Api, now: Now, world: World, db: Database
) -> None:
    # June: 张三 3 hours (6 points), 张小梅 2 hours (4 points), both pending on June's list.
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    second = api.volunteer(world.a2, at(2026, 6, 15, 9), 2)
    assert (first["points"], second["points"]) == (6, 4)
    # posted 0, available 0, pending under notice 6 + 4 = 10, held 0.
    assert api.split() == (0, 0, 10, 0)
    assert api.balance()["pending_credits"] == 10
    # Not spendable: a redemption of one point is refused.
    problem(api.spend(1), 409, "insufficient_points")

    [june] = api.lists()
    assert (june["state"], june["opens_on"], june["closes_on"]) == (
        "scheduled",
        "2026-07-25",
        "2026-08-01",
    )
    assert api.lists(state="open") == []
    assert [row["id"] for row in api.lists(period="2026-06")] == [june["id"]]
    assert api.lists(period="2026-07") == []
    # Before it opens there is nothing to object to yet.
    now.now = at(2026, 7, 1)
    problem(api.object(june["id"], first["entry_id"], by=world.b1), 409, "notice_list_not_open")

    # 25 July: the tick opens it; 李四 objects to 张三's 6 points.
    assert api.tick(at(2026, 7, 25, 0, 5)).opened == 1
    now.now = at(2026, 7, 26)
    objection = ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    assert (objection["kind"], objection["state"], objection["raised_by"]) == (
        "objection",
        "open",
        f"member:{world.b1}",
    )
    problem(api.object(june["id"], first["entry_id"], by=world.b1), 409, "objection_already_open")
    # 6 points are held by the objection; 4 still wait for the list to close.
    assert api.split() == (0, 0, 4, 6)

    # 1 August: the list closes. 张小梅's 4 points post; 张三's 6 stay held.
    report = api.tick(at(2026, 8, 1, 0, 5))
    assert (report.closed, report.posted) == (1, 1)
    assert api.split() == (4, 4, 0, 6)
    ok(api.spend(1), 201)  # a point of the posted 4 may now be spent: 3 left
    assert api.split() == (3, 3, 0, 6)
    detail = api.notice_list(june["id"])
    assert detail["state"] == "closed" and detail["head_seq"] is not None
    status = {item["entry_id"]: item["status"] for item in detail["items"]}
    assert status == {first["entry_id"]: "under_objection", second["entry_id"]: "posted"}
    assert [o["id"] for o in detail["objections"]] == [objection["id"]]

    # Only the charter's deciding role (village_clerk) decides: a township admin may not.
    now.now = at(2026, 8, 3)
    problem(
        api.decide(objection["id"], upheld=False, headers=api.township_admin),
        403,
        "objection_decider_not_allowed",
    )
    # Rejected on 3 August (after closing): the 6 points post that day. 3 + 6 = 9.
    decided = ok(api.decide(objection["id"], upheld=False))
    assert (decided["state"], decided["decided_on"], decided["decided_by_role"]) == (
        "rejected",
        "2026-08-03",
        "village_clerk",
    )
    assert api.split() == (9, 9, 0, 0)
    problem(api.decide(objection["id"], upheld=True), 409, "objection_already_decided")
    item = {i["entry_id"]: i for i in api.notice_list(june["id"])["items"]}[first["entry_id"]]
    assert item["status"] == "posted" and item["posted_entry_id"] is not None

    # Events: the list opened and closed, the objection raised and decided.
    lists = _events(db, "notice_list.")
    assert [(t, p["notice_list_id"]) for t, p in lists] == [
        ("notice_list.opened", june["id"]),
        ("notice_list.closed", june["id"]),
    ]
    assert lists[1][1]["posted_entries"] == 1 and lists[1][1]["head_seq"] is not None
    objections = _events(db, "objection.")
    assert [(t, p["objection_id"], p["state"]) for t, p in objections] == [
        ("objection.raised", objection["id"], "open"),
        ("objection.decided", objection["id"], "rejected"),
    ]
    assert objections[0][1]["entry_id"] == first["entry_id"]


def test_an_upheld_objection_voids_the_held_entry(api: Api, now: Now, world: World) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    api.volunteer(world.a2, at(2026, 6, 15, 9), 2)
    [june] = api.lists()
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 27)
    objection = ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    # Upheld while the list is open: the 6 points are voided at once; 4 still pending.
    decided = ok(api.decide(objection["id"], upheld=True))
    assert decided["state"] == "upheld"
    assert api.split() == (0, 0, 4, 0)
    record = ok(api.http.get(f"/v1/records/{first['id']}", headers=api.clerk))
    assert record["status"] == "revoked"
    # The closing posts only the other 4 points.
    api.tick(at(2026, 8, 1, 0, 5))
    assert api.split() == (4, 4, 0, 0)
    status = {i["entry_id"]: i["status"] for i in api.notice_list(june["id"])["items"]}
    assert status[first["entry_id"]] == "voided"
    # A voided entry is no longer objectable (late appeal inside the window).
    now.now = at(2026, 8, 5)
    problem(api.object(june["id"], first["entry_id"], by=world.b1), 409, "entry_not_objectable")


def test_after_mode_counts_at_once_and_an_upheld_objection_reverses_at_the_decision(
    api: Api, now: Now, world: World
) -> None:
    # 公共区域清扫 (after): 3 points count on 10 June.
    now.now = at(2026, 6, 10)
    cleaning = api.cleaning(world.a1, at(2026, 6, 10, 8))
    assert api.split() == (3, 3, 0, 0)
    [june] = api.lists()
    assert june["mode"] == "after"
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 28)
    objection = ok(api.object(june["id"], cleaning["entry_id"], by=world.b1), 201)
    # The points still count while the objection waits (nothing is held in `after`).
    assert api.split() == (3, 3, 0, 0)
    detail = api.notice_list(june["id"])
    assert detail["items"][0]["status"] == "under_objection"
    assert detail["items"][0]["entry_status"] == "posted"
    ok(api.decide(objection["id"], upheld=True))
    # A reversal dated at the decision: 3 - 3 = 0; the original entry stays, reversed.
    assert api.split() == (0, 0, 0, 0)
    entry = ok(api.http.get(f"/v1/entries/{cleaning['entry_id']}", headers=api.clerk))
    assert entry["status"] == "reversed"


def test_after_mode_rejected_objection_changes_nothing(api: Api, now: Now, world: World) -> None:
    now.now = at(2026, 6, 10)
    cleaning = api.cleaning(world.a1, at(2026, 6, 10, 8))
    [june] = api.lists()
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 28)
    objection = ok(api.object(june["id"], cleaning["entry_id"], by=world.b1), 201)
    ok(api.decide(objection["id"], upheld=False))
    assert api.split() == (3, 3, 0, 0)


def test_late_appeals_inside_and_outside_the_window(api: Api, now: Now, world: World) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    second = api.volunteer(world.a2, at(2026, 6, 15, 9), 2)
    [june] = api.lists()
    api.tick(at(2026, 8, 1, 0, 5))  # opens and closes in one run: both post, 6 + 4 = 10
    assert api.split() == (10, 10, 0, 0)
    # 20 August, inside the 30-day window: a late appeal; upheld, 张三's 6 points are
    # reversed on the decision day: 10 - 6 = 4.
    now.now = at(2026, 8, 20)
    appeal = ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    assert appeal["kind"] == "late_appeal"
    ok(api.decide(appeal["id"], upheld=True))
    assert api.split() == (4, 4, 0, 0)
    # 31 August: the window ended at the start of the day.
    now.now = at(2026, 8, 31)
    problem(api.object(june["id"], second["entry_id"], by=world.b1), 409, "appeal_window_closed")
    assert api.split() == (4, 4, 0, 0)


def test_an_objection_names_an_entry_of_its_own_list(api: Api, now: Now, world: World) -> None:
    now.now = at(2026, 7, 10)
    june_record = api.volunteer(world.a1, at(2026, 6, 15, 9), 1)
    july_record = api.volunteer(world.a1, at(2026, 7, 10, 9), 1)
    by_period = {row["period_start_on"]: row["id"] for row in api.lists()}
    june, july = by_period["2026-06-01"], by_period["2026-07-01"]
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 26)
    problem(api.object(june, july_record["entry_id"], by=world.b1), 422, "entry_not_on_notice_list")
    ok(api.object(june, june_record["entry_id"], by=world.b1), 201)
    # A member of another village cannot be named as the objector.
    with world.db.unit_of_work() as session:
        township = session.get(Township, world.township_id)
        assert township is not None
        other = make_member(session, make_village(session, township))
    problem(api.object(june, june_record["entry_id"], by=other.id), 404, "not_found")
    _ = july


def test_permissions(api: Api, now: Now, world: World, db: Database) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 1)
    [june] = api.lists()
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 26)
    # The cashier reads lists but neither objects nor decides.
    ok(api.http.get(f"/v1/notice-lists/{june['id']}", headers=api.cashier))
    problem(
        api.object(june["id"], first["entry_id"], by=world.b1, headers=api.cashier),
        403,
        "forbidden",
    )
    objection = ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    problem(api.decide(objection["id"], upheld=False, headers=api.cashier), 403, "forbidden")
    # A clerk of another village does not even see that the list exists.
    with db.unit_of_work() as session:
        township = session.get(Township, world.township_id)
        assert township is not None
        elsewhere = make_village(session, township)
        elsewhere_id = elsewhere.id
    other_clerk = {
        "Authorization": f"Bearer {_key(db, world, 'village_clerk', village_id=elsewhere_id)}"
    }
    problem(api.http.get(f"/v1/notice-lists/{june['id']}", headers=other_clerk), 404, "not_found")
    problem(api.decide(objection["id"], upheld=False, headers=other_clerk), 404, "not_found")
    # Unknown ids are 404, bad filters 422, never 500.
    problem(api.http.get(f"/v1/notice-lists/{uuid.uuid4()}", headers=api.clerk), 404, "not_found")
    url = f"/v1/villages/{world.village_id}/notice-lists"
    problem(
        api.http.get(url, params={"period": "2026-13"}, headers=api.clerk), 422, "validation_failed"
    )
    problem(
        api.http.get(url, params={"state": "maybe"}, headers=api.clerk), 422, "validation_failed"
    )
    bad = {"entry_id": first["entry_id"], "raised_by_member_id": str(world.b1), "reason": ""}
    problem(
        api.http.post(f"/v1/notice-lists/{june['id']}/objections", json=bad, headers=api.clerk),
        422,
        "validation_failed",
    )


def _client_token(
    http: TestClient,
    db: Database,
    world: World,
    now: Now,
    scopes: list[ClientScope],
    member: uuid.UUID | None = None,
) -> tuple[str, str]:
    """A mini-program of the township with these scopes, bound to a member (李四 unless
    told): (token, binding id)."""
    with db.unit_of_work() as session:
        view, secret = access.register_client(
            session,
            township_id=world.township_id,
            name="村务小程序",
            scopes=scopes,
            created_by="test",
            now=utc_now(),
        )
        client = session.execute(
            select(OAuthClient).where(OAuthClient.principal_id == view.client.principal_id)
        ).scalar_one()
        _credential, code = access.issue_member_credential(
            session,
            member_id=member or world.b1,
            kind="code",
            ttl_seconds=600,
            created_by="test",
            now=utc_now(),
        )
        binding, _ = access.bind_member(
            session,
            client_principal_id=client.principal_id,
            township_id=world.township_id,
            user_ref=f"openid-{uuid.uuid4().hex[:8]}",
            card_token=None,
            code=code,
            now=utc_now(),
        )
        client_id, binding_id = client.client_id, str(binding.id)
    # Tokens are checked against the wall clock: issue this one on it too.
    test_now, now.now = now.now, utc_now()
    answer = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    now.now = test_now
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"]), binding_id


def test_a_resident_objects_through_a_mini_program_binding(
    api: Api, now: Now, world: World, db: Database
) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    [june] = api.lists()
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 26)
    token, binding = _client_token(
        api.http, db, world, now, [ClientScope.NOTICE_OBJECT, ClientScope.BALANCES_READ]
    )
    headers = {"Authorization": f"Bearer {token}"}
    body = {"notice_list_id": june["id"], "entry_id": first["entry_id"], "reason": "他那天不在村里"}
    objection = ok(
        api.http.post(f"/v1/bindings/{binding}/objections", json=body, headers=headers), 201
    )
    assert objection["raised_by"] == f"member:{world.b1}"
    assert objection["recorded_by"].startswith("client:")
    assert api.split() == (0, 0, 0, 6)
    # An unknown list (or one of another village) is not found.
    missing = {**body, "notice_list_id": str(uuid.uuid4())}
    problem(
        api.http.post(f"/v1/bindings/{binding}/objections", json=missing, headers=headers),
        404,
        "not_found",
    )
    # A client without the scope may not object.
    other_token, other_binding = _client_token(
        api.http, db, world, now, [ClientScope.BALANCES_READ]
    )
    other = {"Authorization": f"Bearer {other_token}"}
    problem(
        api.http.post(f"/v1/bindings/{other_binding}/objections", json=body, headers=other),
        403,
        "forbidden",
    )


def test_bound_balances_show_pending_and_held(
    api: Api, now: Now, world: World, db: Database
) -> None:
    now.now = at(2026, 6, 15)
    token, binding = _client_token(api.http, db, world, now, [ClientScope.BALANCES_READ], world.a1)
    headers = {"Authorization": f"Bearer {token}"}
    api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    [june] = api.lists()
    balances = {
        b["holder"]: b
        for b in ok(api.http.get(f"/v1/bindings/{binding}/balances", headers=headers))
    }
    household = balances["household"]
    assert (household["posted"], household["available"]) == (0, 0)
    assert (household["pending_under_notice"], household["held_by_objection"]) == (6, 0)
    api.tick(at(2026, 8, 1, 0, 5))
    balances = {
        b["holder"]: b
        for b in ok(api.http.get(f"/v1/bindings/{binding}/balances", headers=headers))
    }
    household = balances["household"]
    assert (household["posted"], household["available"], household["pending_under_notice"]) == (
        6,
        6,
        0,
    )
    _ = june


def test_statements_say_which_list_and_objection_an_amount_is_under(
    api: Api, now: Now, world: World
) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    second = api.volunteer(world.a2, at(2026, 6, 15, 9), 2)
    [june] = api.lists()
    api.tick(at(2026, 7, 25, 0, 5))
    now.now = at(2026, 7, 26)
    objection = ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    api.tick(at(2026, 8, 1, 0, 5))
    account_id = api.world.account_id(AccountKind.HOUSEHOLD, world.household_a)
    lines = ok(api.http.get(f"/v1/accounts/{account_id}/statement", headers=api.clerk))["items"]
    # Newest first: the closing posted 张小梅's 4; the two pending credits before it.
    assert [(line["effect"], line["amount"]) for line in lines] == [
        ("pending_posted", 4),
        ("pending", 4),
        ("pending", 6),
    ]
    notes = [line["notice"] for line in lines]
    assert all(note["notice_list_id"] == june["id"] for note in notes)
    assert [note["status"] for note in notes] == ["posted", "posted", "under_objection"]
    assert notes[2]["objection_id"] == objection["id"]
    assert lines[2]["entry_id"] == first["entry_id"] and lines[1]["entry_id"] == second["entry_id"]
    # The household's history says the same of each record.
    history = ok(api.http.get(f"/v1/households/{world.household_a}/history", headers=api.clerk))[
        "items"
    ]
    by_record = {item["record_id"]: item["notice"] for item in history}
    assert by_record[first["id"]]["status"] == "under_objection"
    assert by_record[first["id"]]["objection_id"] == objection["id"]
    assert by_record[second["id"]]["status"] == "posted"
    assert by_record[second["id"]]["list_state"] == "closed"


def test_a_late_tick_posts_dated_at_the_closing_day(api: Api, now: Now, world: World) -> None:
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)
    # The clock did not run from 24 July until 5 August: the list opened and closed then.
    report = api.tick(at(2026, 8, 5, 9))
    assert (report.opened, report.closed, report.posted) == (1, 1, 1)
    account_id = api.world.account_id(AccountKind.HOUSEHOLD, world.household_a)
    [posting, _pending] = ok(
        api.http.get(f"/v1/accounts/{account_id}/statement", headers=api.clerk)
    )["items"]
    assert posting["effect"] == "pending_posted"
    # Effective at the start of the closing day (1 August, village time), recorded late.
    assert datetime.fromisoformat(posting["occurred_at"]) == at(2026, 8, 1, 0, 0)
    assert datetime.fromisoformat(posting["recorded_at"]) == at(2026, 8, 5, 9)
    as_of = ok(
        api.http.get(
            f"/v1/accounts/{account_id}/balance-as-of",
            params={"at": at(2026, 8, 2).isoformat()},
            headers=api.clerk,
        )
    )
    assert as_of["posted"] == 6
    _ = first


def test_a_holders_balances_in_one_read_with_what_awaits_review(
    api: Api, now: Now, world: World
) -> None:
    """Household A on every track, and the 组长's record waiting for the clerk's 复核."""
    now.now = at(2026, 6, 15)
    first = api.volunteer(world.a1, at(2026, 6, 15, 9), 3)  # 6 points, pending under notice
    api.volunteer(world.a2, at(2026, 6, 15, 9), 2)  # 4 points, pending under notice
    # 公共区域清扫 (3 points) recorded by a 组长: waits for the clerk's 复核, books nothing.
    waiting = world.record(
        "public_cleaning", world.a1, recorder=LEADER, occurred_at=at(2026, 6, 16)
    )
    assert waiting.status == "pending"

    def standing() -> dict[str, Any]:
        url = f"/v1/households/{world.household_a}/balances"
        return dict(ok(api.http.get(url, headers=api.clerk)))

    read = standing()
    assert (read["holder_kind"], read["holder_id"]) == ("household", str(world.household_a))
    points = read["tracks"][0]
    assert points["track"] == "points"
    assert (points["posted"], points["available"]) == (0, 0)
    assert (points["pending_under_notice"], points["held_by_objection"]) == (10, 0)  # 6 + 4
    assert points["pending_other"] == 0
    assert (read["awaiting_review_count"], read["awaiting_review_points"]) == (1, 3)
    [listed] = read["awaiting_review"]
    assert (listed["id"], listed["rule_id"], listed["stages_pending"]) == (
        str(waiting.id),
        "public_cleaning",
        ["final_review"],
    )

    # An objection to 张三's 6 points holds them: 4 wait, 6 held.
    assert api.tick(at(2026, 7, 25, 0, 5)).opened == 1
    now.now = at(2026, 7, 26)
    [june] = api.lists()
    ok(api.object(june["id"], first["entry_id"], by=world.b1), 201)
    points = standing()["tracks"][0]
    assert (points["pending_under_notice"], points["held_by_objection"]) == (4, 6)

    # 张三 holds no points of his own here (一户一档): nothing awaits review for him.
    member = ok(api.http.get(f"/v1/members/{world.a1}/balances", headers=api.clerk))
    assert member["holder_kind"] == "member" and member["awaiting_review_count"] == 0
    problem(
        api.http.get(f"/v1/households/{uuid.uuid4()}/balances", headers=api.township_admin),
        404,
        "not_found",
    )
