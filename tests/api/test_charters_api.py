"""Charters and records over the API: upload (YAML and JSON), publish, record, review by
the roles the charter names, revoke, and a resident's own report through a client."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from jifen.access import service as access
from jifen.access.permissions import Permission, ScopeKind
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import CharterVersion
from jifen.problems import NotFound
from tests.api.helpers import (
    create_household,
    create_member,
    create_village,
    local_noon,
    local_today,
    ok,
    problem,
)

CHARTER_YAML = """\
title: 清泉村村规民约积分制（2026 年修订）
effective_on: 2026-01-01
settings:
  points_holder: household
  merit: {enabled: true, label: 文明积分}
  review:
    stages:
      - {id: first_review, label: 初审, roles: [group_leader, village_clerk]}
      - {id: final_review, label: 复核, roles: [village_clerk]}
    required:
      group_leader: [final_review]
      resident: [first_review, final_review]
rules:
  - id: labor_hour
    category: labor
    label: 义务劳动
    type: per_unit
    params: {unit: hour, points_per_unit: "2", rounding: half_up}
    moves: [points, merit]
    caps: [{per: member, period: day, max_points: 16}]
    recorders: [village_clerk, group_leader, resident]
  - id: lane_rubbish
    category: sanitation
    label: 房前屋后乱堆乱放
    type: deduction
    params: {points: 5, max_points: 25}
    recorders: [village_clerk]
    evidence: [photo]
"""


def assert_problem_5xx(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def _village(client: TestClient) -> tuple[dict[str, Any], str, str]:
    village = create_village(client)
    household = create_household(client, village["id"])
    member = create_member(
        client, village["id"], household_id=household["id"], joined_on="2026-01-01"
    )
    return village, household["id"], member["id"]


def _key(db: Database, village: dict[str, Any], role_code: str) -> str:
    """An API key for a new user holding `role_code` (built-in or the village's) there."""
    with db.unit_of_work() as session:
        now = utc_now()
        township_id = uuid.UUID(village["township_id"])
        village_id = uuid.UUID(village["id"])
        try:
            role = access.builtin_role(session, role_code)
        except NotFound:
            role = access.create_role(
                session,
                caller=None,
                township_id=township_id,
                village_id=village_id,
                code=role_code,
                label="组长",
                scope_kind=ScopeKind.VILLAGE,
                permissions={Permission.RECORDS_CREATE, Permission.ENTRIES_READ},
                now=now,
            )
        user = access.create_user(
            session,
            name=role_code,
            township_id=township_id,
            village_id=village_id,
            member_id=None,
            created_by="test",
            now=now,
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=role.id,
            village_id=village_id,
            created_by="test",
            now=now,
        )
        _row, key = access.create_api_key(
            session, user_id=user.id, name=role_code, created_by="test", now=now
        )
    return key


def _group_leader_role(client: TestClient, village: dict[str, Any]) -> None:
    """The village's 组长 role, which the charter names."""
    body = {
        "township_id": village["township_id"],
        "village_id": village["id"],
        "code": "group_leader",
        "label": "组长",
        "scope": "village",
        "permissions": ["records:create"],
    }
    ok(client.post("/v1/roles", json=body), 201)


def _publish(client: TestClient, village_id: str, text: str = CHARTER_YAML) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        client.post(
            f"/v1/villages/{village_id}/charter-versions?publish=true",
            content=text.encode(),
            headers={"Content-Type": "application/yaml"},
        ),
        201,
    )


def _balance(client: TestClient, **owner: str) -> dict[str, int]:
    found = ok(client.get("/v1/accounts", params={**owner, "limit": 10}))["items"]
    return {
        a["category"]: ok(client.get(f"/v1/accounts/{a['id']}/balance"))["posted"] for a in found
    }


