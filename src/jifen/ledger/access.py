"""Which permission a booking needs, read off the accounts it moves.

The entry code is the caller's to choose, so it decides nothing here: the shape does.
Points that only go from owners (members, households, organisations) to the
supermarket are a redemption (a cashier's work); the mirror of one is a refund; any other
movement of points is an award or deduction (a clerk's); money (CNY) is finance's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access.permissions import Permission
from jifen.ledger import errors, facts
from jifen.ledger.policy import MARKET_KINDS, OWNER_KINDS, AccountKind, Asset
from jifen.models import Account, Posting


class Leg(NamedTuple):
    kind: str
    asset: str
    amount: int


def _is_redemption(points: list[Leg]) -> bool:
    return bool(points) and all(
        (leg.kind in OWNER_KINDS and leg.amount < 0)
        or (leg.kind == AccountKind.SUPERMARKET and leg.amount > 0)
        for leg in points
    )


def refuse_market_accounts(legs: Iterable[Leg]) -> None:
    """Goods and the supermarket's money accounts move only through its own operations
    (stock-in, sales, refunds, settlements), which keep stock and receipts consistent."""
    kinds = sorted({leg.kind for leg in legs if leg.kind in MARKET_KINDS})
    if kinds:
        raise errors.GoodsNeedTheSupermarket(
            f"accounts of kind {', '.join(kinds)} are booked by the supermarket's operations "
            "(/v1/villages/{village_id}/stock-movements, /sales, /refunds), not as entries",
            account_kinds=kinds,
        )


def booking_permissions(legs: Iterable[Leg]) -> set[Permission]:
    legs = list(legs)
    points = [leg for leg in legs if leg.asset == Asset.POINTS]
    needed: set[Permission] = set()
    if any(leg.asset == Asset.CNY for leg in legs):
        needed.add(Permission.FUNDS_WRITE)
    if points:
        needed.add(Permission.POINTS_REDEEM if _is_redemption(points) else Permission.POINTS_AWARD)
    # Accounts that do not exist are the service's to refuse; the caller still needs the
    # right to book something.
    return needed or {Permission.POINTS_AWARD}


def reversal_permissions(legs: Iterable[Leg]) -> set[Permission]:
    needed = booking_permissions(legs)
    if Permission.POINTS_REDEEM in needed:
        needed = (needed - {Permission.POINTS_REDEEM}) | {Permission.POINTS_REFUND}
    if Permission.POINTS_AWARD in needed:
        needed = (needed - {Permission.POINTS_AWARD}) | {Permission.ENTRIES_REVERSE}
    return needed


def legs_of_request(session: Session, lines: Iterable[tuple[uuid.UUID, int]]) -> list[Leg]:
    lines = list(lines)
    known = facts.accounts(session, [account_id for account_id, _ in lines])
    return [
        Leg(known[account_id].kind, known[account_id].asset, amount)
        for account_id, amount in lines
        if account_id in known
    ]


def legs_of_entry(session: Session, entry_id: uuid.UUID) -> list[Leg]:
    rows = session.execute(
        select(Account.kind, Account.asset, Posting.amount)
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.entry_id == entry_id)
    )
    return [Leg(row.kind, row.asset, row.amount) for row in rows]
