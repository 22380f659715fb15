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
    category: str = ""


# 以奖代补 money withheld until a project's acceptance (jifen.subsidies.release).
WITHHELD_SUBSIDY_CATEGORY = "withheld"


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
            detail_zh=f"类型为 {'、'.join(kinds)} 的账户只能通过积分超市自己的操作记账"
            "（/v1/villages/{village_id}/stock-movements、/sales、/refunds），不能直接记分录",
            account_kinds=kinds,
        )


_RESIDENT_KINDS = frozenset({AccountKind.MEMBER, AccountKind.HOUSEHOLD})


def moves_resident_points(legs: Iterable[Leg]) -> bool:
    """Whether a booking awards or deducts points of members or households: it moves
    such an account's points and is not a redemption (which the supermarket may book)."""
    points = [leg for leg in legs if leg.asset == Asset.POINTS]
    return any(leg.kind in _RESIDENT_KINDS for leg in points) and not _is_redemption(points)


def refuse_earmarked(legs: Iterable[Leg]) -> None:
    """以奖代补 money is earmarked for project construction: what leaves a SUBSIDY account
    (received or withheld) never lands on a member's, household's or organisation's."""
    legs = list(legs)
    if any(leg.kind == AccountKind.SUBSIDY and leg.amount < 0 for leg in legs):
        owners = sorted({leg.kind for leg in legs if leg.kind in OWNER_KINDS and leg.amount > 0})
        if owners:
            raise errors.EarmarkedFunds(
                "subsidy money may go only to a project's construction, not to "
                + ", ".join(owners)
                + " accounts",
                detail_zh="以奖代补资金只能用于项目建设，不能转入 " + "、".join(owners) + " 类账户",
                earmark="project_construction",
                account_kinds=owners,
            )


def refuse_withheld(legs: Iterable[Leg]) -> None:
    """A withheld subsidy moves only through the settlement's approval and its release
    after acceptance (验收), which keep the withholding's record true; no entry of a
    client's, and no reversal, touches it."""
    if any(
        leg.kind == AccountKind.SUBSIDY and leg.category == WITHHELD_SUBSIDY_CATEGORY
        for leg in legs
    ):
        raise errors.WithheldSubsidyMovesByRelease(
            "withheld subsidy money moves only by release after the projects' acceptance "
            "(POST /v1/projects/{project_id}/acceptance, "
            "/v1/subsidy-settlements/{subsidy_settlement_id}/releases)",
            detail_zh="暂扣的以奖代补资金只能在项目验收后通过释放转出"
            "（POST /v1/projects/{project_id}/acceptance、"
            "/v1/subsidy-settlements/{subsidy_settlement_id}/releases）",
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
        Leg(known[account_id].kind, known[account_id].asset, amount, known[account_id].category)
        for account_id, amount in lines
        if account_id in known
    ]


def legs_of_entry(session: Session, entry_id: uuid.UUID) -> list[Leg]:
    rows = session.execute(
        select(Account.kind, Account.asset, Posting.amount, Account.category)
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.entry_id == entry_id)
    )
    return [Leg(row.kind, row.asset, row.amount, row.category) for row in rows]
