"""A township's quarter settled from its books, on SQLite and PostgreSQL: labor records,
money and donations booked as entries, 共评 scores and a 共谋 meeting; the facts, the
awards worked out by hand, identical bytes on recomputation (settlement, CSV, XLSX), and
approval by another person booking one entry per village, once."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import service as access
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Entry, Household, OutboxEvent, Village
from jifen.records import service as records
from jifen.subsidies import service as subsidies
from tests.factories import clock, make_household, make_member, make_township, make_village

CHARTER = {
    "title": "投工投劳",
    "effective_on": "2026-01-01",
    "rules": [
        {
            "id": "labor",
            "category": "labor",
            "label": "投工投劳",
            "type": "per_unit",
            "params": {"unit": "person_day", "points_per_unit": 10, "rounding": "half_up"},
            # A point cap: it cuts the points, never the labor's money value.
            "caps": [{"per": "member", "period": "day", "max_points": 5}],
            "allow_repeats": True,
        }
    ],
}
SCHEME: dict[str, Any] = {
    "title": "2026 年以奖代补",
    "effective_on": "2026-01-01",
    "pool_fen": 100_000,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 50,
            "normalise": {"method": "ratio", "target": "0.8"},
        },
        {
            "id": "input",
            "type": "residents_input",
            "weight": 50,
            "normalise": {"method": "ratio", "target": "0.5"},
        },
    ],
    "gates": [{"indicator": "participation", "min": "0.3"}],
    "award": {"method": "pool_split"},
    "caps": {"share_of_investment": "0.5"},
    "rounding": {"unit": "yuan", "remainder": "largest_remainder"},
}
FEB = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)


def _labor(session: Any, settings: Settings, village: Village, project: Any, days: int) -> None:
    household = make_household(session, village)
    member = make_member(session, village, household_id=household.id)
    records.record(
        session,
        records.RecordRequest(
            village_id=village.id,
            rule_id="labor",
            member_id=member.id,
            household_id=None,
            quantity=Decimal(days),
            occurred_at=FEB,
            project_id=project.id,
        ),
        recorder=records.Recorder("clerk", frozenset({"village_clerk"})),
        clock=clock(settings),
    )


def _project(session: Any, village: Village, investment_fen: int) -> Any:
    return labor.create_project(
        session,
        village_id=village.id,
        code="road",
        name="村道硬化",
        description="",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 6, 30),
        actor="clerk",
        now=utc_now(),
        category="road",
        planned_investment_fen=investment_fen,
        status="underway",
    )


def _township(db: Database, settings: Settings) -> dict[str, Any]:
    """清泉 (v1): 2 + 1 person-days of labor, 500 yuan raised, two scores: all 4 households
    take part. 新华 (v2): one donation from 1 of 4 households. 石门 (v3): 1 person-day and a
    score: both its households."""
    now = utc_now()
    with db.unit_of_work() as session:
        township = make_township(session)
        v1 = make_village(session, township, code="v1", name="清泉村")
        v2 = make_village(session, township, code="v2", name="新华村")
        v3 = make_village(session, township, code="v3", name="石门村")
        subsidies.create_wage_rate(
            session,
            township_id=township.id,
            effective_on=date(2026, 1, 1),
            fen_per_person_day=12_000,
            actor="finance",
            now=now,
        )
        for village in (v1, v2, v3):
            charters.create_version(
                session, village_id=village.id, data=CHARTER, actor="t", now=now, publish=True
            )
        p1, p2, p3 = (
            _project(session, v1, 200_000),
            _project(session, v2, 1_000_000),
            _project(session, v3, 60_000),
        )
        _labor(session, settings, v1, p1, 2)
        _labor(session, settings, v1, p1, 1)
        _labor(session, settings, v3, p3, 1)
        h3, h4 = make_household(session, v1), make_household(session, v1)
        subsidies.record_contribution(
            session,
            project_id=p1.id,
            kind="money",
            amount_fen=50_000,
            description="",
            contributed_on=date(2026, 2, 1),
            member_id=None,
            household_id=h3.id,
            organisation_id=None,
            actor="clerk",
            clock=clock(settings),
        )
        v1_households = list(
            session.execute(
                select(Household.id).where(Household.village_id == v1.id).order_by(Household.id)
            ).scalars()
        )
        for household_id, score in ((v1_households[0], 90), (h4.id, 80)):
            subsidies.score_project(
                session,
                project_id=p1.id,
                household_id=household_id,
                score=score,
                comment="好",
                scored_on=date(2026, 3, 1),
                actor="clerk",
                now=now,
            )
        subsidies.record_meeting(
            session,
            project_id=p1.id,
            held_on=date(2026, 1, 5),
            topic="村道硬化方案",
            household_ids=[h3.id, h4.id],
            actor="clerk",
            now=now,
        )
        donor = make_household(session, v2)
        for _ in range(3):
            make_household(session, v2)
        subsidies.record_contribution(
            session,
            project_id=p2.id,
            kind="in_kind",
            amount_fen=20_000,
            description="水泥 2 吨",
            contributed_on=date(2026, 2, 1),
            member_id=None,
            household_id=donor.id,
            organisation_id=None,
            actor="clerk",
            clock=clock(settings),
        )
        v3_other = make_household(session, v3)
        subsidies.score_project(
            session,
            project_id=p3.id,
            household_id=v3_other.id,
            score=60,
            comment="",
            scored_on=date(2026, 3, 2),
            actor="clerk",
            now=now,
        )
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
        return {
            "township_id": str(township.id),
            "villages": {v.code: v.id for v in (v1, v2, v3)},
            "finance_key": finance_key,
        }


def test_the_facts_come_from_the_books(db: Database, settings: Settings) -> None:
    world = _township(db, settings)
    with db.unit_of_work(write=False) as session:
        facts = {
            f.code: f
            for f in subsidies.village_facts(
                session,
                township_id=uuid.UUID(world["township_id"]),
                first=date(2026, 1, 1),
                last=date(2026, 3, 31),
            )
        }
        project_account = ledger.find_account_id(
            session,
            village_id=world["villages"]["v1"],
            kind=AccountKind.PROJECT,
            asset=Asset.CNY,
            category="road",
        )
        assert project_account is not None
        assert ledger.get_balance(session, project_account).posted == 50_000
    v1 = facts["v1"]
    assert (v1.households_total, v1.households_participating) == (4, 4)
    # 3 person-days × 120 yuan, though the day cap cut the points of the 2-day record.
    assert (v1.person_days, v1.labor_value_fen, v1.money_fen) == (Decimal(3), 36_000, 50_000)
    assert (v1.scores_count, v1.scores_sum, v1.meetings, v1.meeting_households) == (2, 170, 1, 2)
    assert (facts["v2"].households_participating, facts["v2"].in_kind_fen) == (1, 20_000)
    assert (facts["v3"].households_participating, facts["v3"].labor_value_fen) == (2, 12_000)


def _approve_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_settle_recompute_export_and_approve(
    db: Database, settings: Settings, client: TestClient
) -> None:
    world = _township(db, settings)
    township = world["township_id"]
    created = client.post(f"/v1/townships/{township}/subsidy-schemes", json=SCHEME)
    assert created.status_code == 201, created.text
    first = client.post(f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"})
    assert first.status_code == 201, first.text
    draft = first.json()
    awards = {v["code"]: v for v in draft["result"]["villages"]}
    # v1: participation 4/4 → 1.25, ceiling 1 → 50; input (500 + 360) / 2,000 yuan = 0.43
    #     → 0.86 → 43; score 93.
    # v2: 1/4 = 25% < the 30% gate: nothing.
    # v3: 2/2 → 50; input 120 / 600 yuan = 0.2 → 0.4 → 20; score 70.
    # Pool 1,000 yuan: v1 93/163 → 570.55… → 570 yuan; v3 70/163 → 429.44… but half of
    # its 600 yuan investment is 300: capped. The shares add to 870.55…, to the yuan 870:
    # nothing left for the remainder rule; 130 yuan stay in the pool.
    assert {c: (v["score"], v["award_fen"]) for c, v in awards.items()} == {
        "v1": ("93.000000", 57_000),
        "v2": (None, 0),
        "v3": ("70.000000", 30_000),
    }
    assert awards["v3"]["capped"] and not awards["v1"]["capped"]
    assert draft["result"]["unallocated_fen"] == 13_000 and draft["total_fen"] == 87_000
    assert "受项目计划投资 600.00 元的 50.00% 上限 300.00 元限制" in awards["v3"]["explanation"]
    # Recomputing the same books gives the same settlement, byte for byte.
    again = client.post(f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"})
    assert again.json()["id"] == draft["id"]
    with db.unit_of_work(write=False) as session:
        recomputed = subsidies.compute(
            session,
            township_id=uuid.UUID(township),
            first=date(2026, 1, 1),
            last=date(2026, 3, 31),
        )
    assert hashlib.sha256(recomputed.result_bytes).hexdigest() == draft["result_sha256"]
    downloads = {}
    for fmt in ("csv", "xlsx"):
        one = client.get(f"/v1/subsidy-settlements/{draft['id']}/export", params={"format": fmt})
        two = client.get(f"/v1/subsidy-settlements/{draft['id']}/export", params={"format": fmt})
        assert one.status_code == 200, one.text
        assert one.content == two.content
        assert hashlib.sha256(one.content).hexdigest() == draft[f"{fmt}_sha256"]
        downloads[fmt] = one.content
    csv_text = downloads["csv"].decode("utf-8-sig")
    assert csv_text.startswith("村代码,村名,具备资格,综合得分,排名,等次")
    assert "v1,清泉村,是,93.000000,1,,570.55,1000.00,570.00," in csv_text
    book = openpyxl.load_workbook(io.BytesIO(downloads["xlsx"]))
    assert book.sheetnames == ["汇总", "参与率", "群众投入占比"]
    assert book["汇总"]["I2"].value == Decimal("570.00") or book["汇总"]["I2"].value == 570
    assert book["汇总"]["I2"].number_format == "#,##0.00"

    # The drafter may not approve; finance (someone else) does, once.
    self_approval = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval")
    assert self_approval.status_code == 409
    assert self_approval.json()["code"] == "settlement_self_approval"
    finance = _approve_headers(world["finance_key"])
    approved = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval", headers=finance)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    repeat = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval", headers=finance)
    assert repeat.json()["entry_ids"] == approved.json()["entry_ids"]
    with db.unit_of_work(write=False) as session:
        booked = list(session.execute(select(Entry).where(Entry.code == "subsidy_award")).scalars())
        assert sorted(e.village_id for e in booked) == sorted(
            [world["villages"]["v1"], world["villages"]["v3"]]
        )
        for code, amount in (("v1", 57_000), ("v3", 30_000)):
            subsidy = ledger.find_account_id(
                session,
                village_id=world["villages"][code],
                kind=AccountKind.SUBSIDY,
                asset=Asset.CNY,
            )
            assert subsidy is not None
            assert ledger.get_balance(session, subsidy).posted == amount
        # One settlement.approved event in the outbox, though approval was asked twice;
        # its figures are the booked ones: 570 + 300 yuan = 87,000 fen.
        approvals = list(
            session.execute(
                select(OutboxEvent).where(OutboxEvent.type == "settlement.approved")
            ).scalars()
        )
        assert len(approvals) == 1
        event = approvals[0]
        assert event.township_id == uuid.UUID(township) and event.village_id is None
        assert event.payload["settlement_id"] == draft["id"]
        assert event.payload["period_start"] == "2026-01-01"
        assert event.payload["period_end"] == "2026-03-31"
        assert event.payload["result_sha256"] == draft["result_sha256"]
        assert event.payload["total_fen"] == 87_000
        by_village = {v["village_id"]: v for v in event.payload["villages"]}
        v1, v2 = world["villages"]["v1"].hex, world["villages"]["v2"].hex
        assert by_village[v1]["award_fen"] == 57_000
        assert by_village[v1]["entry_id"] == approved.json()["entry_ids"][v1]
        assert by_village[v2] == {"village_id": v2, "award_fen": 0, "entry_id": None}
    # Frozen: a later scheme cannot take effect inside the approved quarter.
    late = client.post(
        f"/v1/townships/{township}/subsidy-schemes", json={**SCHEME, "effective_on": "2026-03-01"}
    )
    assert late.json()["code"] == "subsidy_scheme_effective_date_not_after_current"


def test_changed_books_make_a_new_draft_and_the_old_one_stale(
    db: Database, settings: Settings, client: TestClient
) -> None:
    world = _township(db, settings)
    township = world["township_id"]
    client.post(f"/v1/townships/{township}/subsidy-schemes", json=SCHEME)
    old = client.post(f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"})
    with db.unit_of_work() as session:
        village = session.get(Village, world["villages"]["v2"])
        assert village is not None
        make_household(session, village)
    new = client.post(f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"})
    assert new.json()["id"] != old.json()["id"]
    refused = client.post(
        f"/v1/subsidy-settlements/{old.json()['id']}/approval",
        headers=_approve_headers(world["finance_key"]),
    )
    assert refused.status_code == 409 and refused.json()["code"] == "settlement_stale"


def test_an_invalid_scheme_names_its_fields(db: Database, client: TestClient) -> None:
    township = client.post("/v1/townships", json={"code": "t9", "name": "九镇"}).json()["id"]
    bad = {**SCHEME, "gates": [{"indicator": "nope", "min": "0.3"}]}
    answer = client.post(f"/v1/townships/{township}/subsidy-schemes", json=bad)
    assert answer.status_code == 422
    assert answer.json()["code"] == "subsidy_scheme_invalid"
    assert [e["field"] for e in answer.json()["errors"]] == ["gates[0].indicator"]


def test_participation_of_a_village(db: Database, settings: Settings, client: TestClient) -> None:
    world = _township(db, settings)
    v1 = world["villages"]["v1"]
    answer = client.get(f"/v1/villages/{v1}/participation", params={"quarter": "2026Q1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["participation_share"], body["labor_value_fen"]) == ("1.000000", 36_000)
    assert (body["satisfaction_mean"], body["meetings"]) == ("85.000000", 1)
    assert body["residents_input_share"] == "0.430000"
    wrong = client.get(f"/v1/villages/{v1}/participation", params={"quarter": "2026Q5"})
    assert wrong.status_code == 422
