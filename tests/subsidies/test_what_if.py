"""Regions set through the village API and a what-if against the approved settlement, on
SQLite and PostgreSQL: the region is a fact of the settlement (and of its inputs digest);
what-if compares, per village, the approved awards with another scheme version and with
an inline draft document, worked out by hand; nothing is stored, nothing is booked; the
refusals; and `jifen settle --what-if`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.access import service as access
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.models import Entry, OutboxEvent, Settlement, Village
from jifen.subsidies import service as subsidies
from tests.factories import make_household, make_township, make_village

Q1 = {"quarter": "2026Q1"}
PARTICIPATION = {
    "id": "participation",
    "type": "household_share",
    "weight": 100,
    "normalise": {"method": "ratio", "target": "1"},
}
# Approved in Q1: score = participation × 100; 先进村 (500 yuan) for two villages at 60 or
# more, 成效村 (200 yuan) for the rest.
APPROVED: dict[str, Any] = {
    "title": "2026 年以奖代补",
    "effective_on": "2026-01-01",
    "pool_fen": 1_000_000,
    "indicators": [PARTICIPATION],
    "award": {
        "method": "tiers",
        "params": {
            "tiers": [
                {
                    "id": "advanced",
                    "label": "先进村",
                    "min_score": 60,
                    "award_fen": 50_000,
                    "quota": 2,
                },
                {"id": "effective", "label": "成效村", "min_score": 0, "award_fen": 20_000},
            ]
        },
    },
}
# A draft: the same tiers, but one 先进村 place per region.
BY_REGION: dict[str, Any] = {
    **APPROVED,
    "title": "按片区分配名额（草案）",
    "award": {
        "method": "tiers",
        "params": {
            "tiers": [
                {
                    "id": "advanced",
                    "label": "先进村",
                    "min_score": 60,
                    "award_fen": 50_000,
                    "region_quotas": {"东片": 1, "西片": 1},
                },
                {"id": "effective", "label": "成效村", "min_score": 0, "award_fen": 20_000},
            ]
        },
    },
}
# The next version: at or above the region's average, 300 yuan each, and 400 / 100 yuan
# on top for the first and second.
NEXT: dict[str, Any] = {
    **APPROVED,
    "title": "2026 年下半年以奖代补",
    "effective_on": "2026-07-01",
    "gates": [{"indicator": "participation", "relative": "region_average"}],
    "award": {
        "method": "base_plus_rank",
        "params": {
            "base_fen": 30_000,
            "prizes": [{"ranks": "1", "award_fen": 40_000}, {"ranks": "2", "award_fen": 10_000}],
        },
    },
}


def _township(db: Database) -> dict[str, Any]:
    """Four villages of 10 households; 9, 8, 7 and 5 of them score the village's project
    in Q1 (scoring is taking part): participation 90%, 80%, 70%, 50%."""
    now = utc_now()
    with db.unit_of_work() as session:
        township = make_township(session)
        villages = {}
        for code, taking_part in (("v1", 9), ("v2", 8), ("v3", 7), ("v4", 5)):
            village = make_village(session, township, code=code, name=f"{code}村")
            project = labor.create_project(
                session,
                village_id=village.id,
                code="park",
                name="口袋公园",
                description="",
                starts_on=date(2026, 1, 1),
                ends_on=date(2026, 6, 30),
                actor="clerk",
                now=now,
                category="park",
                planned_investment_fen=1_000_000,
                status="underway",
            )
            for n in range(10):
                household = make_household(session, village)
                if n < taking_part:
                    subsidies.score_project(
                        session,
                        project_id=project.id,
                        household_id=household.id,
                        score=90,
                        comment="",
                        scored_on=date(2026, 2, 1),
                        actor="clerk",
                        now=now,
                    )
            villages[code] = str(village.id)
        user = access.create_user(
            session,
            name="财政所",
            township_id=township.id,
            village_id=None,
            created_by="t",
            now=now,
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=access.builtin_role(session, "township_finance").id,
            village_id=None,
            township_id=township.id,
            created_by="t",
            now=now,
        )
        _, finance_key = access.create_api_key(
            session, user_id=user.id, name="k", created_by="t", now=now
        )
    return {"township_id": str(township.id), "villages": villages, "finance_key": finance_key}


def _inputs(db: Database, township_id: str) -> str:
    with db.unit_of_work(write=False) as session:
        return subsidies.compute(
            session,
            township_id=uuid.UUID(township_id),
            first=date(2026, 1, 1),
            last=date(2026, 3, 31),
        ).inputs_sha256


def _stored(db: Database) -> tuple[int, int, int]:
    with db.unit_of_work(write=False) as session:
        return (
            session.execute(select(func.count()).select_from(Settlement)).scalar_one(),
            session.execute(select(func.count()).select_from(Entry)).scalar_one(),
            session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one(),
        )


def _sides(body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        v["code"]: (
            (v["baseline"]["tier_id"], v["baseline"]["rank"], v["baseline"]["award_fen"]),
            (v["what_if"]["tier_id"], v["what_if"]["rank"], v["what_if"]["award_fen"]),
            v["difference_fen"],
        )
        for v in body["villages"]
    }


def test_regions_through_the_village_api(db: Database, client: TestClient) -> None:
    world = _township(db)
    v1 = world["villages"]["v1"]
    created = client.post(f"/v1/townships/{world['township_id']}/subsidy-schemes", json=APPROVED)
    assert created.status_code == 201
    before = _inputs(db, world["township_id"])
    set_region = client.patch(f"/v1/villages/{v1}", json={"region": " 东片 "})
    assert set_region.status_code == 200, set_region.text
    assert set_region.json()["region"] == "东片"
    # Leaving the field out keeps it; the region is a fact, so the inputs digest moves.
    assert (
        client.patch(f"/v1/villages/{v1}", json={"allow_below_floor_codes": []}).json()["region"]
        == "东片"
    )
    assert _inputs(db, world["township_id"]) != before
    # null takes the village out of its region: the digest is what it was before regions.
    assert client.patch(f"/v1/villages/{v1}", json={"region": None}).json()["region"] is None
    assert _inputs(db, world["township_id"]) == before
    blank = client.patch(f"/v1/villages/{v1}", json={"region": "  "})
    assert blank.status_code == 422
    too_long = client.patch(f"/v1/villages/{v1}", json={"region": "片" * 41})
    assert too_long.status_code == 422
    # Township finance reads regions but does not draw them (villages:manage).
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    assert (
        client.patch(f"/v1/villages/{v1}", json={"region": "西片"}, headers=finance).status_code
        == 403
    )


def test_what_if_beside_the_approved_settlement(db: Database, client: TestClient) -> None:
    world = _township(db)
    township = world["township_id"]
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    for code, region in (("v1", "东片"), ("v2", "东片"), ("v3", "西片"), ("v4", "西片")):
        response = client.patch(f"/v1/villages/{world['villages'][code]}", json={"region": region})
        assert response.status_code == 200, response.text
    assert (
        client.post(f"/v1/townships/{township}/subsidy-schemes", json=APPROVED).status_code == 201
    )
    url = f"/v1/townships/{township}/subsidy-settlements/what-if"

    # No settlement yet: the baseline is what the scheme in force gives, not stored.
    fresh = client.post(url, json={**Q1, "scheme": BY_REGION}, headers=finance)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["baseline"]["source"] == "scheme_in_force"
    assert fresh.json()["baseline"]["settlement_id"] is None

    draft = client.post(f"/v1/townships/{township}/subsidy-settlements", json=Q1)
    assert draft.status_code == 201, draft.text
    approval = client.post(
        f"/v1/subsidy-settlements/{draft.json()['id']}/approval", headers=finance
    )
    assert approval.status_code == 200, approval.text
    # Approved: v1 90 and v2 80 take the two 先进村 places (500 yuan); v3 70 and v4 50 are
    # 成效村 (200 yuan): 1,400 yuan.
    stored = _stored(db)

    # What-if, an inline draft with one 先进村 place per region: v1 takes 东片's, v2 falls
    # to 成效村 (−300 yuan); v3 takes 西片's (+300 yuan); v4 stays 成效村. Total unchanged.
    inline = client.post(url, json={**Q1, "scheme": BY_REGION}, headers=finance)
    assert inline.status_code == 200, inline.text
    body = inline.json()
    assert body["baseline"]["source"] == "approved"
    assert body["baseline"]["settlement_id"] == draft.json()["id"]
    assert body["baseline"]["total_fen"] == 140_000
    assert body["what_if"]["scheme_version_id"] is None
    assert body["what_if"]["title"] == "按片区分配名额（草案）"
    assert body["what_if"]["total_fen"] == 140_000
    assert body["total_difference_fen"] == 0
    assert body["facts_changed"] is False
    assert _sides(body) == {
        "v1": (("advanced", 1, 50_000), ("advanced", 1, 50_000), 0),
        "v2": (("advanced", 2, 50_000), ("effective", 2, 20_000), -30_000),
        "v3": (("effective", 3, 20_000), ("advanced", 3, 50_000), 30_000),
        "v4": (("effective", 4, 20_000), ("effective", 4, 20_000), 0),
    }
    v2 = next(v for v in body["villages"] if v["code"] == "v2")
    assert v2["region"] == "东片"
    assert "东片先进村名额 1 个已满" in v2["what_if"]["explanation"]

    # What-if, the next scheme version: gates at the region's average — 东片 (0.9 + 0.8) / 2
    # = 0.85 puts v2 out; 西片 (0.7 + 0.5) / 2 = 0.6 puts v4 out. v1 first: 300 + 400 yuan;
    # v3 second: 300 + 100 yuan. 1,100 yuan in all, 300 less than approved.
    created = client.post(f"/v1/townships/{township}/subsidy-schemes", json=NEXT)
    assert created.status_code == 201, created.text
    version = client.post(
        url, json={**Q1, "scheme_version_id": created.json()["id"]}, headers=finance
    ).json()
    assert version["what_if"]["scheme_version_id"] == created.json()["id"]
    assert version["what_if"]["scheme_version"] == 2
    assert (version["what_if"]["total_fen"], version["total_difference_fen"]) == (110_000, -30_000)
    assert _sides(version) == {
        "v1": (("advanced", 1, 50_000), (None, 1, 70_000), 20_000),
        "v2": (("advanced", 2, 50_000), (None, None, 0), -50_000),
        "v3": (("effective", 3, 20_000), (None, 2, 40_000), 20_000),
        "v4": (("effective", 4, 20_000), (None, None, 0), -20_000),
    }
    v2 = next(v for v in version["villages"] if v["code"] == "v2")
    assert v2["what_if"]["explanation"] == (
        "v2村：参与率 80.00% 低于所在片区（东片）平均 85.00%，不具备奖补资格，奖补 0.00 元。"
    )
    # Nothing stored, nothing booked, no event.
    assert _stored(db) == stored

    # The books move: the baseline stays the approved one, and the answer says so.
    with db.unit_of_work() as session:
        make_household(session, session.get_one(Village, uuid.UUID(world["villages"]["v4"])))
    moved = client.post(url, json={**Q1, "scheme": BY_REGION}, headers=finance).json()
    assert moved["facts_changed"] is True


def test_what_if_refusals(db: Database, client: TestClient) -> None:
    world = _township(db)
    township = world["township_id"]
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    url = f"/v1/townships/{township}/subsidy-settlements/what-if"
    assert (
        client.post(f"/v1/townships/{township}/subsidy-schemes", json=APPROVED).status_code == 201
    )
    version_id = client.get(f"/v1/townships/{township}/subsidy-schemes").json()[0]["id"]

    def code(body: dict[str, Any]) -> tuple[int, str]:
        response = client.post(url, json=body, headers=finance)
        return response.status_code, response.json().get("code", "")

    assert code(Q1) == (422, "what_if_scheme_invalid")
    assert code({**Q1, "scheme": APPROVED, "scheme_version_id": version_id}) == (
        422,
        "what_if_scheme_invalid",
    )
    assert code({"scheme": APPROVED})[0] == 422  # no period
    invalid = client.post(
        url, json={**Q1, "scheme": {**APPROVED, "pool_fen": -1}}, headers=finance
    ).json()
    assert invalid["code"] == "subsidy_scheme_invalid"
    assert [e["field"] for e in invalid["errors"]] == ["scheme.pool_fen"]
    assert invalid["errors"][0]["message_zh"] == "应不小于 0"
    in_chinese = client.post(
        url,
        json={**Q1, "scheme": {**APPROVED, "pool_fen": -1}},
        headers={**finance, "Accept-Language": "zh-CN"},
    ).json()
    assert in_chinese["detail"] == "补助方案文件有 1 处错误：scheme.pool_fen"
    # A scheme version of another township is not found.
    with db.unit_of_work() as session:
        other = make_township(session)
        theirs = subsidies.create_scheme_version(
            session, township_id=other.id, data=APPROVED, actor="t", now=utc_now()
        )
    assert code({**Q1, "scheme_version_id": str(theirs.id)})[0] == 404
    # No village has a region: places per region name regions nobody is in.
    unknown = client.post(url, json={**Q1, "scheme": BY_REGION}, headers=finance).json()
    assert unknown["code"] == "subsidy_region_unknown"
    assert [e["field"] for e in unknown["errors"]] == [
        "award.params.tiers[0].region_quotas.东片",
        "award.params.tiers[0].region_quotas.西片",
    ]
    # Three villages in regions, v4 in none: refused, naming v4 (in Chinese too).
    for code_, region in (("v1", "东片"), ("v2", "东片"), ("v3", "西片")):
        client.patch(f"/v1/villages/{world['villages'][code_]}", json={"region": region})
    missing = client.post(
        url, json={**Q1, "scheme": BY_REGION}, headers={**finance, "Accept-Language": "zh-CN"}
    ).json()
    assert missing["code"] == "subsidy_village_without_region"
    assert [v["code"] for v in missing["villages"]] == ["v4"]
    assert "v4村（v4）" in missing["detail"]
    # The same refusal when drafting a settlement under such a scheme.
    with db.unit_of_work() as session:
        subsidies.create_scheme_version(
            session,
            township_id=uuid.UUID(township),
            data={**BY_REGION, "effective_on": "2026-04-01"},
            actor="t",
            now=utc_now(),
        )
    refused = client.post(
        f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q2"}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "subsidy_village_without_region"


def test_settle_what_if_on_the_command_line(
    db: Database, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    world = _township(db)
    township = world["township_id"]
    for code, region in (("v1", "东片"), ("v2", "东片"), ("v3", "西片"), ("v4", "西片")):
        client.patch(f"/v1/villages/{world['villages'][code]}", json={"region": region})
    assert (
        client.post(f"/v1/townships/{township}/subsidy-schemes", json=APPROVED).status_code == 201
    )
    assert client.post(f"/v1/townships/{township}/subsidy-settlements", json=Q1).status_code == 201
    stored = _stored(db)
    document = tmp_path / "draft.json"
    document.write_text(json.dumps(BY_REGION, ensure_ascii=False), encoding="utf-8")
    args = ["settle", "--township", township, "--period", "2026Q1", "--what-if", str(document)]
    done = _jifen(database_url, *args)
    assert done.returncode == 0, done.stderr
    # The same figures as the API's (worked out in test_what_if_beside_the_approved_settlement),
    # against the latest draft.
    assert done.stdout.splitlines() == [
        "baseline: latest draft (scheme v1 2026 年以奖代补); what-if: 按片区分配名额（草案）",
        "v1 v1村: 500.00 先进村 #1 -> 500.00 先进村 #1 (+0.00)",
        "v2 v2村: 500.00 先进村 #2 -> 200.00 成效村 #2 (-300.00)",
        "v3 v3村: 200.00 成效村 #3 -> 500.00 先进村 #3 (+300.00)",
        "v4 v4村: 200.00 成效村 #4 -> 200.00 成效村 #4 (+0.00)",
        "total: 1,400.00 -> 1,400.00 yuan (+0.00); nothing stored",
    ]
    assert _stored(db) == stored
    # A document with errors lists them and exits 1; --export with --what-if is refused.
    document.write_text(json.dumps({**BY_REGION, "pool_fen": -1}), encoding="utf-8")
    refused = _jifen(database_url, *args)
    assert refused.returncode == 1
    assert "pool_fen:" in refused.stderr
    assert _jifen(database_url, *args, "--export", str(tmp_path / "out")).returncode == 2


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "jifen", *args], env=env, capture_output=True, text=True, timeout=120
    )
