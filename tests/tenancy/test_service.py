"""Tenancy: dated household membership, deactivation, household splits."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Household
from jifen.problems import AlreadyExists
from jifen.tenancy import errors
from jifen.tenancy import service as tenancy
from tests.factories import account_of, award, clock, make_household, make_member, make_village

D0 = date(2026, 3, 1)


def test_moves_keep_a_dated_history(db: Database) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        first, second = make_household(session, village), make_household(session, village)
        member = make_member(session, village, household_id=first.id, joined_on=D0)
        tenancy.move_member(
            session,
            member.id,
            household_id=second.id,
            on=D0 + timedelta(days=30),
            is_head=True,
            now=first.created_at,
        )
        history = [
            (m.household_id, m.joined_on, m.left_on, m.is_head)
            for m in tenancy.memberships(session, member.id)
        ]
    assert history == [
        (first.id, D0, D0 + timedelta(days=30), False),
        (second.id, D0 + timedelta(days=30), None, True),
    ]


def test_moves_are_refused_across_villages_and_back_in_time(db: Database) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        other = make_village(session)
        here, there = make_household(session, village), make_household(session, other)
        member = make_member(session, village, household_id=here.id, joined_on=D0)
        now = here.created_at
    with pytest.raises(errors.OtherVillage), db.unit_of_work() as session:
        tenancy.move_member(
            session, member.id, household_id=there.id, on=D0, is_head=False, now=now
        )
    with pytest.raises(errors.InvalidDate), db.unit_of_work() as session:
        second = make_household(session, village)
        tenancy.move_member(
            session,
            member.id,
            household_id=second.id,
            on=D0 - timedelta(days=1),
            is_head=False,
            now=now,
        )


def test_a_member_leaves_and_joins_again(db: Database) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        household = make_household(session, village)
        member = make_member(session, village, household_id=household.id, joined_on=D0)
        tenancy.leave_household(session, member.id, on=D0 + timedelta(days=3))
        assert tenancy.current_membership(session, member.id) is None
        assert tenancy.household_members(session, household.id) == []
        tenancy.move_member(
            session,
            member.id,
            household_id=household.id,
            on=D0 + timedelta(days=40),
            is_head=False,
            now=household.created_at,
        )
        assert [(m.joined_on, m.left_on) for m in tenancy.memberships(session, member.id)] == [
            (D0, D0 + timedelta(days=3)),
            (D0 + timedelta(days=40), None),
        ]
    with pytest.raises(errors.InvalidDate), db.unit_of_work() as session:
        tenancy.leave_household(session, member.id, on=D0)
    with db.unit_of_work() as session:
        tenancy.leave_household(session, member.id, on=D0 + timedelta(days=41))
    with pytest.raises(errors.MemberNotInHousehold), db.unit_of_work() as session:
        tenancy.leave_household(session, member.id, on=D0 + timedelta(days=50))


def test_deactivation_closes_membership_and_is_final(db: Database) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        household = make_household(session, village)
        member = make_member(session, village, household_id=household.id, joined_on=D0)
        tenancy.deactivate_member(session, member.id, on=D0 + timedelta(days=9), reason="deceased")
        assert tenancy.household_members(session, household.id) == []
        [membership] = tenancy.memberships(session, member.id)
        assert membership.left_on == D0 + timedelta(days=10)
    with pytest.raises(errors.MemberAlreadyDeactivated), db.unit_of_work() as session:
        tenancy.deactivate_member(session, member.id, on=D0 + timedelta(days=20), reason="other")
    with pytest.raises(ledger_errors.MemberInactive), db.unit_of_work() as session:
        tenancy.move_member(
            session,
            member.id,
            household_id=household.id,
            on=D0 + timedelta(days=20),
            is_head=False,
            now=household.created_at,
        )


def test_split_moves_members_and_only_the_agreed_points(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        old = make_household(session, village, name="刘长春户")
        parent = make_member(session, village, household_id=old.id, joined_on=D0, is_head=True)
        son = make_member(session, village, household_id=old.id, joined_on=D0)
        daughter_in_law = make_member(session, village, household_id=old.id, joined_on=D0)
        old_account = account_of(session, village, AccountKind.HOUSEHOLD, old.id)
        # Earned before the split (which is dated D0 + 5 below).
        earned = datetime.combine(D0, time(10), tzinfo=settings.zone)
        award(session, settings, village, old_account, 30, occurred_at=earned)

    with pytest.raises(ledger_errors.InsufficientPoints), db.unit_of_work() as session:
        tenancy.split_household(
            session,
            old.id,
            number="new",
            name="刘洋户",
            member_ids=[son.id],
            head_member_id=son.id,
            on=D0,
            transfer_points=31,
            actor="clerk",
            clock=clock(settings),
        )
    with db.unit_of_work(write=False) as session:
        # Nothing of the refused split remains: no household, no moved member.
        assert session.query(Household).filter_by(number="new").count() == 0
        assert len(tenancy.household_members(session, old.id)) == 3

    with db.unit_of_work() as session:
        split = tenancy.split_household(
            session,
            old.id,
            number="new",
            name="刘洋户",
            member_ids=[son.id, daughter_in_law.id],
            head_member_id=son.id,
            on=D0 + timedelta(days=5),
            transfer_points=12,
            actor="clerk",
            clock=clock(settings),
        )
        new_account = account_of(session, village, AccountKind.HOUSEHOLD, split.household.id)
        assert split.household.split_from_household_id == old.id
        assert (
            split.transfer is not None and split.transfer.entry.code == "household_split_transfer"
        )
        assert [m.member_id for m in tenancy.household_members(session, old.id)] == [parent.id]
        assert {m.member_id for m in tenancy.household_members(session, split.household.id)} == {
            son.id,
            daughter_in_law.id,
        }
        assert ledger.get_balance(session, old_account.id).posted == 18
        assert ledger.get_balance(session, new_account.id).posted == 12
        # The agreed transfer counts from the split's day, not from the day it was entered.
        split_day = datetime.combine(D0 + timedelta(days=5), time.min, tzinfo=settings.zone)
        assert split.transfer.entry.occurred_at == split_day

    with pytest.raises(errors.MemberNotInHousehold), db.unit_of_work() as session:
        tenancy.split_household(
            session,
            old.id,
            number="x",
            name="x",
            member_ids=[son.id],
            head_member_id=None,
            on=D0,
            transfer_points=0,
            actor="clerk",
            clock=clock(settings),
        )


def test_natural_keys_are_unique(db: Database) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        make_household(session, village, number="3-12")
    with pytest.raises(AlreadyExists), db.unit_of_work() as session:
        make_household(session, village, number="3-12")
    with pytest.raises(AlreadyExists), db.unit_of_work() as session:
        tenancy.create_village(
            session,
            township_id=village.township_id,
            code=village.code,
            name="重名村",
            now=village.created_at,
        )