def test_a_yaml_charter_is_uploaded_published_and_read_back(client: TestClient) -> None:
    village, _household, _member = _village(client)
    # The group leader role must exist before a charter names it.
    refused = problem(
        client.post(
            f"/v1/villages/{village['id']}/charter-versions",
            content=CHARTER_YAML.encode(),
            headers={"Content-Type": "application/yaml"},
        ),
        422,
        "charter_invalid",
    )
    assert {e["field"] for e in refused["errors"]} == {
        "rules[0].recorders[1]",
        "settings.review.stages[0].roles[0]",
        "settings.review.required.group_leader",
    }
    _group_leader_role(client, village)
    draft = ok(
        client.post(
            f"/v1/villages/{village['id']}/charter-versions",
            content=CHARTER_YAML.encode(),
            headers={"Content-Type": "application/yaml"},
        ),
        201,
    )
    assert (draft["version"], draft["status"]) == (1, "draft")
    assert draft["document"]["rules"][0]["params"]["points_per_unit"] == "2"
    problem(client.get(f"/v1/villages/{village['id']}/charter"), 422, "no_charter_in_force")
    published = ok(client.post(f"/v1/charter-versions/{draft['id']}/publication"))
    assert published["status"] == "published"
    problem(
        client.post(f"/v1/charter-versions/{draft['id']}/publication"),
        409,
        "charter_version_not_draft",
    )
    in_force = ok(client.get(f"/v1/villages/{village['id']}/charter"))
    assert in_force["id"] == draft["id"]
    listed = ok(client.get(f"/v1/villages/{village['id']}/charter-versions"))["items"]
    assert [v["version"] for v in listed] == [1]
    # The same document as JSON is accepted too; an older effective date is not publishable.
    as_json = dict(draft["document"], effective_on="2025-06-01")
    second = ok(client.post(f"/v1/villages/{village['id']}/charter-versions", json=as_json), 201)
    assert second["version"] == 2
    problem(
        client.post(f"/v1/charter-versions/{second['id']}/publication"),
        409,
        "charter_effective_date_not_after_current",
    )


def test_bad_documents_name_their_fields(client: TestClient) -> None:
    village, _household, _member = _village(client)
    url = f"/v1/villages/{village['id']}/charter-versions"
    body = problem(
        client.post(
            url,
            json={
                "title": "坏村规",
                "effective_on": "2026-01-01",
                "rules": [
                    {
                        "id": "x",
                        "category": "labor",
                        "label": "劳动",
                        "type": "per_unit",
                        "params": {"unit": "hour", "points_per_unit": "-1", "rounding": "up"},
                    }
                ],
            },
        ),
        422,
        "charter_invalid",
    )
    assert {e["field"] for e in body["errors"]} == {
        "rules[0].params.points_per_unit",
        "rules[0].params.rounding",
    }
    body = problem(
        client.post(url, content=b"title: [", headers={"Content-Type": "application/yaml"}),
        422,
        "charter_invalid",
    )
    assert body["errors"][0]["field"].startswith("line ")
    problem(
        client.post(url, content=b"<charter/>", headers={"Content-Type": "application/xml"}),
        415,
        "unsupported_media_type",
    )
    assert ok(client.get(url))["items"] == []


def test_rule_types_lists_the_built_ins_with_their_parameters(client: TestClient) -> None:
    types = {t["name"]: t for t in ok(client.get("/v1/rule-types"))}
    assert {"fixed", "per_unit", "tiered", "deduction"} <= set(types)
    assert types["per_unit"]["distribution"] == "jifen"
    assert "points_per_unit" in types["per_unit"]["params_schema"]["properties"]


def test_record_review_and_revoke_through_the_roles_the_charter_names(
    client: TestClient, db: Database
) -> None:
    village, household_id, member_id = _village(client)
    leader = {"Authorization": f"Bearer {_key(db, village, 'group_leader')}"}
    clerk = {"Authorization": f"Bearer {_key(db, village, 'village_clerk')}"}
    _publish(client, village["id"])
    yesterday = local_noon(client, local_today(client) - timedelta(days=1))
    labor = {"rule_id": "labor_hour", "member_id": member_id, "occurred_at": yesterday}

    # A group leader's record waits for the clerk's 复核 and moves nothing until then.
    pending = ok(
        client.post(
            f"/v1/villages/{village['id']}/records",
            json={**labor, "quantity": "3", "place": "村口水渠"},
            headers=leader,
        ),
        201,
    )
    assert (pending["status"], pending["stages_pending"]) == ("pending", ["final_review"])
    assert pending["explanation"] == "义务劳动 3 小时 × 2 分/小时 = 6 分"
    assert _balance(client, household_id=household_id) == {"main": 0}
    # The leader may not decide the stage; the clerk may.
    problem(
        client.post(
            f"/v1/records/{pending['id']}/reviews", json={"decision": "approve"}, headers=leader
        ),
        403,
        "forbidden",
    )
    approved = ok(
        client.post(
            f"/v1/records/{pending['id']}/reviews", json={"decision": "approve"}, headers=clerk
        ),
        201,
    )
    assert (approved["status"], approved["points"], approved["merit_points"]) == (
        "approved",
        6,
        6,
    )
    assert [(r["stage"], r["decision"]) for r in approved["reviews"]] == [
        ("final_review", "approve")
    ]
    # Household points: the household is credited, the record names who worked.
    assert approved["household_id"] == household_id and approved["member_id"] == member_id
    assert _balance(client, household_id=household_id) == {"main": 6, "merit": 6}
    entry = ok(client.get(f"/v1/entries/{approved['entry_id']}"))
    assert entry["code"] == "labor_award"
    assert entry["memo"] == "义务劳动 3 小时 × 2 分/小时 = 6 分"
    assert entry["metadata"]["rule_id"] == "labor_hour"
    assert entry["metadata"]["charter_version"] == 1

    # The same member, rule and day again: refused as a duplicate.
    duplicate = problem(
        client.post(
            f"/v1/villages/{village['id']}/records", json={**labor, "quantity": "1"}, headers=clerk
        ),
        409,
        "duplicate_record",
    )
    assert duplicate["record_id"] == approved["id"]
    # The cap (16 a day per member) cuts a second occurrence that day to what remains.
    capped = ok(
        client.post(
            f"/v1/villages/{village['id']}/records",
            json={**labor, "quantity": "8", "occurrence": "afternoon"},
            headers=clerk,
        ),
        201,
    )
    assert (capped["status"], capped["points"], capped["cap"]["max_points"]) == ("approved", 10, 16)
    assert capped["explanation"].endswith("本项当日每人上限 16 分，已得 6 分，本次计 10 分")

    # The clerk may not revoke; a township administrator (here the platform's) may.
    problem(
        client.post(
            f"/v1/records/{approved['id']}/revocations", json={"reason": "代签"}, headers=clerk
        ),
        403,
        "forbidden",
    )
    revoked = ok(
        client.post(f"/v1/records/{approved['id']}/revocations", json={"reason": "代签"}), 201
    )
    assert revoked["status"] == "revoked" and revoked["reversal_entry_id"]
    assert _balance(client, household_id=household_id) == {"main": 10, "merit": 10}
    history = ok(client.get(f"/v1/villages/{village['id']}/records", params={"status": "revoked"}))[
        "items"
    ]
    assert [r["id"] for r in history] == [approved["id"]]


