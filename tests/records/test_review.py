"""Review: a group leader's record waits for the clerk's 复核; a resident's own report
(个人申报) waits for 初审 and then 复核. A pending record moves no balance."""

from __future__ import annotations

import pytest

from jifen.records import errors
from jifen.records import service as records
from jifen.records.service import Recorder
from tests.records.charters import VOLUNTEER_EVIDENCE
from tests.records.world import CASHIER, CLERK, CLERK2, LEADER, World, resident


def test_a_group_leaders_record_waits_for_the_clerks_final_review(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    assert row.status == "pending"
    assert row.stages_pending == ["final_review"]
    assert (row.recorder, row.recorder_role) == (LEADER.actor, "group_leader")
    assert (row.scored_points, row.awarded_points, row.points) == (3, 0, 0)
    assert row.entry_id is None
    assert row.explanation == "义务劳动 2 小时 × 1.5 分/小时 = 3 分"
    assert world.household_points(world.household_a) == 0

    approved = world.review(row.id, reason="现场核实", reviewer=CLERK)

    assert approved.status == "approved"
    assert approved.stages_pending == []
    assert approved.points == 3
    assert approved.entry_id is not None
    assert world.entry(approved.entry_id).entry.actor == CLERK.actor
    assert world.household_points(world.household_a) == 3
    with world.db.unit_of_work(write=False) as session:
        [decision] = records.reviews_of(session, [row.id])[row.id]
    assert (decision.stage, decision.decision, decision.reason) == (
        "final_review",
        "approve",
        "现场核实",
    )
    assert (decision.reviewer, decision.reviewer_role) == (CLERK.actor, "village_clerk")


def test_a_residents_own_report_waits_for_both_stages(world: World) -> None:
    zhang = resident("张三")
    row = world.record(
        "volunteer", world.a1, quantity=2, recorder=zhang, evidence=VOLUNTEER_EVIDENCE
    )
    assert (row.status, row.stages_pending, row.recorder_role) == (
        "pending",
        ["first_review", "final_review"],
        "resident",
    )

    first = world.review(row.id, reviewer=LEADER, reason="组内核实")
    assert (first.status, first.stages_pending, first.entry_id) == (
        "pending",
        ["final_review"],
        None,
    )
    assert world.household_points(world.household_a) == 0

    final = world.review(row.id, reviewer=CLERK, reason="两委复核通过")
    assert (final.status, final.points) == ("approved", 4)
    assert final.explanation == "志愿服务 2 小时 × 2 分/小时 = 4 分"
    assert world.household_points(world.household_a) == 4
    with world.db.unit_of_work(write=False) as session:
        decisions = records.reviews_of(session, [row.id])[row.id]
    assert [(d.stage, d.reviewer, d.reviewer_role) for d in decisions] == [
        ("first_review", LEADER.actor, "group_leader"),
        ("final_review", CLERK.actor, "village_clerk"),
    ]


def test_a_clerks_record_counts_at_once(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=CLERK)

    assert (row.status, row.stages_pending, row.recorder_role) == ("approved", [], "village_clerk")
    assert world.household_points(world.household_a) == 3


def test_a_recorder_holding_several_roles_records_as_the_one_needing_least_review(
    world: World,
) -> None:
    both = Recorder("二组组长兼村民 王德明", frozenset({"group_leader", "resident"}))
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=both)

    assert (row.recorder_role, row.stages_pending) == ("group_leader", ["final_review"])


def test_a_rejection_books_nothing_and_frees_the_occurrence(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    rejected = world.review(row.id, approve=False, reason="照片与现场不符", reviewer=CLERK)

    assert rejected.status == "rejected"
    assert (rejected.points, rejected.entry_id) == (0, None)
    assert rejected.decided_at is not None
    assert world.household_points(world.household_a) == 0
    with world.db.unit_of_work(write=False) as session:
        [decision] = records.reviews_of(session, [row.id])[row.id]
    assert (decision.decision, decision.reason) == ("reject", "照片与现场不符")
    # the same occurrence may be recorded again, properly this time
    again = world.record("voluntary_labor", world.a1, quantity=2, recorder=CLERK2)
    assert (again.status, again.points, again.occurrence) == ("approved", 3, row.occurrence)
    assert world.household_points(world.household_a) == 3


def test_a_rejection_at_the_first_stage_ends_the_review(world: World) -> None:
    row = world.record(
        "volunteer", world.a1, quantity=2, recorder=resident("张三"), evidence=VOLUNTEER_EVIDENCE
    )
    rejected = world.review(row.id, approve=False, reason="未参加", reviewer=LEADER)

    assert rejected.status == "rejected"
    with pytest.raises(errors.RecordNotPending):
        world.review(row.id, reviewer=CLERK)


def test_a_reviewer_must_hold_a_role_of_the_stage(world: World) -> None:
    row = world.record(
        "volunteer", world.a1, quantity=2, recorder=resident("张三"), evidence=VOLUNTEER_EVIDENCE
    )
    with pytest.raises(errors.ReviewerNotAllowed) as refused:
        world.review(row.id, reviewer=CASHIER)
    assert refused.value.code == "reviewer_not_allowed"
    assert refused.value.extra == {
        "stage": "first_review",
        "roles": ["group_leader", "village_clerk"],
    }

    world.review(row.id, reviewer=LEADER)
    # 复核 is for the village clerks only
    with pytest.raises(errors.ReviewerNotAllowed) as refused:
        world.review(row.id, reviewer=Recorder("三组组长 钱", frozenset({"group_leader"})))
    assert refused.value.extra == {"stage": "final_review", "roles": ["village_clerk"]}
    assert world.get(row.id).status == "pending"


def test_a_senior_role_may_decide_any_stage(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)
    township = Recorder("镇管理员 赵志强", frozenset({"township_admin"}))

    decided = world.review(row.id, reviewer=township)

    assert decided.status == "approved"


def test_the_recorder_may_not_review_their_own_record(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)
    # the same person, now holding the clerk's role too
    same_person = Recorder(LEADER.actor, frozenset({"village_clerk", "group_leader"}))

    with pytest.raises(errors.ReviewBySameActor) as refused:
        world.review(row.id, reviewer=same_person)
    assert refused.value.code == "review_by_same_actor"
    assert world.get(row.id).status == "pending"


def test_one_person_may_not_decide_both_stages(world: World) -> None:
    row = world.record(
        "volunteer", world.a1, quantity=2, recorder=resident("张三"), evidence=VOLUNTEER_EVIDENCE
    )
    world.review(row.id, reviewer=CLERK)  # 初审 by a clerk

    with pytest.raises(errors.ReviewBySameActor):
        world.review(row.id, reviewer=CLERK)
    assert world.get(row.id).stages_pending == ["final_review"]
    assert world.review(row.id, reviewer=CLERK2).status == "approved"


def test_only_a_pending_record_is_reviewed(world: World) -> None:
    approved = world.record("voluntary_labor", world.a1, quantity=2)
    with pytest.raises(errors.RecordNotPending) as refused:
        world.review(approved.id, reviewer=CLERK2)
    assert refused.value.code == "record_not_pending"
    assert refused.value.extra == {"record_id": str(approved.id), "record_status": "approved"}

    pending = world.record("voluntary_labor", world.a2, quantity=2, recorder=LEADER)
    world.review(pending.id, reviewer=CLERK)
    with pytest.raises(errors.RecordNotPending):
        world.review(pending.id, reviewer=CLERK2)
    with pytest.raises(errors.RecordNotPending):
        world.review(pending.id, approve=False, reason="改判", reviewer=CLERK2)
    assert world.household_points(world.household_a) == 6
