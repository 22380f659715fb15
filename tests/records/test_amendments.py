"""Amendments (更正): a recorder corrects a record in one step, within the charter's
window; after it, the revoking role does. The old record's entry is reversed, the
correction recorded through the charter like any record, the two linked both ways."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from jifen.charters.document import CharterInvalid, compile_charter
from jifen.records import errors
from jifen.records import service as records
from jifen.records.service import Amender, Correction, Recorder
from tests.records.charters import qingquan
from tests.records.world import ADMIN, CLERK, CLERK2, LEADER, World, at

RECORDED_AT = at(2026, 6, 15, 12)
REASON = "误录为 3 小时，实为 2 小时"


def amend(
    world: World,
    record_id: uuid.UUID,
    *,
    by: Recorder = CLERK,
    own: bool = True,
    revoke: bool = False,
    now: datetime = RECORDED_AT + timedelta(hours=2),
    reason: str = REASON,
    **correction: object,
) -> records.Record:
    with world.db.unit_of_work() as session:
        return records.amend(
            session,
            record_id=record_id,
            correction=Correction(**correction),  # type: ignore[arg-type]
            reason=reason,
            amender=Amender(by, may_amend_own=own, may_revoke=revoke),
            clock=world.clock(now),
        )


def test_an_amendment_reverses_the_record_and_books_its_correction(world: World) -> None:
    # 义务劳动 1.5 points an hour: 3 hours typed instead of 2.
    old = world.record("voluntary_labor", world.a1, quantity=3, now=RECORDED_AT)
    assert (old.status, old.points, world.household_points(world.household_a)) == (
        "approved",
        5,
        5,
    )

    new = amend(world, old.id, quantity=Decimal(2))

    assert (new.status, new.quantity, new.points) == ("approved", "2", 3)
    assert world.household_points(world.household_a) == 3
    old = world.get(old.id)
    assert old.status == "amended"
    assert (old.amended_by_record_id, new.amends_record_id) == (new.id, old.id)
    assert (old.amended_by, old.amend_reason) == (CLERK.actor, REASON)
    assert old.amended_at == RECORDED_AT + timedelta(hours=2)
    assert old.dedupe_key is None and new.dedupe_key is not None
    # The correction keeps the day and occurrence; the reversal names the old entry.
    assert (new.occurred_at, new.occurrence) == (old.occurred_at, old.occurrence)
    reversal = world.entry(old.reversal_entry_id)
    assert reversal.entry.code == "reversal"
    assert reversal.entry.reverses_entry_id == old.entry_id
    assert reversal.entry.memo == f"更正：{REASON}"
    assert reversal.entry.details["amendment"] is True
    assert world.entry(old.entry_id).status == "reversed"
    assert world.entry(new.entry_id).status == "posted"
    amended = [payload for kind, payload in world.events(old.id) if kind == "record.amended"]
    assert len(amended) == 1
    assert amended[0]["amended_by_record_id"] == str(new.id)
    assert (amended[0]["reason"], amended[0]["corrected_points"]) == (REASON, 3)
    assert [kind for kind, _ in world.events(new.id)] == ["record.approved"]


def test_the_old_record_counts_towards_no_cap_and_is_no_duplicate(world: World) -> None:
    # 5 hours: 7.5 rounds to 8, the member's daily cap; were the old record counted, its
    # correction would be capped to nothing (and refused as a duplicate).
    old = world.record("voluntary_labor", world.a1, quantity=5, now=RECORDED_AT)
    assert old.points == 8

    new = amend(world, old.id, quantity=Decimal(4))

    assert (new.status, new.points, new.cap) == ("approved", 6, None)
    assert world.household_points(world.household_a) == 6


def test_the_subject_and_the_rule_can_be_corrected(world: World) -> None:
    old = world.record("public_cleaning", world.a1, now=RECORDED_AT)

    moved = amend(world, old.id, member_id=world.b1, reason="记错了人，是李四")

    assert (moved.member_id, moved.household_id, moved.points) == (
        world.b1,
        world.household_b,
        3,
    )
    assert world.household_points(world.household_a) == 0
    assert world.household_points(world.household_b) == 3

    ruled = amend(world, moved.id, rule_id="waste_sorting", reason="应为垃圾分类达标")
    assert (ruled.rule_id, ruled.category, ruled.points) == ("waste_sorting", "waste_sorting", 5)
    assert world.household_points(world.household_b) == 5
    assert world.get(moved.id).status == "amended"


def test_an_amendment_must_change_something(world: World) -> None:
    old = world.record("public_cleaning", world.a1, now=RECORDED_AT)

    with pytest.raises(errors.AmendmentChangesNothing):
        amend(world, old.id, quantity=Decimal("1.0"), member_id=world.a1)
    assert world.get(old.id).status == "approved"


def test_after_the_window_the_recorder_is_refused_and_the_revoking_role_amends(
    world: World,
) -> None:
    old = world.record("voluntary_labor", world.a1, quantity=3, now=RECORDED_AT)
    late = RECORDED_AT + timedelta(days=7)

    amend(world, old.id, quantity=Decimal(2), now=late - timedelta(seconds=1), reason="期限内")
    current = world.get(old.id).amended_by_record_id
    assert current is not None
    # A correction of a correction does not restart the window.
    with pytest.raises(errors.AmendmentWindowClosed) as refused:
        amend(world, current, by=CLERK2, quantity=Decimal(1), now=late)
    assert refused.value.code == "amendment_window_closed"
    assert refused.value.status == 403
    assert refused.value.extra["window_days"] == 7

    new = amend(world, current, by=ADMIN, own=False, revoke=True, quantity=Decimal(1), now=late)
    assert (new.points, new.recorder) == (2, ADMIN.actor)  # 1.5 rounds half up
    assert world.household_points(world.household_a) == 2


def test_a_window_of_zero_leaves_amendments_to_the_revoking_role(world: World) -> None:
    document = qingquan(effective_on="2026-06-01")
    document["settings"]["amendments"] = {"window_days": 0}
    world.publish(document)
    old = world.record("public_cleaning", world.a1, now=RECORDED_AT)

    with pytest.raises(errors.AmendmentWindowClosed):
        amend(world, old.id, quantity=Decimal(2), now=RECORDED_AT)
    # A fixed rule scores per occurrence: two clean-ups, 3 points each.
    assert amend(world, old.id, revoke=True, quantity=Decimal(2), now=RECORDED_AT).points == 6


def test_only_the_recorder_or_a_reviewer_amends_within_the_window(world: World) -> None:
    old = world.record("public_cleaning", world.a1, now=RECORDED_AT)
    other = Recorder("三组组长 周平", frozenset({"group_leader"}))

    with pytest.raises(errors.AmendmentNotOwnRecord) as refused:
        amend(world, old.id, by=other, own=False, quantity=Decimal(2))
    assert refused.value.extra["recorder"] == CLERK.actor
    # The recorder themselves needs no other right.
    assert amend(world, old.id, own=False, quantity=Decimal(2)).points == 6


def test_a_pending_record_is_amended_and_its_correction_waits_for_review(world: World) -> None:
    # The group leader's records wait for the clerk's 复核.
    old = world.record("voluntary_labor", world.a1, quantity=3, recorder=LEADER, now=RECORDED_AT)
    assert (old.status, old.entry_id) == ("pending", None)

    new = amend(world, old.id, by=LEADER, own=False, quantity=Decimal(2))

    assert (new.status, new.stages_pending, new.points) == ("pending", ["final_review"], 0)
    old = world.get(old.id)
    assert (old.status, old.reversal_entry_id, old.amended_by_record_id) == (
        "amended",
        None,
        new.id,
    )
    with pytest.raises(errors.RecordNotPending):
        world.review(old.id)
    assert world.review(new.id).points == 3
    assert world.household_points(world.household_a) == 3


def test_revoked_and_amended_records_are_not_amended(world: World) -> None:
    revoked = world.record("public_cleaning", world.a1, now=RECORDED_AT)
    world.revoke(revoked.id)
    with pytest.raises(errors.RecordNotAmendable) as refused:
        amend(world, revoked.id, quantity=Decimal(2))
    assert refused.value.extra["record_status"] == "revoked"

    old = world.record("public_cleaning", world.a2, now=RECORDED_AT)
    amend(world, old.id, quantity=Decimal(2))
    with pytest.raises(errors.RecordNotAmendable):
        amend(world, old.id, quantity=Decimal(3))
    assert world.household_points(world.household_a) == 6


def test_a_refused_correction_leaves_the_record_as_it_was(world: World) -> None:
    old = world.record("public_cleaning", world.a1, now=RECORDED_AT)

    with pytest.raises(errors.SubjectInvalid):
        amend(world, old.id, member_id=uuid.uuid4())

    old = world.get(old.id)
    assert (old.status, old.reversal_entry_id) == ("approved", None)
    assert world.household_points(world.household_a) == 3


@pytest.mark.parametrize(
    ("amendments", "field"),
    [
        ({"window_days": -1}, "settings.amendments.window_days"),
        ({"window_days": 400}, "settings.amendments.window_days"),
        ({"window_days": "a week"}, "settings.amendments.window_days"),
        ({"days": 7}, "settings.amendments.days"),
    ],
)
def test_the_amendment_window_is_validated(amendments: dict[str, object], field: str) -> None:
    document = qingquan()
    document["settings"]["amendments"] = amendments
    with pytest.raises(CharterInvalid) as invalid:
        compile_charter(document)
    assert field in [error.field for error in invalid.value.errors]


def test_the_window_defaults_to_seven_days() -> None:
    assert compile_charter(qingquan()).document.settings.amendments.window_days == 7
