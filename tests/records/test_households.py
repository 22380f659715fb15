"""Household crediting: with household points (一户一档) the household's account is
credited and the record names the member who acted; with member points, the member's."""

from __future__ import annotations

from datetime import date

import pytest

from jifen.config import Settings
from jifen.db import Database
from jifen.ledger.policy import AccountKind
from jifen.models import Village
from jifen.records import errors
from jifen.tenancy import service as tenancy
from tests.factories import make_member
from tests.records.charters import INSPECTION, qingquan
from tests.records.world import LEADER, World, at, make_world


def test_household_points_credit_the_household_and_name_the_member(world: World) -> None:
    row = world.record("public_cleaning", world.a2)

    assert (row.holder, row.member_id, row.household_id) == (
        "household",
        world.a2,
        world.household_a,
    )
    assert world.household_points(world.household_a) == 3
    assert world.member_points(world.a2) == 0
    view = world.entry(row.entry_id)
    assert view.entry.details["member_id"] == str(world.a2)
    assert view.entry.details["household_id"] == str(world.household_a)
    household = world.account_id(AccountKind.HOUSEHOLD, world.household_a)
    assert household in {p.account_id for p in view.entry.postings}


def test_a_household_finding_needs_no_member(world: World) -> None:
    row = world.record(
        "waste_sorting", None, household=world.household_b, occurrence="2026 年 6 月入户检查"
    )

    assert (row.holder, row.member_id, row.household_id) == ("household", None, world.household_b)
    assert row.points == 5
    assert world.entry(row.entry_id).entry.details["member_id"] is None
    assert world.household_points(world.household_b) == 5


def test_a_member_without_a_household_is_refused_under_household_points(world: World) -> None:
    with pytest.raises(errors.SubjectInvalid) as refused:
        world.record("public_cleaning", world.loner)
    assert refused.value.code == "record_subject_invalid"
    assert refused.value.extra == {"field": "member_id"}


def test_the_household_is_the_members_on_the_day(db: Database, settings: Settings) -> None:
    world = make_world(db, settings, qingquan())
    with db.unit_of_work() as session:
        # a daughter-in-law registered on 1 July (新媳妇迁入)
        bride = make_member(
            session,
            session.get_one(Village, world.village_id),
            name="陈小红",
            household_id=world.household_b,
            joined_on=date(2026, 7, 1),
        ).id

    with pytest.raises(errors.SubjectInvalid):
        world.record("public_cleaning", bride, occurred_at=at(2026, 6, 20))
    row = world.record("public_cleaning", bride, occurred_at=at(2026, 7, 2))
    assert row.household_id == world.household_b
    assert world.household_points(world.household_b) == 3


def test_a_member_who_moved_credits_the_household_of_the_day(world: World) -> None:
    with world.db.unit_of_work() as session:
        tenancy.move_member(
            session,
            world.a2,
            household_id=world.household_b,
            on=date(2026, 7, 1),
            is_head=False,
            now=at(2026, 7, 1),
        )

    before = world.record("public_cleaning", world.a2, occurred_at=at(2026, 6, 20))
    after = world.record("public_cleaning", world.a2, occurred_at=at(2026, 7, 20))

    assert (before.household_id, after.household_id) == (world.household_a, world.household_b)
    assert world.household_points(world.household_a) == 3
    assert world.household_points(world.household_b) == 3


def test_a_household_not_the_members_is_refused(world: World) -> None:
    with pytest.raises(errors.SubjectInvalid) as refused:
        world.record("public_cleaning", world.a1, household=world.household_b)
    assert refused.value.extra == {"field": "household_id"}


def test_a_member_of_another_village_is_refused(db: Database, settings: Settings) -> None:
    world = make_world(db, settings, qingquan())
    elsewhere = make_world(db, settings, qingquan())

    with pytest.raises(errors.SubjectInvalid):
        world.record("public_cleaning", elsewhere.a1)
    with pytest.raises(errors.SubjectInvalid):
        world.record("clutter", None, household=elsewhere.household_a, evidence=INSPECTION)


def test_naming_nobody_is_refused(world: World) -> None:
    with pytest.raises(errors.SubjectInvalid):
        world.record("public_cleaning", None)


def test_member_points_credit_the_member(member_world: World) -> None:
    world = member_world
    row = world.record("public_cleaning", world.a1)
    lone = world.record("public_cleaning", world.loner)

    assert (row.holder, row.member_id, row.household_id) == ("member", world.a1, world.household_a)
    assert world.member_points(world.a1) == 3
    assert world.household_points(world.household_a) == 0
    # a member without a household earns points of their own
    assert (lone.holder, lone.household_id) == ("member", None)
    assert world.member_points(world.loner) == 3


def test_member_points_refuse_a_household_finding(member_world: World) -> None:
    world = member_world
    with pytest.raises(errors.SubjectInvalid) as refused:
        world.record("clutter", None, household=world.household_a, evidence=INSPECTION)
    assert refused.value.extra == {"field": "member_id"}


def test_a_pending_record_credits_the_household_of_the_event_day(world: World) -> None:
    pending = world.record(
        "voluntary_labor", world.a2, quantity=2, occurred_at=at(2026, 6, 20), recorder=LEADER
    )
    with world.db.unit_of_work() as session:  # 分户: she moves before the review
        tenancy.move_member(
            session,
            world.a2,
            household_id=world.household_b,
            on=date(2026, 7, 1),
            is_head=False,
            now=at(2026, 7, 1),
        )

    approved = world.review(pending.id)

    assert (approved.status, approved.household_id) == ("approved", world.household_a)
    assert world.household_points(world.household_a) == 3
    assert world.household_points(world.household_b) == 0
