"""Duplicates: the same member (or household), rule and occurrence is recorded once,
unless the rule allows repeats."""

from __future__ import annotations

import pytest

from jifen.records import errors
from tests.records.charters import INSPECTION
from tests.records.world import CLERK2, LEADER, World, at


def test_the_same_occurrence_twice_is_refused(world: World) -> None:
    first = world.record("public_cleaning", world.a1)

    # a second clerk records the same clean-up
    with pytest.raises(errors.DuplicateRecord) as refused:
        world.record("public_cleaning", world.a1, recorder=CLERK2, occurred_at=at(2026, 6, 15, 16))
    assert refused.value.code == "duplicate_record"
    assert refused.value.extra == {
        "record_id": str(first.id),
        "rule_id": "public_cleaning",
        "occurrence": "2026-06-15",
    }
    assert world.household_points(world.household_a) == 3


def test_a_named_occurrence_twice_is_refused(world: World) -> None:
    first = world.record("waste_sorting", world.a1, occurrence="2026 年 6 月检查")

    with pytest.raises(errors.DuplicateRecord) as refused:
        world.record(
            "waste_sorting", world.a1, occurrence="2026 年 6 月检查", occurred_at=at(2026, 6, 16)
        )
    assert refused.value.extra["record_id"] == str(first.id)


def test_a_pending_record_holds_its_occurrence(world: World) -> None:
    pending = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    with pytest.raises(errors.DuplicateRecord) as refused:
        world.record("voluntary_labor", world.a1, quantity=2)
    assert refused.value.extra["record_id"] == str(pending.id)


def test_a_household_finding_twice_is_refused(world: World) -> None:
    first = world.record("clutter", None, household=world.household_a, evidence=INSPECTION)

    with pytest.raises(errors.DuplicateRecord) as refused:
        world.record("clutter", None, household=world.household_a, evidence=INSPECTION)
    assert refused.value.extra["record_id"] == str(first.id)
    assert "household" in refused.value.detail


def test_two_members_of_one_household_on_one_day_both_count(world: World) -> None:
    zhang = world.record("public_cleaning", world.a1)
    mei = world.record("public_cleaning", world.a2)

    assert (zhang.status, mei.status) == ("approved", "approved")
    assert (zhang.household_id, mei.household_id) == (world.household_a, world.household_a)
    assert world.household_points(world.household_a) == 6


def test_different_occurrences_both_count(world: World) -> None:
    morning = world.record("public_cleaning", world.a1, occurrence="6 月 15 日 上午")
    afternoon = world.record("public_cleaning", world.a1, occurrence="6 月 15 日 下午")
    next_day = world.record("public_cleaning", world.a1, occurred_at=at(2026, 6, 16))

    assert [r.occurrence for r in (morning, afternoon, next_day)] == [
        "6 月 15 日 上午",
        "6 月 15 日 下午",
        "2026-06-16",
    ]
    assert world.household_points(world.household_a) == 9


def test_a_rule_that_allows_repeats_takes_them(world: World) -> None:
    # 随手拍: every photo of dumped rubbish counts, even the same spot twice
    first = world.record("photo_report", world.a1, occurrence="村口桥下")
    second = world.record("photo_report", world.a1, occurrence="村口桥下")

    assert (first.status, second.status) == ("approved", "approved")
    assert first.dedupe_key is None and second.dedupe_key is None
    assert world.household_points(world.household_a) == 2
