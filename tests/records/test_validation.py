"""What recording refuses: missing evidence, quantities a rule cannot take, events in the
future, recorders the rule does not name, members who left the roll."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from jifen.charters import errors as charter_errors
from jifen.kit.clock import utc_now
from jifen.ledger import errors as ledger_errors
from jifen.records import errors
from jifen.records.service import Recorder
from jifen.tenancy import service as tenancy
from tests.records.charters import CERTIFICATE, INSPECTION, VOLUNTEER_EVIDENCE
from tests.records.world import ADMIN, CASHIER, LEADER, World, at, resident


def test_missing_evidence_is_named(world: World) -> None:
    photo_only = [{"kind": "photo", "url": "https://files.example/volunteer.jpg"}]
    with pytest.raises(errors.EvidenceMissing) as refused:
        world.record("volunteer", world.a1, quantity=2, evidence=photo_only)
    assert refused.value.code == "evidence_missing"
    assert refused.value.extra == {"rule_id": "volunteer", "missing": ["witness"]}

    with pytest.raises(errors.EvidenceMissing) as refused:
        world.record("clutter", None, household=world.household_a)
    assert refused.value.extra["missing"] == ["inspector", "photo"]
    assert world.household_points(world.household_a) == 0


def test_evidence_given_is_kept_on_the_record(world: World) -> None:
    row = world.record(
        "volunteer",
        world.a1,
        quantity=2,
        evidence=VOLUNTEER_EVIDENCE,
        place="村委会门前广场",
        note="重阳节敬老志愿服务",
    )

    assert row.evidence == VOLUNTEER_EVIDENCE
    assert (row.place, row.note) == ("村委会门前广场", "重阳节敬老志愿服务")


@pytest.mark.parametrize(
    ("rule_id", "quantity", "evidence"),
    [
        ("public_cleaning", "0", ()),
        ("public_cleaning", "-1", ()),
        ("public_cleaning", "1.5", ()),
        ("public_cleaning", "100001", ()),
        ("voluntary_labor", "0", ()),
        ("clutter", "0.5", INSPECTION),
        ("brave_deed", "2.5", CERTIFICATE),
    ],
)
def test_a_quantity_the_rule_cannot_take_is_refused(
    world: World, rule_id: str, quantity: str, evidence: list[dict[str, str]]
) -> None:
    with pytest.raises(charter_errors.InvalidQuantity) as refused:
        world.record(rule_id, world.a1, quantity=quantity, evidence=evidence)
    assert refused.value.code == "invalid_quantity"
    assert world.household_points(world.household_a) == 0


def test_an_event_in_the_future_is_refused(world: World) -> None:
    now = utc_now()
    with pytest.raises(ledger_errors.OccurredInFuture) as refused:
        world.record("public_cleaning", world.a1, occurred_at=now + timedelta(hours=1), now=now)
    assert refused.value.code == "occurred_at_in_future"
    # a clock a little behind the client's is tolerated
    row = world.record(
        "public_cleaning", world.a1, occurred_at=now + timedelta(seconds=30), now=now
    )
    assert row.status == "approved"


def test_a_recorder_the_rule_does_not_name_is_refused(world: World) -> None:
    # 宅前屋后乱堆物 is recorded by village clerks only
    with pytest.raises(errors.RecorderNotAllowed) as refused:
        world.record(
            "clutter", None, household=world.household_a, evidence=INSPECTION, recorder=LEADER
        )
    assert refused.value.code == "recorder_not_allowed"
    assert refused.value.extra == {"rule_id": "clutter", "recorders": ["village_clerk"]}
    with pytest.raises(errors.RecorderNotAllowed):
        world.record("public_cleaning", world.a1, recorder=CASHIER)
    # a resident may not report a conduct item against a neighbour
    with pytest.raises(errors.RecorderNotAllowed):
        world.record("gambling", world.b1, recorder=resident("张三"))


def test_a_check_in_records_only_the_rules_that_name_it(world: World) -> None:
    check_in = Recorder("活动签到", frozenset({"check_in"}))

    row = world.record("villager_meeting", world.a1, recorder=check_in)

    assert (row.status, row.recorder_role, row.points) == ("approved", "check_in", 2)
    with pytest.raises(errors.RecorderNotAllowed):
        world.record("public_cleaning", world.a1, recorder=check_in)


def test_senior_roles_record_anything_without_review(world: World) -> None:
    deduction = world.record(
        "clutter", None, household=world.household_b, evidence=INSPECTION, recorder=ADMIN
    )
    labor = world.record("voluntary_labor", world.a1, quantity=2, recorder=ADMIN)
    platform = Recorder("平台管理员", frozenset({"platform_admin"}))
    volunteer = world.record(
        "volunteer", world.a2, quantity=1, evidence=VOLUNTEER_EVIDENCE, recorder=platform
    )

    assert (deduction.status, deduction.recorder_role) == ("approved", "township_admin")
    assert (labor.status, labor.stages_pending, labor.points) == ("approved", [], 3)
    assert (volunteer.status, volunteer.recorder_role) == ("approved", "platform_admin")
    assert world.household_points(world.household_a) == 5


def test_a_deactivated_member_is_refused_after_leaving(world: World) -> None:
    with world.db.unit_of_work() as session:
        tenancy.deactivate_member(session, world.a2, on=date(2026, 6, 30), reason="迁出本村")

    with pytest.raises(ledger_errors.MemberInactive) as refused:
        world.record("public_cleaning", world.a2, occurred_at=at(2026, 7, 2))
    assert refused.value.code == "member_inactive"
    assert refused.value.extra["deactivated_on"] == "2026-06-30"
    # the last day on the roll still counts, and so does an earlier day recorded late
    last_day = world.record("public_cleaning", world.a2, occurred_at=at(2026, 6, 30))
    earlier = world.record("public_cleaning", world.a2, occurred_at=at(2026, 6, 1))
    assert (last_day.points, earlier.points) == (3, 3)
    assert last_day.household_id == world.household_a


def test_an_unknown_project_is_refused(world: World) -> None:
    with pytest.raises(errors.ProjectNotInVillage):
        world.record("voluntary_labor", world.a1, quantity=2, project_id=uuid.uuid4())
