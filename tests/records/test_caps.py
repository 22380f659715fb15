"""Caps: a cap cuts an award to what remains, the record says which cap applied, and a
record cut to zero is kept as `capped`. Only approved records use cap room.

Worked by hand under 清泉村's charter:
- 义务劳动 1.5 分/小时, at most 8 分 per member per day;
- 参加村民大会 2 分 (points and merit), at most 5 分 per member per month;
- 垃圾分类达标 5 分, at most 15 分 per household per year;
- 贡献积分 (志愿服务 2 分/小时, 见义勇为 8 分): at most 10 分 per household per year.
"""

from __future__ import annotations

import pytest

from jifen.records import errors
from tests.records.charters import CERTIFICATE, VOLUNTEER_EVIDENCE
from tests.records.world import CLERK2, LEADER, World, at


def test_per_member_per_day_cap_cuts_to_the_remainder_then_to_zero(world: World) -> None:
    morning = world.record("voluntary_labor", world.a1, quantity=4, occurrence="上午")  # 6
    afternoon = world.record("voluntary_labor", world.a1, quantity=3, occurrence="下午")  # 5 → 2
    evening = world.record("voluntary_labor", world.a1, quantity=1, occurrence="傍晚")  # 2 → 0

    assert (morning.points, morning.cap) == (6, None)
    assert afternoon.status == "approved"
    assert (afternoon.scored_points, afternoon.awarded_points, afternoon.points) == (5, 2, 2)
    assert afternoon.cap == {
        "scope": "rule",
        "per": "member",
        "period": "day",
        "max_points": 8,
        "used_points": 6,
    }
    assert afternoon.explanation == (
        "义务劳动 3 小时 × 1.5 分/小时 = 4.5 分，四舍五入计 5 分；"
        "本项当日每人上限 8 分，已得 6 分，本次计 2 分"
    )
    assert world.entry(afternoon.entry_id).entry.details["cap"] == afternoon.cap

    assert evening.status == "capped"
    assert (evening.scored_points, evening.awarded_points, evening.points) == (2, 0, 0)
    assert evening.entry_id is None
    assert evening.cap is not None and evening.cap["used_points"] == 8
    assert evening.explanation == (
        "义务劳动 1 小时 × 1.5 分/小时 = 1.5 分，四舍五入计 2 分；"
        "本项当日每人上限 8 分，已得 8 分，本次不再计分"
    )
    # the capped record is kept, and still holds its occurrence
    assert world.get(evening.id).status == "capped"
    with pytest.raises(errors.DuplicateRecord):
        world.record("voluntary_labor", world.a1, quantity=1, occurrence="傍晚")

    # the cap is per member and per day
    other_member = world.record("voluntary_labor", world.a2, quantity=4, occurrence="上午")
    next_day = world.record(
        "voluntary_labor",
        world.a1,
        quantity=4,
        occurrence="6月16日上午",
        occurred_at=at(2026, 6, 16),
    )
    assert (other_member.points, next_day.points) == (6, 6)
    assert world.household_points(world.household_a) == 6 + 2 + 6 + 6


def test_per_member_per_month_cap_on_both_tracks(world: World) -> None:
    meetings = [
        world.record("villager_meeting", world.a1, occurred_at=at(2026, 6, day))
        for day in (5, 12, 19, 26)
    ]
    july = world.record("villager_meeting", world.a1, occurred_at=at(2026, 7, 3))

    assert [(m.status, m.points, m.merit_points) for m in meetings] == [
        ("approved", 2, 2),
        ("approved", 2, 2),
        ("approved", 1, 1),
        ("capped", 0, 0),
    ]
    assert (
        meetings[2].explanation
        == "参加村民大会 2 分；本项本月每人上限 5 分，已得 4 分，本次计 1 分"
    )
    assert meetings[3].explanation == (
        "参加村民大会 2 分；本项本月每人上限 5 分，已得 5 分，本次不再计分"
    )
    assert (july.status, july.points, july.cap) == ("approved", 2, None)
    assert world.household_points(world.household_a) == 7
    assert world.household_merit(world.household_a) == 7