def test_a_deduction_needs_its_evidence_and_stops_at_zero(client: TestClient) -> None:
    village, household_id, _member_id = _village(client)
    _group_leader_role(client, village)
    _publish(client, village["id"])
    finding = {
        "rule_id": "lane_rubbish",
        "household_id": household_id,
        "quantity": 2,
        "occurred_at": local_noon(client, local_today(client) - timedelta(days=1)),
    }
    body = problem(
        client.post(f"/v1/villages/{village['id']}/records", json=finding),
        422,
        "evidence_missing",
    )
    assert body["missing"] == ["photo"]
    recorded = ok(
        client.post(
            f"/v1/villages/{village['id']}/records",
            json={**finding, "evidence": [{"kind": "photo", "ref": "https://p.example/1.jpg"}]},
        ),
        201,
    )
    assert recorded["member_id"] is None
    assert recorded["points"] == 0
    assert recorded["explanation"] == (
        "房前屋后乱堆乱放 2 处 × 扣 5 分 = 扣 10 分；"
        "积分余额仅 0 分，按村规扣至 0 分为止，实扣 0 分"
    )


def test_a_resident_reports_through_a_client_and_waits_for_both_stages(
    client: TestClient, db: Database
) -> None:
    village, household_id, member_id = _village(client)
    _group_leader_role(client, village)
    _publish(client, village["id"])
    app = ok(
        client.post(
            "/v1/clients",
            json={
                "township_id": village["township_id"],
                "name": "小程序",
                "scopes": ["members:bind", "members:read", "records:claim"],
            },
        ),
        201,
    )
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
    binding = ok(
        client.post("/v1/bindings", json={"user_ref": "openid-9", "code": code}, headers=headers),
        201,
    )
    # The mini-program shows the village's rules before the resident reports.
    shown = ok(client.get(f"/v1/bindings/{binding['id']}/charter", headers=headers))
    assert shown["title"] == "清泉村村规民约积分制（2026 年修订）"
    assert [r["id"] for r in shown["document"]["rules"]] == ["labor_hour", "lane_rubbish"]
    claim = {
        "rule_id": "labor_hour",
        "quantity": "2",
        "occurred_at": local_noon(client, local_today(client) - timedelta(days=1)),
        "note": "帮五保户打扫院子",
    }
    record = ok(
        client.post(f"/v1/bindings/{binding['id']}/claims", json=claim, headers=headers), 201
    )
    assert (record["recorder_role"], record["stages_pending"]) == (
        "resident",
        ["first_review", "final_review"],
    )
    # A rule that residents may not report.
    problem(
        client.post(
            f"/v1/bindings/{binding['id']}/claims",
            json={**claim, "rule_id": "lane_rubbish"},
            headers=headers,
        ),
        403,
        "recorder_not_allowed",
    )
    first = _key(db, village, "village_clerk")
    second = _key(db, village, "village_clerk")
    after_first = ok(
        client.post(
            f"/v1/records/{record['id']}/reviews",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {first}"},
        ),
        201,
    )
    assert after_first["status"] == "pending"
    problem(
        client.post(
            f"/v1/records/{record['id']}/reviews",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {first}"},
        ),
        409,
        "review_by_same_actor",
    )
    rejected = ok(
        client.post(
            f"/v1/records/{record['id']}/reviews",
            json={"decision": "reject", "reason": "照片与地点不符"},
            headers={"Authorization": f"Bearer {second}"},
        ),
        201,
    )
    assert rejected["status"] == "rejected"
    assert _balance(client, household_id=household_id) == {"main": 0}
    # A rejected report frees its occurrence: it may be reported again.
    ok(client.post(f"/v1/bindings/{binding['id']}/claims", json=claim, headers=headers), 201)


