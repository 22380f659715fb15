"""Revocation (撤回): a senior role withdraws an approved record; a reversal dated at the
revocation takes back what the record moved, on every track."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.errors import EntryBelongsToRecord
from jifen.ledger.policy import AccountKind
from jifen.records import errors
from tests.records.charters import CERTIFICATE, INSPECTION
from tests.records.world import LEADER, SENIOR, World, at


def test_revocation_reverses_both_tracks_dated_now(world: World) -> None:
    row = world.record("brave_deed", world.a1, evidence=CERTIFICATE, occurred_at=at(2026, 5, 4))
    assert (
        world.household_points(world.household_a),
        world.household_merit(world.household_a),
    ) == (
        8,
        8,
    )
    now = utc_now() - timedelta(minutes=1)

    revoked = world.revoke(row.id, reason="经村务监督委员会核查，事迹不实", now=now)

    assert revoked.status == "revoked"
    assert revoked.revoked_at == now
    assert revoked.revoked_by == SENIOR
    assert revoked.revoke_reason == "经村务监督委员会核查，事迹不实"
    assert revoked.dedupe_key is None
    assert (revoked.points, revoked.merit_points) == (8, 8)  # what it had moved, kept
    assert world.household_points(world.household_a) == 0
    assert world.household_merit(world.household_a) == 0

    original = world.entry(row.entry_id)
    reversal = world.entry(revoked.reversal_entry_id)
    assert original.status == "reversed"
    assert original.reversed_by_entry_id == revoked.reversal_entry_id
    assert reversal.entry.code == "reversal"
    assert reversal.entry.reverses_entry_id == row.entry_id
    assert reversal.entry.occurred_at == now  # dated at the revocation, not the deed
    assert reversal.entry.actor == SENIOR
    assert reversal.entry.memo == "撤回：经村务监督委员会核查，事迹不实"
    assert reversal.entry.details["record_id"] == str(row.id)
    assert sorted((p.account_id, p.amount) for p in reversal.entry.postings) == sorted(
        (p.account_id, -p.amount) for p in original.entry.postings
    )
    merit = world.account_id(AccountKind.HOUSEHOLD, world.household_a, "merit")
    assert merit in {p.account_id for p in reversal.entry.postings}


def test_revocation_frees_the_occurrence(world: World) -> None:
    row = world.record("public_cleaning", world.a1, occurrence="2026-06 第二周")
    world.revoke(row.id)

    again = world.record("public_cleaning", world.a1, occurrence="2026-06 第二周")

    assert (again.status, again.points) == ("approved", 3)
    assert world.household_points(world.household_a) == 3


def test_a_record_is_revoked_once(world: World) -> None:
    row = world.record("public_cleaning", world.a1)
    world.revoke(row.id)

    with pytest.raises(errors.RecordNotRevocable) as refused:
        world.revoke(row.id)
    assert refused.value.code == "record_not_revocable"
    assert refused.value.extra == {"record_id": str(row.id), "record_status": "revoked"}
    assert world.household_points(world.household_a) == 0


def test_a_pending_record_is_not_revocable(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    with pytest.raises(errors.RecordNotRevocable) as refused:
        world.revoke(row.id)
    assert refused.value.extra["record_status"] == "pending"
    assert world.get(row.id).status == "pending"


def test_a_rejected_record_is_not_revocable(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)
    world.review(row.id, approve=False, reason="重复申报")

    with pytest.raises(errors.RecordNotRevocable):
        world.revoke(row.id)


def test_revoking_a_capped_record_books_nothing(world: World) -> None:
    world.record("voluntary_labor", world.a1, quantity=6, occurrence="上午")  # 9 → 8
    capped = world.record("voluntary_labor", world.a1, quantity=2, occurrence="下午")
    assert capped.status == "capped"

    revoked = world.revoke(capped.id)

    assert (revoked.status, revoked.reversal_entry_id) == ("revoked", None)
    assert world.household_points(world.household_a) == 8


def test_revocation_after_spending_leaves_the_balance_negative(world: World) -> None:
    row = world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")  # 15
    world.spend(AccountKind.HOUSEHOLD, world.household_a, 12)  # a bucket of oil
    assert world.household_points(world.household_a) == 3

    world.revoke(row.id, reason="清扫记录系代签")

    # the oil is not clawed back: the household owes 12 until it earns them back
    assert world.household_points(world.household_a) == -12
    earned_back = world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-07")
    assert earned_back.points == 15
    assert world.household_points(world.household_a) == 3


def test_revoking_a_deduction_gives_the_points_back(world: World) -> None:
    world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")  # 15
    deduction = world.record("clutter", None, household=world.household_a, evidence=INSPECTION)
    assert world.household_points(world.household_a) == 10

    world.revoke(deduction.id, reason="复查后确认已整改在先")

    assert world.household_points(world.household_a) == 15


def test_the_ledger_refuses_to_reverse_a_records_entry_behind_its_back(world: World) -> None:
    """A record's entry is corrected by revoking the record; a bare ledger reversal would
    leave the record approved while its points are gone."""
    row = world.record("public_cleaning", world.a1, quantity=2)
    assert row.entry_id is not None
    with pytest.raises(EntryBelongsToRecord) as refused, world.db.unit_of_work() as session:
        ledger.reverse(
            session,
            entry_id=row.entry_id,
            actor="村会计 张建国",
            clock=world.clock(),
            reason="冲正",
        )
    assert refused.value.extra["record_id"] == str(row.id)
    assert world.household_points(world.household_a) > 0

    revoked = world.revoke(row.id, reason="重复登记")

    assert revoked.status == "revoked"
    assert world.household_points(world.household_a) == 0
