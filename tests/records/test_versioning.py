"""Charter versions across an effective date: an event is scored by the version in force
on its day (in the village's own time), and a new version never changes booked points."""

from __future__ import annotations

import pytest

from jifen.charters import errors as charter_errors
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import Village
from tests.records.charters import qingquan, rule
from tests.records.world import CLERK, World, at, make_world


def second_half_revision() -> dict[str, object]:
    """v2 (from 2026-07-01): 公共区域清扫 worth 4 分, 植树 dropped."""
    document = qingquan("2026-07-01")
    document["title"] = "清泉村积分制管理办法（2026 年下半年修订）"
    rule(document, "public_cleaning")["params"]["points"] = 4
    document["rules"] = [r for r in document["rules"] if r["id"] != "tree_planting"]
    return document


@pytest.fixture
def versioned(db: Database, settings: Settings) -> World:
    world = make_world(db, settings, qingquan("2026-01-01"))
    world.publish(second_half_revision())
    return world


def test_an_event_is_scored_by_the_version_in_force_on_its_day(versioned: World) -> None:
    world = versioned
    # 23:30 on 30 June in the village is 15:30 UTC: still June, version 1
    june = world.record("public_cleaning", world.a1, occurred_at=at(2026, 6, 30, 23, 30))
    # 00:30 on 1 July in the village is still 30 June in UTC: version 2
    july = world.record("public_cleaning", world.a1, occurred_at=at(2026, 7, 1, 0, 30))

    assert (june.charter_version, june.points, june.explanation) == (1, 3, "公共区域清扫 3 分")
    assert (july.charter_version, july.points, july.explanation) == (2, 4, "公共区域清扫 4 分")
    assert june.occurred_on.isoformat() == "2026-06-30"
    assert july.occurred_on.isoformat() == "2026-07-01"
    assert june.charter_version_id != july.charter_version_id
    for row in (june, july):
        details = world.entry(row.entry_id).entry.details
        assert details["charter_version"] == row.charter_version
        assert details["charter_version_id"] == str(row.charter_version_id)
        assert details["rule_id"] == "public_cleaning"
        assert details["explanation"] == row.explanation
        assert details["record_id"] == str(row.id)
    assert world.household_points(world.household_a) == 7


def test_a_rule_dropped_by_the_version_in_force_is_unknown(versioned: World) -> None:
    world = versioned
    june = world.record("tree_planting", world.a1, quantity=5, occurred_at=at(2026, 6, 20))
    assert (june.charter_version, june.points) == (1, 5)

    with pytest.raises(charter_errors.UnknownRule) as refused:
        world.record("tree_planting", world.a1, quantity=5, occurred_at=at(2026, 7, 20))
    assert refused.value.code == "unknown_rule"
    assert refused.value.extra == {"rule_id": "tree_planting", "charter_version": 2}


def test_a_rule_no_version_has_is_unknown(world: World) -> None:
    with pytest.raises(charter_errors.UnknownRule):
        world.record("dog_registration", world.a1)


def test_an_event_before_any_version_has_no_charter(versioned: World) -> None:
    world = versioned
    with pytest.raises(charter_errors.NoCharterInForce) as refused:
        world.record("public_cleaning", world.a1, occurred_at=at(2025, 12, 31, 20))
    assert refused.value.code == "no_charter_in_force"
    assert refused.value.extra == {"on": "2025-12-31"}


def test_a_village_without_a_published_charter_scores_nothing(
    db: Database, settings: Settings
) -> None:
    world = make_world(db, settings, None)
    with db.unit_of_work() as session:  # a draft is not in force
        charters.create_version(
            session, village_id=world.village_id, data=qingquan(), actor=CLERK.actor, now=utc_now()
        )
    with pytest.raises(charter_errors.NoCharterInForce):
        world.record("public_cleaning", world.a1)


def test_a_draft_version_does_not_score(versioned: World) -> None:
    world = versioned
    draft = qingquan("2026-08-01")
    rule(draft, "public_cleaning")["params"]["points"] = 9
    with world.db.unit_of_work() as session:
        charters.create_version(
            session, village_id=world.village_id, data=draft, actor=CLERK.actor, now=utc_now()
        )

    row = world.record("public_cleaning", world.a1, occurred_at=at(2026, 8, 10))
    assert (row.charter_version, row.points) == (2, 4)


@pytest.mark.parametrize("effective_on", ["2026-07-01", "2026-05-01", "2025-06-01"])
def test_a_new_version_takes_effect_after_the_current_one(
    versioned: World, effective_on: str
) -> None:
    with pytest.raises(charter_errors.CharterEffectiveDateTaken) as refused:
        versioned.publish(qingquan(effective_on))
    assert refused.value.code == "charter_effective_date_not_after_current"
    assert refused.value.extra == {
        "effective_on": effective_on,
        "latest_effective_on": "2026-07-01",
    }


@pytest.mark.parametrize("effective_on", ["2026-08-01", "2026-08-10"])
def test_a_new_version_may_not_rescore_an_event_already_scored(
    versioned: World, effective_on: str
) -> None:
    world = versioned
    world.record("public_cleaning", world.a1, occurred_at=at(2026, 8, 10, 9))

    with pytest.raises(charter_errors.CharterWouldRescore) as refused:
        world.publish(qingquan(effective_on))
    assert refused.value.code == "charter_would_rescore_records"
    assert refused.value.extra == {"records": 1}
    # the day after the last scored event is fine
    assert world.publish(qingquan("2026-08-11")).version == 3


def test_a_new_version_leaves_booked_entries_alone(db: Database, settings: Settings) -> None:
    world = make_world(db, settings, qingquan("2026-01-01"))
    before = world.record("public_cleaning", world.a1, quantity=2, occurred_at=at(2026, 6, 10))
    entry_before = world.entry(before.entry_id)

    published = world.publish(second_half_revision())

    assert published.version == 2
    after = world.get(before.id)
    assert (after.charter_version, after.points, after.explanation) == (
        1,
        6,
        "公共区域清扫 2 次 × 3 分/次 = 6 分",
    )
    entry_after = world.entry(before.entry_id)
    assert entry_after.status == "posted"
    assert entry_after.entry.hash == entry_before.entry.hash
    assert entry_after.entry.details == entry_before.entry.details
    assert world.household_points(world.household_a) == 6
    # a June event recorded after v2 was published is still scored by v1
    late = world.record("public_cleaning", world.a2, occurred_at=at(2026, 6, 28))
    assert (late.charter_version, late.points) == (1, 3)


def test_publishing_a_negative_floor_lets_its_deductions_pass_the_floor(
    db: Database, settings: Settings
) -> None:
    world = make_world(db, settings, qingquan("2026-01-01"))
    with db.unit_of_work(write=False) as session:
        village = session.get(Village, world.village_id)
        assert village is not None
        assert village.allow_below_floor_codes == []

    revision = qingquan("2026-07-01")
    revision["settings"]["deduction_floor"] = "negative"
    world.publish(revision)

    with db.unit_of_work(write=False) as session:
        village = session.get(Village, world.village_id)
        assert village is not None
        assert {"sanitation_deduction", "conduct_deduction"} <= set(village.allow_below_floor_codes)