def test_a_version_whose_rule_type_is_no_longer_installed_is_refused_clearly(
    client: TestClient, db: Database
) -> None:
    """A plugin uninstalled after its charter was published: recording under it answers
    503 charter_unavailable, not a 500."""
    village, _household_id, member_id = _village(client)
    _group_leader_role(client, village)
    version = _publish(client, village["id"])
    with db.unit_of_work() as session:
        # Stand in for the uninstalled plugin: the stored document names a type nobody has.
        row = session.get(CharterVersion, uuid.UUID(version["id"]))
        assert row is not None
        document = json.loads(json.dumps(row.document))
        document["rules"][0]["type"] = "vanished_plugin_type"
        session.execute(
            update(CharterVersion)
            .where(CharterVersion.id == row.id)
            .values(document=document, document_sha256="0" * 64)
        )
    answer = client.post(
        f"/v1/villages/{village['id']}/records",
        json={
            "rule_id": "labor_hour",
            "member_id": member_id,
            "quantity": "1",
            "occurred_at": local_noon(client, local_today(client) - timedelta(days=1)),
        },
    )
    assert answer.status_code == 503
    body = assert_problem_5xx(answer)
    assert body["code"] == "charter_unavailable"
    assert body["errors"][0]["field"] == "rules[0].type"


def test_an_inspection_round_is_recorded_in_one_batch_under_the_charter(
    client: TestClient, db: Database
) -> None:
    """A sheet of records: each goes through the charter as a single record would — caps
    count the items before it, a duplicate is refused, a deduction needs its photo."""
    village, household_id, member_id = _village(client)
    clerk = {"Authorization": f"Bearer {_key(db, village, 'village_clerk')}"}
    _group_leader_role(client, village)
    _publish(client, village["id"])
    yesterday = local_noon(client, local_today(client) - timedelta(days=1))
    labor = {"rule_id": "labor_hour", "member_id": member_id, "occurred_at": yesterday}
    items = [
        {**labor, "idempotency_key": "row-1", "quantity": "5", "occurrence": "morning"},
        # The day cap is 16 points: 10 already, so this one is cut to 6.
        {**labor, "idempotency_key": "row-2", "quantity": "5", "occurrence": "afternoon"},
        {**labor, "idempotency_key": "row-3", "quantity": "1", "occurrence": "morning"},
        {
            "idempotency_key": "row-4",
            "rule_id": "lane_rubbish",
            "member_id": member_id,
            "occurred_at": yesterday,
        },
        {
            "idempotency_key": "row-5",
            "rule_id": "lane_rubbish",
            "member_id": member_id,
            "occurred_at": yesterday,
            "evidence": [{"kind": "photo", "ref": "https://files.example.cn/p/1.jpg"}],
        },
    ]
    url = f"/v1/villages/{village['id']}/record-batches"
    body = ok(client.post(url, json={"items": items}, headers=clerk))
    statuses = [(i["status"], (i["problem"] or {}).get("code")) for i in body["items"]]
    assert statuses == [
        (201, None),
        (201, None),
        (409, "duplicate_record"),
        (422, "evidence_missing"),
        (201, None),
    ]
    first, second, _, _, deduction = (i["result"] for i in body["items"])
    assert (first["points"], first["cap"]) == (10, None)
    assert second["points"] == 6 and second["cap"] is not None
    assert deduction["points"] == -5
    assert _balance(client, household_id=household_id) == {"main": 10 + 6 - 5, "merit": 16}
    # The sheet sent again books nothing twice.
    again = ok(client.post(url, json={"items": items}, headers=clerk))
    assert [i["replayed"] for i in again["items"]] == [True, True, False, False, True]
    assert _balance(client, household_id=household_id) == {"main": 11, "merit": 16}
