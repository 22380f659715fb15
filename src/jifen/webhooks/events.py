"""The event catalog, and the outbox rows the ledger writes in its own transaction.

An event row is written by the same database transaction as the change it reports, so a
rolled-back booking leaves no event behind and a committed one always has its events.
The rows are deferred to the transaction's write batch and inserted with the entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from jifen.db import write_batch
from jifen.kit.canonical import format_instant
from jifen.kit.ids import new_id
from jifen.ledger.chain import EntryRecord
from jifen.ledger.facts import accounts as account_facts
from jifen.ledger.policy import CODE_PENDING_VOID, CODE_REVERSAL, AccountKind, Asset
from jifen.models import Member, OutboxEvent
from jifen.tenancy.policy import mask_name


class EventType(StrEnum):
    """What a webhook endpoint may subscribe to.

    The points.* events come from the ledger service (points.expiring from `jifen tick`,
    once per holder account and expiry day), the record.* events from the charter records
    (a record waiting for review, approved, rejected, revoked, or amended: corrected by a
    new record), settlement.approved from the subsidies service (once per approved 以奖代补
    settlement, township-wide: no village);
    project.accepted (once per project's 验收, passed or failed) and subsidy.released (once
    per withheld part of a village's award: released to it, or returned to the pool).
    space.claimed, space.claim_ended and space.claim_transferred from the adopted spaces
    (a claim made, ended early, or passed on to another claimant).
    board.published from the boards (once per board, when it is published: the board and
    the records its board rules booked); board.finalized once per board when it closes
    (every notice list its records joined has closed, in `jifen tick`, or at publishing
    when none did): the board with the village books' chain head, and its entry counts.
    notice_list.opened and notice_list.closed from the public notice clock (`jifen tick`,
    once per list), objection.raised and objection.decided from the notice service (an
    objection or late appeal recorded, and its decision).
    checkpoint.written from the signed checkpoints (`jifen checkpoint` and `jifen tick`,
    once per village signed): a receiver that keeps them holds one more copy of the
    signed heads outside the database.
    """

    POINTS_EARNED = "points.earned"
    POINTS_REDEEMED = "points.redeemed"
    POINTS_REVERSED = "points.reversed"
    POINTS_REFUNDED = "points.refunded"
    POINTS_EXPIRING = "points.expiring"
    BOARD_PUBLISHED = "board.published"
    BOARD_FINALIZED = "board.finalized"
    SETTLEMENT_APPROVED = "settlement.approved"
    PROJECT_ACCEPTED = "project.accepted"
    SUBSIDY_RELEASED = "subsidy.released"
    RECORD_PENDING = "record.pending"
    RECORD_APPROVED = "record.approved"
    RECORD_REJECTED = "record.rejected"
    RECORD_REVOKED = "record.revoked"
    RECORD_AMENDED = "record.amended"
    SPACE_CLAIMED = "space.claimed"
    SPACE_CLAIM_ENDED = "space.claim_ended"
    SPACE_CLAIM_TRANSFERRED = "space.claim_transferred"
    SPACE_INSPECTED = "space.inspected"
    NOTICE_LIST_OPENED = "notice_list.opened"
    NOTICE_LIST_CLOSED = "notice_list.closed"
    OBJECTION_RAISED = "objection.raised"
    OBJECTION_DECIDED = "objection.decided"
    CHECKPOINT_WRITTEN = "checkpoint.written"


# The booking path runs these for every entry: built once, on the tables, so that
# SQLAlchemy's compiled cache serves them.
_INSERT_EVENT = insert(cast(Table, OutboxEvent.__table__)).inline()
_MEMBER_NAME = select(Member.name).where(Member.id == bindparam("id"))

# The supermarket's entries (see jifen.market): a sale at the supermarket or an allied
# shop redeems points; a refund gives them back.
CODE_SUPERMARKET_SALE = "supermarket_sale"
CODE_ALLIED_SALE = "allied_sale"
CODE_SUPERMARKET_REFUND = "supermarket_refund"
REDEMPTION_CODES = frozenset({CODE_SUPERMARKET_SALE, CODE_ALLIED_SALE})

_PERSON_KINDS = frozenset({AccountKind.MEMBER.value, AccountKind.HOUSEHOLD.value})


def emit(
    session: Session,
    *,
    event_type: EventType,
    township_id: uuid.UUID,
    village_id: uuid.UUID | None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    data: Mapping[str, Any],
    now: datetime,
) -> uuid.UUID:
    """Add one event to the outbox, in the caller's transaction. `data` must be plain
    JSON; the event's id, type and village are added to it."""
    event_id = new_id()
    write_batch(session).defer(
        _INSERT_EVENT,
        _row(
            event_id, event_type, township_id, village_id, member_id, household_id, dict(data), now
        ),
    )
    return event_id


def emit_for_entry(session: Session, entry: EntryRecord) -> list[uuid.UUID]:
    """Add the events an entry just written gives rise to: one per member or household
    POINTS account it moved, in the caller's transaction. Returns the events' ids.

    - a reversal: points.reversed on every such account;
    - points landing on such an account (a posted entry, or a pending one being posted):
      points.earned;
    - points leaving such an account in an entry that credits the supermarket:
      points.redeemed.
    A pending entry being created or voided, and other debits, give no event.
    """
    if entry.is_pending or entry.code == CODE_PENDING_VOID:
        return []
    facts = account_facts(session, [p.account_id for p in entry.postings])
    points = [
        (p, facts[p.account_id])
        for p in entry.postings
        if p.account_id in facts and facts[p.account_id].asset == Asset.POINTS.value
    ]
    credits_supermarket = entry.code in REDEMPTION_CODES or any(
        fact.kind == AccountKind.SUPERMARKET.value and p.amount > 0 for p, fact in points
    )
    rows = []
    for posting, fact in points:
        if fact.kind not in _PERSON_KINDS:
            continue
        if entry.code == CODE_REVERSAL:
            event_type = EventType.POINTS_REVERSED
        elif entry.code == CODE_SUPERMARKET_REFUND:
            event_type = EventType.POINTS_REFUNDED
        elif posting.amount > 0:
            event_type = EventType.POINTS_EARNED
        elif credits_supermarket:
            event_type = EventType.POINTS_REDEEMED
        else:
            continue
        data: dict[str, Any] = {
            "occurred_at": format_instant(entry.occurred_at),
            "account_id": str(posting.account_id),
            # "main" is the spendable balance; "merit" the merit score (荣誉积分).
            "category": fact.category,
            "member_id": _str(fact.member_id),
            "household_id": _str(fact.household_id),
            "entry_id": str(entry.id),
            "entry_code": entry.code,
            "memo": entry.memo,
            "amount": posting.amount,
            "balance_after": posting.balance_after,
        }
        if entry.reverses_entry_id is not None:
            data["reverses_entry_id"] = str(entry.reverses_entry_id)
        if fact.kind == AccountKind.HOUSEHOLD.value:
            data.update(_acting_member(session, entry))
        rows.append(
            _row(
                new_id(),
                event_type,
                entry.township_id,
                entry.village_id,
                fact.member_id,
                fact.household_id,
                data,
                entry.recorded_at,
            )
        )
    if rows:
        batch = write_batch(session)
        for row in rows:
            batch.defer(_INSERT_EVENT, row)
    return [row["id"] for row in rows]


def _acting_member(session: Session, entry: EntryRecord) -> dict[str, Any]:
    """For points a household earned (or lost) by what one of its members did, as a
    charter record says: who acted, the name masked (张*明), so that every bound member
    of the household sees whose work it was without the full name going out."""
    acting = entry.details.get("member_id") if entry.details.get("record_id") else None
    if not isinstance(acting, str):
        return {}
    try:
        member_id = uuid.UUID(acting)
    except ValueError:
        return {}
    # A plain read of the member, not one that would first write the deferred batch.
    name = (
        session.connection()
        .execute(_MEMBER_NAME.execution_options(jifen_batch_aware=True), {"id": member_id})
        .scalar_one_or_none()
    )
    if name is None:
        return {}
    return {"acting_member_id": acting, "acting_member_name": mask_name(name)}


def _row(
    event_id: uuid.UUID,
    event_type: EventType,
    township_id: uuid.UUID,
    village_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    payload = {
        "id": str(event_id),
        "type": event_type.value,
        "village_id": _str(village_id),
        **data,
    }
    return {
        "id": event_id,
        "type": event_type.value,
        "township_id": township_id,
        "village_id": village_id,
        "member_id": member_id,
        "household_id": household_id,
        "payload": payload,
        "created_at": now,
        "dispatched_at": None,
    }


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
