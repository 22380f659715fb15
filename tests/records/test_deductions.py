"""Deductions: the charter says what happens when the spendable balance is short — take
only what is there (清泉村, floor zero), or go below zero so that spending is blocked until
it is earned back (罗峪村, negative). The merit score never goes below zero."""

from __future__ import annotations

import pytest

from jifen.ledger import errors as ledger_errors
from jifen.ledger.policy import AccountKind
from jifen.models import Village
from tests.records.charters import CERTIFICATE, INSPECTION
from tests.records.world import World, at


def test_floor_zero_takes_only_what_is_there(world: World) -> None:
    world.record("public_cleaning", world.a1)  # 3
    row = world.record(
        "clutter", None, household=world.household_a, evidence=INSPECTION, occurrence="6 月巡查"
    )

    assert row.status == "approved"
    assert (row.scored_points, row.awarded_points, row.points) == (-5, -5, -3)
    assert row.explanation == (
        "宅前屋后乱堆物 扣 5 分；积分余额仅 3 分，按村规扣至 0 分为止，实扣 3 分"
    )
    assert world.household_points(world.household_a) == 0
    view = world.entry(row.entry_id)
    assert view.entry.allow_below_floor is False
    assert sorted(p.amount for p in view.entry.postings) == [-3, 3]

    # at zero, a further finding is recorded and takes nothing
    nothing = world.record(
        "clutter", None, household=world.household_a, evidence=INSPECTION, occurrence="7 月巡查"
    )
    assert (nothing.status, nothing.points, nothing.entry_id) == ("approved", 0, None)
    assert nothing.explanation == (
        "宅前屋后乱堆物 扣 5 分；积分余额仅 0 分，按村规扣至 0 分为止，实扣 0 分"
    )
    assert world.household_points(world.household_a) == 0


def test_floor_zero_with_both_tracks_books_both_in_one_entry(world: World) -> None:
    world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")  # 15
    world.record("villager_meeting", world.a1, occurred_at=at(2026, 6, 5))  # 2 + 2 merit
    world.record("villager_meeting", world.a2, occurred_at=at(2026, 6, 5))  # 2 + 2 merit
    assert (
        world.household_points(world.household_a),
        world.household_merit(world.household_a),
    ) == (
        19,
        4,
    )

    row = world.record("gambling", world.a1, occurred_at=at(2026, 6, 20))

    assert (row.scored_points, row.points, row.merit_points) == (-10, -10, -4)
    assert row.explanation == (
        "参与赌博 扣 10 分；文明积分余额仅 4 分，按村规扣至 0 分为止，实扣 4 分"
    )
    assert world.household_points(world.household_a) == 9
    assert world.household_merit(world.household_a) == 0
    view = world.entry(row.entry_id)
    assert view.entry.code == "conduct_deduction"
    accounts = {
        "main": world.account_id(AccountKind.HOUSEHOLD, world.household_a),
        "merit": world.account_id(AccountKind.HOUSEHOLD, world.household_a, "merit"),
        "general": world.account_id(AccountKind.ISSUANCE, None, "general"),
        "merit_issuance": world.account_id(AccountKind.ISSUANCE, None, "merit"),
    }
    assert {(p.account_id, p.amount) for p in view.entry.postings} == {
        (accounts["main"], -10),
        (accounts["general"], 10),
        (accounts["merit"], -4),
        (accounts["merit_issuance"], 4),
    }


def test_an_award_on_both_tracks_is_one_entry(world: World) -> None:
    row = world.record("brave_deed", world.a1, evidence=CERTIFICATE)

    assert (row.points, row.merit_points) == (8, 8)
    view = world.entry(row.entry_id)
    assert view.entry.code == "contribution_award"
    assert len(view.entry.postings) == 4
    assert world.household_points(world.household_a) == 8
    assert world.household_merit(world.household_a) == 8


def test_floor_zero_on_a_balance_already_below_zero_takes_nothing(world: World) -> None:
    earned = world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")
    world.spend(AccountKind.HOUSEHOLD, world.household_a, 10)
    world.revoke(earned.id)
    assert world.household_points(world.household_a) == -10

    row = world.record("clutter", None, household=world.household_a, evidence=INSPECTION)

    assert (row.points, row.entry_id) == (0, None)
    assert row.explanation == (
        "宅前屋后乱堆物 扣 5 分；积分余额仅 -10 分，按村规扣至 0 分为止，实扣 0 分"
    )
    assert world.household_points(world.household_a) == -10


def test_negative_floor_goes_below_zero_and_blocks_spending(member_world: World) -> None:
    world = member_world
    with world.db.unit_of_work(write=False) as session:
        village = session.get_one(Village, world.village_id)
        assert {"conduct_deduction", "sanitation_deduction"} <= set(village.allow_below_floor_codes)
    world.record("villager_meeting", world.a1, occurred_at=at(2026, 6, 5))  # 2 + 2 荣誉积分

    row = world.record("gambling", world.a1, occurred_at=at(2026, 6, 20))

    assert (row.scored_points, row.points, row.merit_points) == (-10, -10, -2)
    # the spendable balance goes below zero; the merit score stops at zero
    assert row.explanation == (
        "参与赌博 扣 10 分；荣誉积分余额仅 2 分，按村规扣至 0 分为止，实扣 2 分"
    )
    assert world.member_points(world.a1) == -8
    assert world.member_merit(world.a1) == 0
    view = world.entry(row.entry_id)
    assert view.entry.allow_below_floor is True
    assert view.entry.code == "conduct_deduction"

    with pytest.raises(ledger_errors.InsufficientPoints):
        world.spend(AccountKind.MEMBER, world.a1, 1)
    world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-07")  # 15
    assert world.member_points(world.a1) == 7
    world.spend(AccountKind.MEMBER, world.a1, 7)
    assert world.member_points(world.a1) == 0


def test_a_merit_deduction_never_goes_below_zero(member_world: World) -> None:
    world = member_world
    row = world.record("gambling", world.a2)

    assert (row.points, row.merit_points) == (-10, 0)
    assert world.member_points(world.a2) == -10
    assert world.member_merit(world.a2) == 0
    assert row.explanation.endswith("荣誉积分余额仅 0 分，按村规扣至 0 分为止，实扣 0 分")


def test_negative_floor_takes_the_whole_deduction_when_covered(member_world: World) -> None:
    world = member_world
    world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")  # 15

    row = world.record(
        "clutter", world.a1, quantity=2, evidence=INSPECTION, occurred_at=at(2026, 6, 20)
    )

    assert row.points == -10
    assert row.explanation == "宅前屋后乱堆物 2 处 × 扣 5 分 = 扣 10 分"
    assert world.member_points(world.a1) == 5