def test_per_household_per_year_cap_and_revocation_frees_the_room(world: World) -> None:
    q1 = world.record("waste_sorting", world.a1, occurrence="2026-Q1", occurred_at=at(2026, 3, 20))
    q2 = world.record("waste_sorting", world.a2, occurrence="2026-Q2", occurred_at=at(2026, 6, 20))
    q3 = world.record("waste_sorting", world.a1, occurrence="2026-Q3", occurred_at=at(2026, 9, 20))
    q4 = world.record("waste_sorting", world.a2, occurrence="2026-Q4", occurred_at=at(2026, 10, 20))
    other = world.record(
        "waste_sorting", world.b1, occurrence="2026-Q4", occurred_at=at(2026, 10, 20)
    )

    assert [r.points for r in (q1, q2, q3)] == [5, 5, 5]
    assert q4.status == "capped"
    assert q4.cap == {
        "scope": "rule",
        "per": "household",
        "period": "year",
        "max_points": 15,
        "used_points": 15,
    }
    assert q4.explanation == "垃圾分类达标 5 分；本项本年度每户上限 15 分，已得 15 分，本次不再计分"
    assert other.points == 5  # household B has its own room
    assert world.household_points(world.household_a) == 15

    revoked = world.revoke(q3.id, reason="三季度检查记录有误")
    assert revoked.status == "revoked"
    assert world.household_points(world.household_a) == 10
    again = world.record(
        "waste_sorting", world.a1, occurrence="2026-Q3", occurred_at=at(2026, 9, 21)
    )
    assert (again.status, again.points, again.cap) == ("approved", 5, None)
    assert world.household_points(world.household_a) == 15


def test_category_cap_spans_the_rules_of_the_category(world: World) -> None:
    # 清泉村: 贡献积分 ≤ 10 a year per household
    volunteer = world.record("volunteer", world.a1, quantity=3, evidence=VOLUNTEER_EVIDENCE)
    brave = world.record("brave_deed", world.a2, evidence=CERTIFICATE)
    more = world.record(
        "volunteer",
        world.a1,
        quantity=1,
        evidence=VOLUNTEER_EVIDENCE,
        occurred_at=at(2026, 8, 1),
    )

    assert (volunteer.points, volunteer.explanation) == (6, "志愿服务 3 小时 × 2 分/小时 = 6 分")
    assert (brave.scored_points, brave.points, brave.merit_points) == (8, 4, 4)
    assert brave.cap == {
        "scope": "category:contribution",
        "per": "household",
        "period": "year",
        "max_points": 10,
        "used_points": 6,
    }
    assert brave.explanation.startswith("见义勇为 8 分；")
    assert "上限 10 分，已得 6 分，本次计 4 分" in brave.explanation
    assert more.status == "capped"
    assert "上限 10 分，已得 10 分，本次不再计分" in more.explanation
    assert world.household_points(world.household_a) == 10
    assert world.household_merit(world.household_a) == 4
    # other categories are not touched by it
    assert world.record("public_cleaning", world.a1).points == 3


def test_pending_records_use_no_room_and_caps_apply_at_approval(world: World) -> None:
    pending = world.record(
        "voluntary_labor", world.a1, quantity=4, occurrence="上午", recorder=LEADER
    )  # 6, waits for 复核
    assert (pending.status, pending.scored_points, pending.awarded_points) == ("pending", 6, 0)

    direct = world.record("voluntary_labor", world.a1, quantity=4, occurrence="下午")
    assert (direct.status, direct.points, direct.cap) == ("approved", 6, None)

    approved = world.review(pending.id, reviewer=CLERK2)
    assert approved.status == "approved"
    assert (approved.scored_points, approved.awarded_points, approved.points) == (6, 2, 2)
    assert approved.cap is not None and approved.cap["used_points"] == 6
    assert approved.explanation == (
        "义务劳动 4 小时 × 1.5 分/小时 = 6 分；本项当日每人上限 8 分，已得 6 分，本次计 2 分"
    )
    assert world.household_points(world.household_a) == 8


def test_a_pending_record_approved_into_a_full_cap_is_capped(world: World) -> None:
    pending = world.record(
        "voluntary_labor", world.a1, quantity=2, occurrence="上午", recorder=LEADER
    )
    world.record("voluntary_labor", world.a1, quantity=6, occurrence="下午")  # 9 → 8

    decided = world.review(pending.id, reviewer=CLERK2)

    assert (decided.status, decided.points, decided.entry_id) == ("capped", 0, None)
    assert world.household_points(world.household_a) == 8


def test_rejected_records_use_no_room(world: World) -> None:
    pending = world.record(
        "voluntary_labor", world.a1, quantity=4, occurrence="上午", recorder=LEADER
    )
    world.review(pending.id, approve=False, reason="当天未出工", reviewer=CLERK2)

    row = world.record("voluntary_labor", world.a1, quantity=5, occurrence="下午")  # 7.5 → 8

    assert (row.points, row.cap) == (8, None)


def test_household_findings_and_members_records_share_a_household_cap(world: World) -> None:
    world.record("waste_sorting", None, household=world.household_a, occurrence="2026-Q1 入户检查")
    world.record("waste_sorting", world.a1, occurrence="2026-Q2")
    third = world.record("waste_sorting", world.a2, occurrence="2026-Q3", quantity=2)

    assert (third.scored_points, third.points) == (10, 5)
    assert third.cap is not None and third.cap["used_points"] == 10
    assert world.household_points(world.household_a) == 15
