"""Every record emits its events through the outbox, in the same transaction."""

from __future__ import annotations

import pytest

from jifen.ledger.policy import AccountKind
from jifen.records import errors
from tests.records.charters import CERTIFICATE
from tests.records.world import CLERK, LEADER, World


def test_an_approved_record_emits_points_earned_and_record_approved(world: World) -> None:
    before = len(world.events())
    row = world.record("public_cleaning", world.a1, quantity=2)

    emitted = world.events()[before:]
    assert [kind for kind, _ in emitted] == ["points.earned", "record.approved"]
    earned, approved = (payload for _, payload in emitted)
    assert earned["entry_id"] == str(row.entry_id)
    assert earned["amount"] == 6
    assert earned["household_id"] == str(world.household_a)
    assert earned["entry_code"] == "sanitation_award"
    assert approved["record_id"] == str(row.id)
    assert approved["status"] == "approved"
    assert approved["points"] == 6
    assert approved["rule_id"] == "public_cleaning"
    assert approved["explanation"] == "公共区域清扫 2 次 × 3 分/次 = 6 分"
    assert approved["occurred_on"] == "2026-06-15"


def test_a_pending_record_emits_record_pending_only(world: World) -> None:
    before = len(world.events())
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    emitted = world.events()[before:]
    assert [kind for kind, _ in emitted] == ["record.pending"]
    assert emitted[0][1]["record_id"] == str(row.id)
    assert emitted[0][1]["status"] == "pending"

    world.review(row.id, reviewer=CLERK)
    assert [kind for kind, _ in world.events(row.id)] == ["record.pending", "record.approved"]
    assert "points.earned" in [kind for kind, _ in world.events()[before:]]


def test_a_rejection_emits_record_rejected_with_the_reason(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)
    world.review(row.id, approve=False, reason="无现场照片", reviewer=CLERK)

    emitted = world.events(row.id)
    assert [kind for kind, _ in emitted] == ["record.pending", "record.rejected"]
    assert emitted[1][1]["reason"] == "无现场照片"
    assert "points.earned" not in [kind for kind, _ in world.events()]


def test_a_revocation_emits_points_reversed_and_record_revoked(world: World) -> None:
    row = world.record("public_cleaning", world.a1)
    before = len(world.events())

    world.revoke(row.id, reason="重复登记")

    emitted = world.events()[before:]
    assert [kind for kind, _ in emitted] == ["points.reversed", "record.revoked"]
    assert emitted[1][1]["reason"] == "重复登记"


def test_a_capped_record_emits_record_approved_with_its_status(world: World) -> None:
    world.record("voluntary_labor", world.a1, quantity=6, occurrence="上午")
    before = len(world.events())
    row = world.record("voluntary_labor", world.a1, quantity=2, occurrence="下午")

    emitted = world.events()[before:]
    assert [kind for kind, _ in emitted] == ["record.approved"]
    assert emitted[0][1]["record_id"] == str(row.id)
    assert emitted[0][1]["status"] == "capped"


def test_a_refused_record_emits_nothing(world: World) -> None:
    world.record("brave_deed", world.a1, evidence=CERTIFICATE)
    before = len(world.events())

    with pytest.raises(errors.DuplicateRecord):
        world.record("brave_deed", world.a1, evidence=CERTIFICATE)

    assert len(world.events()) == before


def test_a_merit_move_is_not_reported_as_spendable_points(world: World) -> None:
    before = len(world.events())
    world.record("brave_deed", world.a1, evidence=CERTIFICATE)  # 8 points and 8 merit

    earned = [payload for kind, payload in world.events()[before:] if kind == "points.earned"]
    main = world.account_id(AccountKind.HOUSEHOLD, world.household_a)
    spendable = [p for p in earned if p.get("category", "main") != "merit"]
    assert [p["account_id"] for p in spendable] == [str(main)]
    assert sum(p["amount"] for p in spendable) == 8
