"""Pure ledger rules: what a draft must look like, what a posting does to a balance,
and whether a balance floor allows it. No I/O, no clock."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from jifen.ledger import errors


class Asset(StrEnum):
    POINTS = "POINTS"  # integer points
    CNY = "CNY"  # integer fen


# Goods on a supermarket's shelf are assets too, one per good, counted in whole units:
# "G" and the good's number in its village (G1, G2, ...). A redemption moves points and
# goods in one entry, so stock shares the books' guarantees (append-only, the hash
# chain, floors under the same lock).
GOODS_ASSET_PATTERN = r"^G[1-9][0-9]{0,6}$"
ASSET_PATTERN = r"^(POINTS|CNY|G[1-9][0-9]{0,6})$"


def goods_asset(number: int) -> str:
    return f"G{number}"


def is_goods(asset: str) -> bool:
    return asset.startswith("G")


class AccountKind(StrEnum):
    """What an account is for. Owner accounts have a floor of zero; the village's
    issuance, sink and external-funding accounts have none."""

    MEMBER = "member"
    HOUSEHOLD = "household"
    ORGANISATION = "organisation"
    ISSUANCE = "issuance"  # where a category of points comes from (per category)
    SUPERMARKET = "supermarket"  # where redeemed points go
    EXPIRY = "expiry"  # where expired or cleared points go
    FUND = "fund"  # money the village holds for the points supermarket (积分兑换基金)
    FUNDING = "funding"  # money coming in from outside (township, collective income, donors)
    SHELF = "shelf"  # goods on the supermarket's shelf (floor zero: stock never negative)
    GOODS = "goods"  # where goods come from and go to, per category (purchase, donation...)
    PURCHASES = "purchases"  # money the fund paid for goods, at cost
    PAYOUTS = "payouts"  # money paid out of the fund (allied shops' settlements)
    PROJECT = "project"  # money and appraised donations put into a project (per project code)
    SUBSIDY = "subsidy"  # township awards (以奖代补) the village received, for construction


OWNER_KINDS = frozenset({AccountKind.MEMBER, AccountKind.HOUSEHOLD, AccountKind.ORGANISATION})
_FLOORED_KINDS = OWNER_KINDS | {AccountKind.FUND, AccountKind.SHELF}
GOODS_KINDS = frozenset({AccountKind.SHELF, AccountKind.GOODS})
# Accounts only the supermarket opens and books: the generic ledger API refuses them.
MARKET_KINDS = GOODS_KINDS | {AccountKind.PURCHASES, AccountKind.PAYOUTS}


def default_floor(kind: AccountKind) -> int | None:
    return 0 if kind in _FLOORED_KINDS else None


class Effect(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    PENDING_POSTED = "pending_posted"
    PENDING_VOIDED = "pending_voided"


# Codes the ledger itself gives to the entries it derives; clients may not use them.
CODE_REVERSAL = "reversal"
CODE_PENDING_POST = "pending_post"
CODE_PENDING_VOID = "pending_void"
RESERVED_CODES = frozenset({CODE_REVERSAL, CODE_PENDING_POST, CODE_PENDING_VOID})
# A raw points entry to members or households, outside the charter's records: it carries
# a mandatory reason, and where a charter is in force it needs points:adjust (手工调整).
CODE_MANUAL_ADJUSTMENT = "manual_adjustment"
MANUAL_ADJUSTMENT_LABEL = "手工调整"
_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class Line:
    account_id: uuid.UUID
    amount: int
    effect: Effect = Effect.POSTED


@dataclass(frozen=True)
class Delta:
    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.posted + other.posted,
            self.pending_debits + other.pending_debits,
            self.pending_credits + other.pending_credits,
        )


def delta_of(line: Line) -> Delta:
    """What one posting does to its account's balance."""
    amount, debit = line.amount, line.amount < 0
    match line.effect:
        case Effect.POSTED:
            return Delta(posted=amount)
        case Effect.PENDING:
            return Delta(pending_debits=-amount) if debit else Delta(pending_credits=amount)
        case Effect.PENDING_POSTED:
            if debit:
                return Delta(posted=amount, pending_debits=amount)
            return Delta(posted=amount, pending_credits=-amount)
        case Effect.PENDING_VOIDED:
            return Delta(pending_debits=amount) if debit else Delta(pending_credits=-amount)


@dataclass(frozen=True)
class AccountState:
    """An account and its balance as read under lock, with what the checks need."""

    id: uuid.UUID
    village_id: uuid.UUID
    asset: str
    balance_floor: int | None
    posted: int
    pending_debits: int
    pending_credits: int
    member_deactivated_on: date | None = None

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits


