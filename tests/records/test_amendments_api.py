"""The amendment and the charter-only rule over HTTP, as the clerk's app and a township
administrator use them: who may amend, Idempotency-Key, the record's links; raw awards
refused where a charter is in force, and the manual adjustment (手工调整) with its reason
in the statement and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jifen.access import service as access
from jifen.access.permissions import Permission, ScopeKind
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger.policy import AccountKind
from jifen.main import create_app
from jifen.models import Village
from tests.api.helpers import ok, problem, validation_failed
from tests.factories import account_of, make_member, make_township, make_village
from tests.records.charters import qingquan
from tests.records.world import World, make_world

OCCURRED_AT = "2026-11-20T09:00:00+08:00"


@dataclass
class Village_:
    world: World
    keys: dict[str, str]
    member_account: str
    issuance_account: str


def _user(session: Any, world: World, name: str, role_id: uuid.UUID, village: bool) -> str:
    now = utc_now()
    user = access.create_user(
        session,
        name=name,
        township_id=world.township_id,
        village_id=world.village_id if village else None,
        member_id=None,
        created_by="test",
        now=now,
    )
    access.grant_role(
        session,
        caller=None,
        user_id=user.id,
        role_id=role_id,
        village_id=world.village_id if village else None,
        created_by="test",
        now=now,
    )
    return access.create_api_key(session, user_id=user.id, name=name, created_by="test", now=now)[1]


def _village(db: Database, settings: Settings, window_days: int | None = None) -> Village_:
    document = qingquan()
    if window_days is not None:
        document["settings"]["amendments"] = {"window_days": window_days}
    for rule in document["rules"]:
        if rule["id"] == "public_cleaning":
            rule["recorders"] = [*rule["recorders"], "grid_worker"]  # 网格员 record clean-ups
    world = make_world(db, settings, None)
    with db.unit_of_work() as session:
        roles = {
            r.code: r.id for r in access.list_roles(session, township_id=None, village_id=None)
        }
        grid = access.create_role(
            session,
            caller=None,
            township_id=world.township_id,
            village_id=world.village_id,
            code="grid_worker",
            label="网格员",
            scope_kind=ScopeKind.VILLAGE,
            permissions=[Permission.RECORDS_CREATE, Permission.ENTRIES_READ],
            now=utc_now(),
        ).id
        keys = {
            "clerk": _user(session, world, "村会计", roles["village_clerk"], True),
            "clerk2": _user(session, world, "村主任", roles["village_clerk"], True),
            "grid": _user(session, world, "网格员", grid, True),
            "admin": _user(session, world, "镇管理员", roles["township_admin"], False),
        }
        village = session.get(Village, world.village_id)
        assert village is not None
        member_account = account_of(session, village, AccountKind.MEMBER, world.a1).id
        issuance = account_of(session, village, AccountKind.ISSUANCE).id
    world.publish(document)  # it names the grid worker's role: published after it exists
    return Village_(world, keys, str(member_account), str(issuance))


@pytest.fixture
def app(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def village(db: Database, settings: Settings) -> Village_:
    return _village(db, settings)


def as_(v: Village_, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {v.keys[who]}"}


def _record(app: TestClient, v: Village_, who: str = "clerk", hours: str = "3") -> dict[str, Any]:
    return ok(
        app.post(
            f"/v1/villages/{v.world.village_id}/records",
            json={
                "rule_id": "voluntary_labor",
                "member_id": str(v.world.a1),
                "quantity": hours,
                "occurred_at": OCCURRED_AT,
            },
            headers=as_(v, who),
        ),
        201,
    )


def _amend(
    app: TestClient, v: Village_, record_id: str, who: str, key: str | None = None, **body: Any
) -> Any:
    headers = as_(v, who) | ({"Idempotency-Key": key} if key else {})
    return app.post(
        f"/v1/records/{record_id}/amendments",
        json={"reason": "误录为 3 小时，实为 2 小时", **body},
        headers=headers,
    )


# --- amendments -------------------------------------------------------------------------


def test_the_recorder_amends_and_a_retry_books_nothing_new(
    app: TestClient, village: Village_
) -> None:
    old = _record(app, village)
    assert (old["points"], village.world.household_points(village.world.household_a)) == (5, 5)

    first = _amend(app, village, old["id"], "clerk", key="fix-1", quantity="2")
    new = ok(first, 201)
    retry = _amend(app, village, old["id"], "clerk", key="fix-1", quantity="2")

    assert retry.content == first.content
    assert (new["status"], new["points"], new["amends_record_id"]) == ("approved", 3, old["id"])
    assert village.world.household_points(village.world.household_a) == 3
    shown = ok(app.get(f"/v1/records/{old['id']}", headers=as_(village, "clerk")))
    assert (shown["status"], shown["amended_by_record_id"]) == ("amended", new["id"])
    assert shown["amend_reason"] == "误录为 3 小时，实为 2 小时"
    assert shown["reversal_entry_id"] is not None
    # The member's history shows both: the amended record and its correction.
    history = ok(
        app.get(
            f"/v1/villages/{village.world.village_id}/records",
            params={"member_id": str(village.world.a1)},
            headers=as_(village, "clerk"),
        )
    )
    assert sorted((r["id"], r["status"]) for r in history["items"]) == sorted(
        [(old["id"], "amended"), (new["id"], "approved")]
    )
    amended = ok(
        app.get(
            f"/v1/villages/{village.world.village_id}/records",
            params={"status": "amended"},
            headers=as_(village, "clerk"),
        )
    )
    assert [r["id"] for r in amended["items"]] == [old["id"]]


def test_another_clerk_amends_but_a_grid_worker_only_their_own(
    app: TestClient, village: Village_
) -> None:
    by_clerk = _record(app, village)
    problem(
        _amend(app, village, by_clerk["id"], "grid", quantity="2"), 403, "amendment_not_own_record"
    )
    ok(_amend(app, village, by_clerk["id"], "clerk2", quantity="2"), 201)

    grids_own = ok(
        app.post(
            f"/v1/villages/{village.world.village_id}/records",
            json={
                "rule_id": "public_cleaning",
                "member_id": str(village.world.b1),
                "occurred_at": OCCURRED_AT,
            },
            headers=as_(village, "grid"),
        ),
        201,
    )
    # Their own record, within the window: the grid worker corrects it.
    new = ok(_amend(app, village, grids_own["id"], "grid", quantity="2"), 201)
    assert (new["points"], new["amends_record_id"]) == (6, grids_own["id"])


def test_with_no_window_the_clerk_is_refused_and_the_administrator_amends(
    app: TestClient, db: Database, settings: Settings
) -> None:
    village = _village(db, settings, window_days=0)
    old = _record(app, village)

    body = problem(
        _amend(app, village, old["id"], "clerk", quantity="2"), 403, "amendment_window_closed"
    )
    assert body["window_days"] == 0
    new = ok(_amend(app, village, old["id"], "admin", quantity="2"), 201)
    assert new["points"] == 3


def test_bad_amendments_are_refused(app: TestClient, village: Village_) -> None:
    old = _record(app, village)
    errors = validation_failed(
        app.post(
            f"/v1/records/{old['id']}/amendments",
            json={"quantity": "2"},
            headers=as_(village, "clerk"),
        )
    )
    assert "reason" in str(errors)
    validation_failed(_amend(app, village, old["id"], "clerk"))  # changes nothing
    validation_failed(_amend(app, village, old["id"], "clerk", quantity="-1"))
    problem(
        _amend(app, village, old["id"], "clerk", quantity="3"), 422, "amendment_changes_nothing"
    )
    problem(_amend(app, village, str(uuid.uuid4()), "clerk", quantity="2"), 404, "not_found")


# --- the charter is the only way points reach residents ---------------------------------


def _entry(
    v: Village_,
    code: str = "labor_award",
    points: int = 6,
    *,
    in_batch: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": code,
        "memo": "义务劳动",
        "postings": [
            {"account_id": v.issuance_account, "amount": -points},
            {"account_id": v.member_account, "amount": points},
        ],
        **extra,
    }
    if not in_batch:  # a batch's items are of the batch's village
        entry["village_id"] = str(v.world.village_id)
    return entry


def test_a_raw_award_is_refused_where_a_charter_is_in_force(
    app: TestClient, village: Village_
) -> None:
    body = problem(
        app.post("/v1/entries", json=_entry(village), headers=as_(village, "clerk")),
        409,
        "use_records",
    )
    assert body["records_path"] == f"/v1/villages/{village.world.village_id}/records"
    zh = app.post(
        "/v1/entries",
        json=_entry(village, "labor_deduction", -3),
        headers=as_(village, "admin") | {"Accept-Language": "zh-CN"},
    )
    assert problem(zh, 409, "use_records")["title"].startswith("本村已施行积分章程")
    batch = ok(
        app.post(
            f"/v1/villages/{village.world.village_id}/entry-batches",
            json={
                "items": [
                    {**_entry(village, in_batch=True), "idempotency_key": "row-1"},
                ]
            },
            headers=as_(village, "clerk"),
        )
    )
    assert batch["items"][0]["problem"]["code"] == "use_records"


def test_a_manual_adjustment_needs_points_adjust_and_a_reason(
    app: TestClient, village: Village_
) -> None:
    reason = "村民代表大会决议补记十月漏记的清扫积分"
    validation_failed(
        app.post(
            "/v1/entries", json=_entry(village, "manual_adjustment"), headers=as_(village, "admin")
        )
    )
    validation_failed(
        app.post("/v1/entries", json=_entry(village, reason="理由"), headers=as_(village, "admin"))
    )
    problem(
        app.post(
            "/v1/entries",
            json=_entry(village, "manual_adjustment", reason=reason),
            headers=as_(village, "clerk"),
        ),
        403,
        "forbidden",
    )

    entry = ok(
        app.post(
            "/v1/entries",
            json=_entry(village, "manual_adjustment", reason=reason),
            headers=as_(village, "admin"),
        ),
        201,
    )

    assert entry["memo"] == f"手工调整：{reason}；义务劳动"
    assert (entry["metadata"]["manual"], entry["metadata"]["reason"]) == (True, reason)
    statement = ok(
        app.get(f"/v1/accounts/{village.member_account}/statement", headers=as_(village, "admin"))
    )
    assert [(line["code"], line["memo"], line["amount"]) for line in statement["items"]] == [
        ("manual_adjustment", f"手工调整：{reason}；义务劳动", 6)
    ]
    audit = ok(
        app.get(
            "/v1/audit-events",
            params={"village_id": str(village.world.village_id)},
            headers=as_(village, "admin"),
        )
    )
    [event] = [e for e in audit["items"] if e["action"] == "create_entry"]
    assert event["target"]["note"] == f"手工调整：{reason}；义务劳动"


def test_without_a_charter_raw_awards_are_booked_as_before(
    app: TestClient, db: Database, settings: Settings, admin_key: str
) -> None:
    with db.unit_of_work() as session:
        village = make_village(session, make_township(session))
        member = make_member(session, village)
        account = account_of(session, village, AccountKind.MEMBER, member.id).id
        issuance = account_of(session, village, AccountKind.ISSUANCE).id
    entry = ok(
        app.post(
            "/v1/entries",
            json={
                "village_id": str(village.id),
                "code": "labor_award",
                "postings": [
                    {"account_id": str(issuance), "amount": -6},
                    {"account_id": str(account), "amount": 6},
                ],
            },
            headers={"Authorization": f"Bearer {admin_key}"},
        ),
        201,
    )
    assert entry["code"] == "labor_award"
