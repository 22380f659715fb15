"""以奖代补 withholding (70% on approval, 30% after 验收) on SQLite and PostgreSQL: the
split with yuan rounding, the two bookings at approval, release after a passed
acceptance (exactly once), refusal before acceptance, a failed acceptance returning the
money to the township's pool, the earmark refusing a transfer to a member, and the
events — with the figures worked out by hand."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Entry, Member, OutboxEvent, Project
from jifen.subsidies.release import split
from jifen.subsidies.scheme import SchemeInvalid, compile_scheme
from tests.subsidies.test_settlement import SCHEME, _township

WITHHOLDING_SCHEME: dict[str, Any] = {**SCHEME, "withholding": {"share": "0.3"}}


# --- the split (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("award_fen", "share", "unit_fen", "paid_fen", "withheld_fen"),
    [
        # 570 yuan × 30% = 171 yuan exactly: 399 now, 171 withheld.
        (57_000, "0.3", 100, 39_900, 17_100),
        # 12,345 yuan × 30% = 3,703.50 yuan, down to the yuan: 3,703 withheld, 8,642 now.
        (1_234_500, "0.3", 100, 864_200, 370_300),
        # 999 yuan × 35% = 349.65 yuan → 349 withheld, 650 now.
        (99_900, "0.35", 100, 65_000, 34_900),
        # To the fen: 10.01 yuan × 30% = 300.3 fen → 300 fen withheld, 701 now.
        (1_001, "0.3", 1, 701, 300),
        # 1 yuan × 30% rounds to 0 yuan withheld: all of it now.
        (100, "0.3", 100, 100, 0),
        (0, "0.3", 100, 0, 0),
    ],
)
def test_the_split_adds_up_to_the_award(
    award_fen: int, share: str, unit_fen: int, paid_fen: int, withheld_fen: int
) -> None:
    assert split(award_fen, Decimal(share), unit_fen) == (paid_fen, withheld_fen)
    assert paid_fen + withheld_fen == award_fen


@pytest.mark.parametrize(
    ("withholding", "field"),
    [
        ({"share": "1"}, "withholding.share"),
        ({"share": "0"}, "withholding.share"),
        ({"share": "-0.3"}, "withholding.share"),
        ({"share": "0.3", "released_on": "approval"}, "withholding.released_on"),
        ({"share": "0.3", "until": "acceptance"}, "withholding.until"),
        ({}, "withholding.share"),
    ],
)
def test_a_bad_withholding_names_its_field(withholding: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemeInvalid) as refused:
        compile_scheme({**SCHEME, "withholding": withholding})
    assert [e.field for e in refused.value.errors] == [field]


def test_a_scheme_without_withholding_reads_as_before() -> None:
    assert compile_scheme(SCHEME).document.withholding is None
    share = compile_scheme(WITHHOLDING_SCHEME).document.withholding
    assert share is not None and share.share == Decimal("0.3")


# --- the books ------------------------------------------------------------------------------


def _balance(session: Any, village_id: uuid.UUID, kind: AccountKind, category: str) -> int:
    account = ledger.find_account_id(
        session, village_id=village_id, kind=kind, asset=Asset.CNY, category=category
    )
    return 0 if account is None else ledger.get_balance(session, account).posted


def _books(db: Database, village_id: uuid.UUID) -> tuple[int, int, int]:
    """(SUBSIDY main, SUBSIDY withheld, FUNDING township_subsidy) of the village."""
    with db.unit_of_work(write=False) as session:
        return (
            _balance(session, village_id, AccountKind.SUBSIDY, "main"),
            _balance(session, village_id, AccountKind.SUBSIDY, "withheld"),
            _balance(session, village_id, AccountKind.FUNDING, "township_subsidy"),
        )


def _project_id(db: Database, village_id: uuid.UUID) -> str:
    with db.unit_of_work(write=False) as session:
        return str(
            session.execute(select(Project.id).where(Project.village_id == village_id)).scalar_one()
        )


def _events(db: Database, kind: str) -> list[OutboxEvent]:
    with db.unit_of_work(write=False) as session:
        return list(session.execute(select(OutboxEvent).where(OutboxEvent.type == kind)).scalars())


def _count(db: Database, code: str) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.execute(select(func.count()).where(Entry.code == code)).scalar_one())


def test_withhold_on_approval_release_after_acceptance(
    db: Database, settings: Settings, client: TestClient
) -> None:
    world = _township(db, settings)
    township, villages = world["township_id"], world["villages"]
    v1, v2, v3 = villages["v1"], villages["v2"], villages["v3"]
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    scheme = client.post(f"/v1/townships/{township}/subsidy-schemes", json=WITHHOLDING_SCHEME)
    assert scheme.status_code == 201, scheme.text
    answer = client.post(
        f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"}
    )
    assert answer.status_code == 201, answer.text
    draft = answer.json()
    result = draft["result"]
    by_code = {v["code"]: v for v in result["villages"]}
    # The awards are test_settlement's (570 and 300 yuan); 30% of each is held back.
    # v1: 570 × 0.3 = 171 → 399 now, 171 withheld. v3: 300 × 0.3 = 90 → 210 now, 90 withheld.
    assert {
        c: (v["award_fen"], v["paid_now_fen"], v["withheld_fen"]) for c, v in by_code.items()
    } == {
        "v1": (57_000, 39_900, 17_100),
        "v2": (0, 0, 0),
        "v3": (30_000, 21_000, 9_000),
    }
    assert result["withholding"] == {"share": "0.3", "released_on": "acceptance"}
    assert (result["paid_now_total_fen"], result["withheld_total_fen"]) == (60_900, 26_100)
    assert "其中即付 399.00 元，暂扣 171.00 元（30.00%）" in by_code["v1"]["explanation"]
    # The downloads show both parts, and stay the same bytes.
    csv_bytes = client.get(
        f"/v1/subsidy-settlements/{draft['id']}/export", params={"format": "csv"}
    ).content
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    header = rows[0]
    v1_row = next(r for r in rows if r and r[0] == "v1")
    assert v1_row[header.index("即付(元)")] == "399.00"
    assert v1_row[header.index("暂扣待验收(元)")] == "171.00"
    xlsx = client.get(f"/v1/subsidy-settlements/{draft['id']}/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["汇总"]
    headers = [c.value for c in sheet[1]]
    assert sheet.cell(row=2, column=headers.index("暂扣待验收(元)") + 1).number_format == "#,##0.00"

    # 石门 (v3) has its project accepted before approval, and it fails.
    p3 = _project_id(db, v3)
    failed = client.post(
        f"/v1/projects/{p3}/acceptance",
        json={"accepted_on": "2026-03-20", "accepted_by": "镇住建办", "outcome": "failed"},
        headers=finance,
    )
    assert failed.status_code == 201, failed.text
    assert failed.json()["releases"] == []
    again = client.post(
        f"/v1/projects/{p3}/acceptance",
        json={"accepted_on": "2026-03-21", "accepted_by": "镇住建办", "outcome": "passed"},
        headers=finance,
    )
    assert again.status_code == 409 and again.json()["code"] == "project_already_accepted"

    approved = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval", headers=finance)
    assert approved.status_code == 200, approved.text
    # Two entries per village: the paid part to SUBSIDY, the withheld part held.
    assert _books(db, v1) == (39_900, 17_100, -57_000)
    assert _books(db, v3) == (21_000, 9_000, -30_000)
    with db.unit_of_work(write=False) as session:
        held = session.execute(select(Entry).where(Entry.code == "subsidy_withheld")).scalars()
        details = {e.village_id: e.details for e in held}
    p1 = _project_id(db, v1)
    assert details[v1]["earmark"] == "project_construction"
    assert details[v1]["project_ids"] == [uuid.UUID(p1).hex]
    [approval_event] = _events(db, "settlement.approved")
    of_v1 = next(v for v in approval_event.payload["villages"] if v["village_id"] == v1.hex)
    assert (of_v1["paid_now_fen"], of_v1["withheld_fen"]) == (39_900, 17_100)
    assert of_v1["withheld_entry_id"] is not None

    # Before 清泉 (v1)'s project is accepted, its withheld part stays.
    early = client.post(
        f"/v1/subsidy-settlements/{draft['id']}/releases",
        json={"village_id": str(v1)},
        headers=finance,
    )
    assert early.status_code == 409 and early.json()["code"] == "subsidy_release_not_accepted"
    assert early.json()["project_ids"] == [p1]
    nothing = client.post(
        f"/v1/subsidy-settlements/{draft['id']}/releases",
        json={"village_id": str(v2)},
        headers=finance,
    )
    assert nothing.status_code == 409 and nothing.json()["code"] == "subsidy_nothing_withheld"

    # The acceptance passes: the 171 yuan move to the village's SUBSIDY account at once.
    passed = client.post(
        f"/v1/projects/{p1}/acceptance",
        json={
            "accepted_on": "2026-04-02",
            "accepted_by": "镇住建办 王工",
            "outcome": "passed",
            "note": "路面平整",
        },
        headers=finance,
    )
    assert passed.status_code == 201, passed.text
    [released] = passed.json()["releases"]
    assert (released["outcome"], released["amount_fen"]) == ("released", 17_100)
    assert released["acceptance_ids"] == [uuid.UUID(passed.json()["id"]).hex]
    assert _books(db, v1) == (57_000, 0, -57_000)
    with db.unit_of_work(write=False) as session:
        project = session.get(Project, uuid.UUID(p1))
        assert project is not None and project.status == "accepted"
    # Asking again answers the same release and books nothing.
    retry = client.post(
        f"/v1/subsidy-settlements/{draft['id']}/releases",
        json={"village_id": str(v1)},
        headers=finance,
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["entry_id"] == released["entry_id"]
    assert _count(db, "subsidy_release") == 1
    assert _books(db, v1) == (57_000, 0, -57_000)
    # Nor can a reversal undo the release behind the withholding's back.
    undo = client.post(
        f"/v1/entries/{released['entry_id']}/reversals", json={"reason": "误操作"}, headers=finance
    )
    assert undo.status_code == 409, undo.text
    assert undo.json()["code"] == "withheld_subsidy_moves_by_release"

    # 石门's failed acceptance came before approval: finance releases it by hand, and the
    # 90 yuan go back to the township's pool (FUNDING township_subsidy).
    returned = client.post(
        f"/v1/subsidy-settlements/{draft['id']}/releases",
        json={"village_id": str(v3)},
        headers=finance,
    )
    assert returned.status_code == 200, returned.text
    assert (returned.json()["outcome"], returned.json()["amount_fen"]) == ("returned", 9_000)
    assert _books(db, v3) == (21_000, 0, -21_000)
    assert _count(db, "subsidy_return") == 1

    # Exactly one subsidy.released per village, and a project.accepted per acceptance.
    events = {e.village_id: e.payload for e in _events(db, "subsidy.released")}
    assert set(events) == {v1, v3}
    assert (events[v1]["outcome"], events[v1]["amount_fen"]) == ("released", 17_100)
    assert events[v1]["entry_id"] == released["entry_id"]
    assert (events[v3]["outcome"], events[v3]["amount_fen"]) == ("returned", 9_000)
    accepted = {
        e.payload["project_id"]: e.payload["outcome"] for e in _events(db, "project.accepted")
    }
    assert accepted == {p1: "passed", p3: "failed"}

    # The settlement shows what became of each withheld part.
    read = client.get(f"/v1/subsidy-settlements/{draft['id']}").json()
    shown = {w["village_id"]: w for w in read["withholdings"]}
    assert shown[str(v1)]["amount_fen"] == 17_100
    assert shown[str(v1)]["release"]["outcome"] == "released"
    assert shown[str(v3)]["release"]["outcome"] == "returned"
    # The books add up: each village's trial balance is zero (the db fixture checks the
    # chains too); the pool paid 570 + 210 yuan in all.
    with db.unit_of_work(write=False) as session:
        for village_id in (v1, v3):
            assert ledger.trial_balance(session, village_id).is_balanced
    assert _books(db, v1)[2] + _books(db, v3)[2] == -78_000


def test_subsidy_money_may_not_go_to_a_member(
    db: Database, settings: Settings, client: TestClient
) -> None:
    world = _township(db, settings)
    township, v1 = world["township_id"], world["villages"]["v1"]
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    client.post(f"/v1/townships/{township}/subsidy-schemes", json=WITHHOLDING_SCHEME)
    draft = client.post(
        f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"}
    ).json()
    approved = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval", headers=finance)
    assert approved.status_code == 200, approved.text
    with db.unit_of_work() as session:
        member_id = session.execute(
            select(Member.id).where(Member.village_id == v1).limit(1)
        ).scalar_one()
        member_cny = ledger.open_account(
            session,
            village_id=v1,
            kind=AccountKind.MEMBER,
            asset=Asset.CNY,
            member_id=member_id,
            now=utc_now(),
        ).id
        ids = {
            category: ledger.find_account_id(
                session, village_id=v1, kind=AccountKind.SUBSIDY, asset=Asset.CNY, category=category
            )
            for category in ("main", "withheld")
        }
        project_account = ledger.find_account_id(
            session, village_id=v1, kind=AccountKind.PROJECT, asset=Asset.CNY, category="road"
        )
    for source in ids.values():
        refused = client.post(
            "/v1/entries",
            json={
                "village_id": str(v1),
                "code": "payout",
                "postings": [
                    {"account_id": str(source), "amount": -1_000},
                    {"account_id": str(member_cny), "amount": 1_000},
                ],
            },
            headers=finance,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "earmarked_funds_to_owner"
    # Nor may the withheld part be spent before the acceptance, even on the project.
    early = client.post(
        "/v1/entries",
        json={
            "village_id": str(v1),
            "code": "project_spending",
            "postings": [
                {"account_id": str(ids["withheld"]), "amount": -1_000},
                {"account_id": str(project_account), "amount": 1_000},
            ],
        },
        headers=finance,
    )
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "withheld_subsidy_moves_by_release"
    # The received part may go to the project's construction.
    spent = client.post(
        "/v1/entries",
        json={
            "village_id": str(v1),
            "code": "project_spending",
            "postings": [
                {"account_id": str(ids["main"]), "amount": -1_000},
                {"account_id": str(project_account), "amount": 1_000},
            ],
        },
        headers=finance,
    )
    assert spent.status_code == 201, spent.text
    assert _books(db, v1) == (38_900, 17_100, -57_000)


def test_a_failed_acceptance_after_approval_returns_the_money_to_the_pool(
    db: Database, settings: Settings, client: TestClient
) -> None:
    world = _township(db, settings)
    township, v3 = world["township_id"], world["villages"]["v3"]
    finance = {"Authorization": f"Bearer {world['finance_key']}"}
    scheme = client.post(f"/v1/townships/{township}/subsidy-schemes", json=WITHHOLDING_SCHEME)
    assert scheme.status_code == 201, scheme.text
    draft = client.post(
        f"/v1/townships/{township}/subsidy-settlements", json={"quarter": "2026Q1"}
    ).json()
    approved = client.post(f"/v1/subsidy-settlements/{draft['id']}/approval", headers=finance)
    assert approved.status_code == 200, approved.text
    assert _books(db, v3) == (21_000, 9_000, -30_000)
    failed = client.post(
        f"/v1/projects/{_project_id(db, v3)}/acceptance",
        json={"accepted_on": "2026-04-10", "accepted_by": "镇住建办", "outcome": "failed"},
        headers=finance,
    )
    assert failed.status_code == 201, failed.text
    [returned] = failed.json()["releases"]
    assert (returned["outcome"], returned["amount_fen"]) == ("returned", 9_000)
    # 300 yuan awarded, 90 of them back in the township's pool: the village keeps 210.
    assert _books(db, v3) == (21_000, 0, -21_000)
    [event] = _events(db, "subsidy.released")
    assert (event.village_id, event.payload["outcome"]) == (v3, "returned")
    assert event.payload["entry_id"] == returned["entry_id"]
    again = client.post(
        f"/v1/subsidy-settlements/{draft['id']}/releases",
        json={"village_id": str(v3)},
        headers=finance,
    )
    assert again.json()["entry_id"] == returned["entry_id"]
    assert _count(db, "subsidy_return") == 1 and len(_events(db, "subsidy.released")) == 1