def check_code(code: str) -> None:
    if not _CODE_PATTERN.match(code) or code in RESERVED_CODES:
        raise errors.InvalidEntryCode(
            f"entry code {code!r} must be lower_snake_case, 2-64 characters, and not one of "
            f"{sorted(RESERVED_CODES)}",
            detail_zh=f"分录代码 {code!r} 须为 lower_snake_case 格式、2 至 64 个字符，且不能是 "
            f"{sorted(RESERVED_CODES)} 之一",
            entry_code=code,
        )


def check_shape(lines: Sequence[Line], *, postings_max: int, amount_abs_max: int) -> None:
    """Refuse drafts that could never be booked, before anything is read."""
    if len(lines) < 2:
        raise errors.TooFewPostings(
            f"{len(lines)} posting(s) given",
            detail_zh=f"只给出了 {len(lines)} 条过账",
            postings_count=len(lines),
        )
    if len(lines) > postings_max:
        raise errors.TooManyPostings(
            f"{len(lines)} postings given, at most {postings_max} allowed",
            detail_zh=f"给出了 {len(lines)} 条过账，最多允许 {postings_max} 条",
            postings_count=len(lines),
            postings_max=postings_max,
        )
    seen: set[uuid.UUID] = set()
    for line in lines:
        if line.account_id in seen:
            raise errors.DuplicateAccount(
                f"account {line.account_id} appears twice",
                detail_zh=f"账户 {line.account_id} 出现了两次",
                account_id=str(line.account_id),
            )
        seen.add(line.account_id)
        if line.amount == 0 or abs(line.amount) > amount_abs_max:
            raise errors.AmountOutOfRange(
                f"amount {line.amount} must be non-zero and at most {amount_abs_max} in size",
                detail_zh=f"金额 {line.amount} 不能为零，绝对值不能超过 {amount_abs_max}",
                account_id=str(line.account_id),
                amount=line.amount,
            )


def check_balanced(lines: Iterable[Line], assets: dict[uuid.UUID, str]) -> None:
    sums: dict[str, int] = defaultdict(int)
    for line in lines:
        sums[assets[line.account_id]] += line.amount
    unbalanced = {asset: total for asset, total in sums.items() if total != 0}
    if unbalanced:
        raise errors.UnbalancedEntry(
            "postings do not sum to zero: "
            + ", ".join(f"{asset} {total:+d}" for asset, total in sorted(unbalanced.items())),
            detail_zh="各条过账合计不为零："
            + "，".join(f"{asset} {total:+d}" for asset, total in sorted(unbalanced.items())),
            sums=unbalanced,
        )


@dataclass(frozen=True)
class FloorBreach:
    account: AccountState
    amount: int
    available_after: int


def floor_breaches(
    lines: Iterable[Line], states: dict[uuid.UUID, AccountState]
) -> list[FloorBreach]:
    """Lines that would leave a floored account's available balance below its floor.

    Only lines that lower the available balance are checked, so an account already in
    debt can always be credited.
    """
    breaches = []
    for line in lines:
        state = states[line.account_id]
        change = delta_of(line).available
        if state.balance_floor is None or change >= 0:
            continue
        after = state.available + change
        if after < state.balance_floor:
            breaches.append(FloorBreach(state, line.amount, after))
    return breaches


def insufficient(
    breach: FloorBreach,
) -> errors.InsufficientPoints | errors.InsufficientFunds | errors.InsufficientStock:
    account = breach.account
    if is_goods(account.asset):
        return errors.InsufficientStock(
            f"account {account.id} has {account.available} of {account.asset} on the shelf, "
            f"{-breach.amount} requested",
            detail_zh=f"账户 {account.id} 的货架上有 {account.available} 件 {account.asset}，"
            f"需要 {-breach.amount} 件",
            account_id=str(account.id),
            asset=account.asset,
            available_quantity=account.available,
            requested_quantity=-breach.amount,
        )
    if account.asset == Asset.POINTS:
        return errors.InsufficientPoints(
            f"account {account.id} has {account.available} points available, "
            f"{-breach.amount} requested",
            detail_zh=f"账户 {account.id} 可用积分为 {account.available}，"
            f"需要 {-breach.amount} 积分",
            account_id=str(account.id),
            balance_points=account.available,
            requested_points=-breach.amount,
            floor_points=account.balance_floor,
        )
    return errors.InsufficientFunds(
        f"account {account.id} has {account.available} fen available, {-breach.amount} requested",
        detail_zh=f"账户 {account.id} 可用金额为 {account.available} 分，需要 {-breach.amount} 分",
        account_id=str(account.id),
        balance_fen=account.available,
        requested_fen=-breach.amount,
        floor_fen=account.balance_floor,
    )
