"""The supermarket's operations: catalog, stock movements, sales and refunds.

Every operation that moves points, goods or money is one ledger entry (ledger.service.book):
a sale moves the basket's points from the holder to the supermarket and each good off the
shelf in the same entry, so the shelf's floor of zero (no negative stock) and the holder's
(no overdraft) are checked together, under the books lock, and a sale is booked once per
idempotency key however often the till retries. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from jifen.charters import service as charters
from jifen.charters.document import Holder
from jifen.charters.errors import NoCharterInForce
from jifen.kit.ids import new_id
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.ledger.policy import AccountKind, Asset, goods_asset
from jifen.market import errors
from jifen.models import (
    Account,
    AccountBalance,
    Entry,
    Goods,
    GoodsPrice,
    Household,
    HouseholdMembership,
    Member,
    Organisation,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
    StockMovement,
)
from jifen.problems import IdempotencyKeyReused, NotFound
from jifen.tenancy.service import get_village
from jifen.webhooks.events import CODE_SUPERMARKET_REFUND, CODE_SUPERMARKET_SALE

# Where goods come from and go to: one `goods` account per good and category.
GOODS_CATEGORIES = ("purchase", "donation", "adjustment", "redemption")
BASKET_LINES_MAX = 30  # two postings a line, within the ledger's postings per entry
QUANTITY_MAX = 9_999

CODE_STOCK_PURCHASE = "stock_purchase"
CODE_STOCK_DONATION = "stock_donation"
CODE_STOCK_ADJUSTMENT = "stock_adjustment"


# --- catalog ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoodsInput:
    name: str
    unit: str
    category: str
    price_points: int
    barcode: str | None = None
    image_url: str | None = None
    active: bool = True


def create_goods(
    session: Session, *, village_id: uuid.UUID, spec: GoodsInput, actor: str, clock: ledger.Clock
) -> Goods:
    """A new good: its number in the village, its shelf, and its counterpart accounts."""
    village = get_village(session, village_id)
    writer.lock_books(session, village_id)  # numbers are given out one at a time
    _check_barcode(session, village_id, spec.barcode, None)
    number = (
        session.execute(
            select(Goods.number)
            .where(Goods.village_id == village_id)
            .order_by(Goods.number.desc())
            .limit(1)
        ).scalar_one_or_none()
        or 0
    ) + 1
    asset = goods_asset(number)
    shelf = ledger.open_account(
        session,
        village_id=village_id,
        kind=AccountKind.SHELF,
        asset=asset,
        name=f"货架：{spec.name}",
        now=clock.now,
    )
    for category in GOODS_CATEGORIES:
        ledger.open_account(
            session,
            village_id=village_id,
            kind=AccountKind.GOODS,
            asset=asset,
            category=category,
            name=f"{spec.name}（{category}）",
            now=clock.now,
        )
    goods = Goods(
        id=new_id(),
        township_id=village.township_id,
        village_id=village_id,
        number=number,
        asset=asset,
        name=spec.name,
        unit=spec.unit,
        category=spec.category,
        price_points=spec.price_points,
        barcode=spec.barcode,
        image_url=spec.image_url,
        active=spec.active,
        shelf_account_id=shelf.id,
        created_at=clock.now,
        updated_at=clock.now,
    )
    session.add(goods)
    session.flush()
    _price(session, goods, actor, clock.now)
    return goods


def _price(session: Session, goods: Goods, actor: str, now: datetime) -> None:
    session.add(
        GoodsPrice(
            id=new_id(),
            township_id=goods.township_id,
            village_id=goods.village_id,
            goods_id=goods.id,
            price_points=goods.price_points,
            valid_from=now,
            actor=actor,
        )
    )
    session.flush()


def _check_barcode(
    session: Session, village_id: uuid.UUID, barcode: str | None, goods_id: uuid.UUID | None
) -> None:
    if barcode is None:
        return
    other = session.execute(
        select(Goods.id, Goods.name).where(Goods.village_id == village_id, Goods.barcode == barcode)
    ).first()
    if other is not None and other.id != goods_id:
        raise errors.BarcodeTaken(
            f"barcode {barcode} is {other.name}'s",
            detail_zh=f"条码 {barcode} 已属于商品 {other.name}",
            goods_id=str(other.id),
            barcode=barcode,
        )


def get_goods(session: Session, goods_id: uuid.UUID) -> Goods:
    goods = session.get(Goods, goods_id)
    if goods is None:
        raise NotFound("goods", goods_id)
    return goods


def update_goods(
    session: Session,
    *,
    goods_id: uuid.UUID,
    changes: dict[str, Any],
    actor: str,
    clock: ledger.Clock,
) -> Goods:
    """Change a good's description, price or active flag. A new price starts a new row of
    the price history; receipts keep the price they were sold at."""
    goods = get_goods(session, goods_id)
    if "barcode" in changes:
        _check_barcode(session, goods.village_id, changes["barcode"], goods.id)
    price_changed = "price_points" in changes and changes["price_points"] != goods.price_points
    for name, value in changes.items():
        setattr(goods, name, value)
    goods.updated_at = clock.now
    session.flush()
    if price_changed:
        _price(session, goods, actor, clock.now)
    return goods


def price_history(session: Session, goods_id: uuid.UUID) -> list[GoodsPrice]:
    get_goods(session, goods_id)
    return list(
        session.execute(
            select(GoodsPrice)
            .where(GoodsPrice.goods_id == goods_id)
            .order_by(GoodsPrice.valid_from, GoodsPrice.id)
        ).scalars()
    )


@dataclass(frozen=True)
class Shelved:
    goods: Goods
    stock: int


def catalog(
    session: Session,
    village_id: uuid.UUID,
    *,
    active_only: bool = False,
    category: str | None = None,
    barcode: str | None = None,
) -> list[Shelved]:
    """The village's goods with what is on the shelf, by number."""
    get_village(session, village_id)
    stock = (AccountBalance.posted - AccountBalance.pending_debits).label("stock")
    query = (
        select(Goods, stock)
        .join(AccountBalance, AccountBalance.account_id == Goods.shelf_account_id)
        .where(Goods.village_id == village_id)
        .order_by(Goods.number)
    )
    if active_only:
        query = query.where(Goods.active.is_(True))
    if category is not None:
        query = query.where(Goods.category == category)
    if barcode is not None:
        query = query.where(Goods.barcode == barcode)
    return [Shelved(goods, stock) for goods, stock in session.execute(query).all()]


# --- stock movements --------------------------------------------------------------------


@dataclass(frozen=True)
class Donor:
    kind: str
    id: uuid.UUID | None
    name: str


# Account ids never change once an account exists (accounts are never closed or
# deleted), so what was found is kept for the process: a sale then reads no account ids.
# Only what a committed transaction saw is kept (an account opened in a transaction that
# rolls back must not be remembered).
_KNOWN_ACCOUNTS: dict[tuple[uuid.UUID, str, str, str], uuid.UUID] = {}
_KNOWN_MAX = 100_000
_SEEN = "jifen.market.accounts_seen"


def _remember(
    session: Session, key: tuple[uuid.UUID, str, str, str], account_id: uuid.UUID
) -> None:
    session.info.setdefault(_SEEN, {})[key] = account_id


@event.listens_for(Session, "after_commit")
def _keep_seen_accounts(session: Session) -> None:
    seen = session.info.pop(_SEEN, None)
    if seen:
        if len(_KNOWN_ACCOUNTS) + len(seen) > _KNOWN_MAX:
            _KNOWN_ACCOUNTS.clear()
        _KNOWN_ACCOUNTS.update(seen)


@event.listens_for(Session, "after_rollback")
def _forget_seen_accounts(session: Session) -> None:
    session.info.pop(_SEEN, None)


def _goods_accounts(session: Session, goods: Sequence[Goods]) -> dict[tuple[str, str], uuid.UUID]:
    """(asset, category) -> the goods' counterpart account, in one statement at most."""
    village_id = goods[0].village_id
    wanted = [(g.asset, c) for g in goods for c in GOODS_CATEGORIES]
    known = {
        (asset, c): _KNOWN_ACCOUNTS.get((village_id, AccountKind.GOODS.value, asset, c))
        for asset, c in wanted
    }
    if all(known.values()):
        return {k: v for k, v in known.items() if v is not None}
    rows = session.execute(
        select(Account.asset, Account.category, Account.id).where(
            Account.village_id == village_id,
            Account.kind == AccountKind.GOODS.value,
            Account.asset.in_([g.asset for g in goods]),
        )
    )
    found = {(row.asset, row.category): row.id for row in rows}
    for (asset, category), account_id in found.items():
        _remember(session, (village_id, AccountKind.GOODS.value, asset, category), account_id)
    return found


def village_account(
    session: Session,
    village_id: uuid.UUID,
    kind: AccountKind,
    asset: Asset,
    now: datetime,
    *,
    category: str = "main",
    name: str | None = None,
) -> uuid.UUID:
    """One of the village's own accounts; those the supermarket added open on first use."""
    key = (village_id, kind.value, asset.value, category)
    found = _KNOWN_ACCOUNTS.get(key)
    if found is not None:
        return found
    found = ledger.find_account_id(
        session, village_id=village_id, kind=kind, asset=asset, category=category
    )
    if found is None:  # opened in this transaction: remembered once it is found again
        return ledger.open_account(
            session,
            village_id=village_id,
            kind=kind,
            asset=asset,
            category=category,
            name=name,
            now=now,
        ).id
    _remember(session, key, found)
    return found


def move_stock(
    session: Session,
    *,
    goods_id: uuid.UUID,
    kind: str,
    quantity: int,
    amount_fen: int | None,
    donor: Donor | None,
    reason: str | None,
    note: str,
    actor: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> StockMovement:
    """Stock-in bought by the fund, a donation, or a counted adjustment: one entry."""
    goods = get_goods(session, goods_id)
    accounts = _goods_accounts(session, [goods])
    postings: list[ledger.PostingInput]
    details: dict[str, Any] = {"goods_id": str(goods.id), "goods": goods.name, "kind": kind}
    if kind == "purchase":
        assert amount_fen is not None
        postings = [
            ledger.PostingInput(accounts[(goods.asset, "purchase")], -quantity),
            ledger.PostingInput(goods.shelf_account_id, quantity),
            ledger.PostingInput(
                village_account(session, goods.village_id, AccountKind.FUND, Asset.CNY, clock.now),
                -amount_fen,
            ),
            ledger.PostingInput(
                village_account(
                    session, goods.village_id, AccountKind.PURCHASES, Asset.CNY, clock.now
                ),
                amount_fen,
            ),
        ]
        code = CODE_STOCK_PURCHASE
        details["cost_fen"] = amount_fen
    elif kind == "donation":
        assert donor is not None
        postings = [
            ledger.PostingInput(accounts[(goods.asset, "donation")], -quantity),
            ledger.PostingInput(goods.shelf_account_id, quantity),
        ]
        code = CODE_STOCK_DONATION
        details.update(value_fen=amount_fen, donor=donor.name, donor_kind=donor.kind)
    else:
        postings = [
            ledger.PostingInput(accounts[(goods.asset, "adjustment")], -quantity),
            ledger.PostingInput(goods.shelf_account_id, quantity),
        ]
        code = CODE_STOCK_ADJUSTMENT
        details["reason"] = reason
    view = ledger.book(
        session,
        village_id=goods.village_id,
        code=code,
        postings=postings,
        actor=actor,
        clock=clock,
        memo=f"{goods.name} {quantity:+d}{goods.unit}" + (f"：{note}" if note else ""),
        details=details,
        idempotency_key=idempotency_key,
    )
    if view.replayed:
        existing = session.execute(
            select(StockMovement).where(StockMovement.entry_id == view.entry.id)
        ).scalar_one()
        return existing
    movement = StockMovement(
        id=new_id(),
        township_id=goods.township_id,
        village_id=goods.village_id,
        goods_id=goods.id,
        kind=kind,
        quantity=quantity,
        amount_fen=amount_fen,
        donor_kind=donor.kind if donor else None,
        donor_id=donor.id if donor else None,
        donor_name=donor.name if donor else None,
        reason=reason,
        note=note,
        entry_id=view.entry.id,
        actor=actor,
        created_at=clock.now,
    )
    session.add(movement)
    session.flush()
    return movement


def donor_of(
    session: Session, village_id: uuid.UUID, kind: str, donor_id: uuid.UUID | None, name: str | None
) -> Donor:
    """The donor as recorded: a member or household of the village, an organisation of the
    township, or a named outsider."""
    village = get_village(session, village_id)
    if kind == "other":
        if not name:
            raise errors.BasketInvalid(
                "name the donor", detail_zh="请填写捐赠人姓名", field="donor.name"
            )
        return Donor(kind, None, name)
    if donor_id is None:
        raise errors.BasketInvalid(
            f"a {kind} donor needs its id",
            detail_zh=f"类型为 {kind} 的捐赠人须给出其 id",
            field="donor.id",
        )
    found: Member | Household | Organisation | None
    if kind == "member":
        found = session.get(Member, donor_id)
    elif kind == "household":
        found = session.get(Household, donor_id)
    else:
        found = session.get(Organisation, donor_id)
    if found is None or found.township_id != village.township_id:
        raise NotFound(kind, donor_id)
    if isinstance(found, Member | Household) and found.village_id != village_id:
        raise NotFound(kind, donor_id)
    return Donor(kind, donor_id, found.name)


def stock_movements(
    session: Session, village_id: uuid.UUID, *, goods_id: uuid.UUID | None = None
) -> list[StockMovement]:
    query = select(StockMovement).where(StockMovement.village_id == village_id)
    if goods_id is not None:
        query = query.where(StockMovement.goods_id == goods_id)
    return list(session.execute(query.order_by(StockMovement.created_at)).scalars())


# --- who pays ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Payer:
    """Whose points a sale takes: the member's, or their household's, as the charter says."""

    member: Member
    household: Household | None
    holder: Holder
    account_id: uuid.UUID | None

    @property
    def holder_id(self) -> uuid.UUID:
        if self.holder is Holder.HOUSEHOLD:
            assert self.household is not None
            return self.household.id
        return self.member.id


def points_holder(session: Session, village_id: uuid.UUID, on: date) -> Holder:
    """Who holds points on a day, as the charter in force says (a member by default)."""
    try:
        _ref, charter = charters.charter_in_force(session, village_id, on)
    except NoCharterInForce:
        return Holder.MEMBER
    return charter.document.settings.points_holder


def payer(session: Session, village_id: uuid.UUID, member_id: uuid.UUID, on: date) -> Payer:
    """The member, their household on the day, and the account the charter says pays."""
    found = session.execute(
        select(Member, Household)
        .outerjoin(
            HouseholdMembership,
            and_(
                HouseholdMembership.member_id == Member.id,
                HouseholdMembership.joined_on <= on,
                or_(HouseholdMembership.left_on.is_(None), HouseholdMembership.left_on > on),
            ),
        )
        .outerjoin(Household, Household.id == HouseholdMembership.household_id)
        .where(Member.id == member_id)
    ).first()
    if found is None or found[0].village_id != village_id:
        raise NotFound("member", member_id)
    member, household = found
    if member.deactivated_on is not None and member.deactivated_on < on:
        raise ledger_errors.MemberInactive(
            f"member {member_id} left the village's roll on {member.deactivated_on}",
            detail_zh=f"成员 {member_id} 已于 {member.deactivated_on} 从本村名册中移除",
            member_id=str(member_id),
            deactivated_on=member.deactivated_on.isoformat(),
        )
    holder = points_holder(session, village_id, on)
    if holder is Holder.HOUSEHOLD and household is None:
        raise errors.NoPointsAccount(
            f"points are held per household, and member {member_id} belongs to none",
            detail_zh=f"本村积分按户记账，而成员 {member_id} 不属于任何一户",
            member_id=str(member_id),
        )
    owner = household.id if holder is Holder.HOUSEHOLD and household else member.id
    account_id = ledger.find_account_id(
        session,
        village_id=village_id,
        kind=AccountKind.HOUSEHOLD if holder is Holder.HOUSEHOLD else AccountKind.MEMBER,
        owner_id=owner,
    )
    return Payer(member, household, holder, account_id)


# --- sales ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasketLine:
    goods_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class Priced:
    goods: Goods
    quantity: int

    @property
    def points(self) -> int:
        return self.goods.price_points * self.quantity


def price_basket(
    session: Session, village_id: uuid.UUID, lines: Sequence[BasketLine]
) -> list[Priced]:
    """The basket at today's prices; refuses unknown, inactive or repeated goods, naming
    the line."""
    if not lines:
        raise errors.BasketInvalid("the basket is empty", detail_zh="购物篮是空的", field="lines")
    if len(lines) > BASKET_LINES_MAX:
        raise errors.BasketInvalid(
            f"at most {BASKET_LINES_MAX} lines in one basket",
            detail_zh=f"一个购物篮最多 {BASKET_LINES_MAX} 行",
            field="lines",
        )
    found = {
        g.id: g
        for g in session.execute(
            select(Goods).where(Goods.id.in_({line.goods_id for line in lines}))
        ).scalars()
    }
    priced = []
    seen: set[uuid.UUID] = set()
    for index, line in enumerate(lines):
        goods = found.get(line.goods_id)
        if goods is None or goods.village_id != village_id:
            raise errors.GoodsNotInCatalog(
                f"line {index + 1}: goods {line.goods_id} is not in this village's catalog",
                detail_zh=f"第 {index + 1} 行：商品 {line.goods_id} 不在本村的商品目录中",
                line=index,
                goods_id=str(line.goods_id),
            )
        if line.goods_id in seen:
            raise errors.BasketInvalid(
                f"line {index + 1}: {goods.name} is in the basket twice; change its quantity",
                detail_zh=f"第 {index + 1} 行：{goods.name} 在购物篮中出现了两次；请改为修改数量",
                line=index,
                goods_id=str(goods.id),
                field="lines",
            )
        seen.add(line.goods_id)
        if not goods.active:
            raise errors.GoodsInactive(
                f"line {index + 1}: {goods.name} is no longer sold",
                detail_zh=f"第 {index + 1} 行：{goods.name} 已停止兑换",
                line=index,
                goods_id=str(goods.id),
                goods_name=goods.name,
            )
        priced.append(Priced(goods, line.quantity))
    return priced


def _stock_short(
    exc: ledger_errors.InsufficientStock, basket: Sequence[Priced]
) -> ledger_errors.InsufficientStock:
    for index, line in enumerate(basket):
        if str(line.goods.shelf_account_id) == exc.extra.get("account_id"):
            available = exc.extra.get("available_quantity", 0)
            return ledger_errors.InsufficientStock(
                f"{line.goods.name}库存不足：剩 {available}{line.goods.unit}，"
                f"要 {line.quantity}{line.goods.unit} / "
                f"line {index + 1}: {available} of {line.goods.name} on the shelf, "
                f"{line.quantity} requested",
                detail_zh=f"{line.goods.name}库存不足：剩 {available}{line.goods.unit}，"
                f"要 {line.quantity}{line.goods.unit}（第 {index + 1} 行）",
                line=index,
                goods_id=str(line.goods.id),
                goods_name=line.goods.name,
                available_quantity=available,
                requested_quantity=line.quantity,
            )
    return exc


def _points_short(exc: ledger_errors.InsufficientPoints, total: int) -> Exception:
    balance = exc.extra.get("balance_points", 0)
    if isinstance(balance, int) and balance < 0:
        return errors.BalanceInDebt(
            f"积分余额为 {balance}，需先挣回 / the balance is {balance} points",
            detail_zh=f"积分余额为 {balance}，需先挣回",
            balance_points=balance,
            requested_points=total,
        )
    return ledger_errors.InsufficientPoints(
        f"积分不足：可用 {balance} 分，需要 {total} 分 / {balance} points available, "
        f"{total} needed",
        detail_zh=f"积分不足：可用 {balance} 分，需要 {total} 分",
        balance_points=balance,
        requested_points=total,
    )


@dataclass(frozen=True)
class Sold:
    """A sale as booked, with what its receipt shows (read back only for a replay)."""

    sale: Sale
    lines: list[SaleLine]
    goods: dict[uuid.UUID, Goods]
    member_name: str
    balance_after: int
    replayed: bool = False


def sell(
    session: Session,
    *,
    village_id: uuid.UUID,
    member_id: uuid.UUID,
    lines: Sequence[BasketLine],
    expected_total_points: int | None,
    cashier: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> Sale:
    """Redeem a basket at the supermarket (see sell_receipt)."""
    return sell_receipt(
        session,
        village_id=village_id,
        member_id=member_id,
        lines=lines,
        expected_total_points=expected_total_points,
        cashier=cashier,
        clock=clock,
        idempotency_key=idempotency_key,
    ).sale


def sell_receipt(
    session: Session,
    *,
    village_id: uuid.UUID,
    member_id: uuid.UUID,
    lines: Sequence[BasketLine],
    expected_total_points: int | None,
    cashier: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> Sold:
    """Redeem a basket at the supermarket: one entry moving the points and the goods. A
    retry with the same idempotency key returns the first sale (`replayed`: only `sale` is
    set then; read its receipt back)."""
    if idempotency_key is not None:
        replay = _sale_by_key(session, village_id, cashier, idempotency_key)
        if replay is not None:
            _check_same_basket(session, replay, member_id, lines, idempotency_key)
            return Sold(replay, [], {}, "", 0, replayed=True)
    today = clock.local_date(clock.now)
    who = payer(session, village_id, member_id, today)
    basket = price_basket(session, village_id, lines)
    total = sum(line.points for line in basket)
    if expected_total_points is not None and expected_total_points != total:
        raise errors.PriceChanged(
            f"the basket costs {total} points now, not {expected_total_points}",
            detail_zh=f"购物篮现价 {total} 积分，而不是 {expected_total_points} 积分",
            total_points=total,
            expected_total_points=expected_total_points,
            lines=[
                {"goods_id": str(p.goods.id), "unit_points": p.goods.price_points} for p in basket
            ],
        )
    if who.account_id is None:
        raise errors.NoPointsAccount(
            f"{who.holder.value} {who.holder_id} has no points account yet",
            detail_zh=f"{who.holder.value} {who.holder_id} 还没有积分账户",
            holder_kind=who.holder.value,
            holder_id=str(who.holder_id),
        )
    supermarket = village_account(
        session, village_id, AccountKind.SUPERMARKET, Asset.POINTS, clock.now
    )
    accounts = _goods_accounts(session, [p.goods for p in basket])
    postings = [
        ledger.PostingInput(who.account_id, -total),
        ledger.PostingInput(supermarket, total),
    ]
    for p in basket:
        postings.append(ledger.PostingInput(p.goods.shelf_account_id, -p.quantity))
        postings.append(ledger.PostingInput(accounts[(p.goods.asset, "redemption")], p.quantity))
    try:
        view = ledger.book(
            session,
            village_id=village_id,
            code=CODE_SUPERMARKET_SALE,
            postings=postings,
            actor=cashier,
            clock=clock,
            memo="积分超市兑换：" + "、".join(f"{p.goods.name}×{p.quantity}" for p in basket),
            details={
                "member_id": str(member_id),
                "lines": [[p.goods.number, p.quantity, p.goods.price_points] for p in basket],
            },
            idempotency_key=idempotency_key,
        )
    except ledger_errors.InsufficientStock as exc:
        raise _stock_short(exc, basket) from None
    except ledger_errors.InsufficientPoints as exc:
        raise _points_short(exc, total) from None
    if view.replayed:
        return Sold(_sale_of_entry(session, view.entry.id), [], {}, "", 0, replayed=True)
    sale = Sale(
        id=new_id(),
        township_id=view.entry.township_id,
        village_id=village_id,
        entry_id=view.entry.id,
        seq=view.entry.seq,
        entry_hash=view.entry.hash,
        member_id=member_id,
        household_id=who.household.id if who.household else None,
        holder_kind=who.holder.value,
        holder_account_id=who.account_id,
        shop_id=None,
        total_points=total,
        amount_fen=None,
        settlement_id=None,
        cashier=cashier,
        created_at=clock.now,
    )
    session.add(sale)
    session.flush()
    sold = [
        SaleLine(
            sale_id=sale.id,
            position=position,
            goods_id=p.goods.id,
            quantity=p.quantity,
            unit_points=p.goods.price_points,
            points=p.points,
            refunded_quantity=0,
        )
        for position, p in enumerate(basket)
    ]
    session.add_all(sold)
    session.flush()
    after = next(p.balance_after for p in view.entry.postings if p.account_id == who.account_id)
    return Sold(sale, sold, {p.goods.id: p.goods for p in basket}, who.member.name, after)


def _check_same_basket(
    session: Session, sale: Sale, member_id: uuid.UUID, lines: Sequence[BasketLine], key: str
) -> None:
    """A key names one basket: the same key with another basket is refused, not answered
    with the first sale."""
    sold = [(line.goods_id, line.quantity) for line in sale_lines(session, [sale.id])[sale.id]]
    if sale.member_id != member_id or sold != [(b.goods_id, b.quantity) for b in lines]:
        raise IdempotencyKeyReused(
            f"key {key!r} sold another basket (receipt {sale.seq})",
            detail_zh=f"幂等键 {key!r} 已用于兑换另一个购物篮（小票 {sale.seq}）",
            sale_id=str(sale.id),
        )


def _sale_by_key(session: Session, village_id: uuid.UUID, actor: str, key: str) -> Sale | None:
    return session.execute(
        select(Sale)
        .join(Entry, Entry.id == Sale.entry_id)
        .where(
            Entry.village_id == village_id,
            Entry.actor == actor,
            Entry.idempotency_key == key,
        )
    ).scalar_one_or_none()


def _sale_of_entry(session: Session, entry_id: uuid.UUID) -> Sale:
    return session.execute(select(Sale).where(Sale.entry_id == entry_id)).scalar_one()


def get_sale(session: Session, sale_id: uuid.UUID) -> Sale:
    sale = session.get(Sale, sale_id)
    if sale is None:
        raise errors.SaleNotFound(
            f"sale {sale_id} does not exist",
            detail_zh=f"兑换单 {sale_id} 不存在",
            sale_id=str(sale_id),
        )
    return sale


def sale_lines(session: Session, sale_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[SaleLine]]:
    found: dict[uuid.UUID, list[SaleLine]] = {sale_id: [] for sale_id in sale_ids}
    rows = session.execute(
        select(SaleLine).where(SaleLine.sale_id.in_(sale_ids)).order_by(SaleLine.position)
    ).scalars()
    for line in rows:
        found[line.sale_id].append(line)
    return found


def goods_by_id(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Goods]:
    if not ids:
        return {}
    return {g.id: g for g in session.execute(select(Goods).where(Goods.id.in_(set(ids)))).scalars()}


def list_sales(
    session: Session,
    village_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    shop_id: uuid.UUID | None = None,
    allied: bool | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[Sale]:
    query = select(Sale).where(Sale.village_id == village_id)
    if since is not None:
        query = query.where(Sale.created_at >= since)
    if until is not None:
        query = query.where(Sale.created_at < until)
    if member_id is not None:
        query = query.where(Sale.member_id == member_id)
    if household_id is not None:
        query = query.where(Sale.household_id == household_id)
    if shop_id is not None:
        query = query.where(Sale.shop_id == shop_id)
    if allied is not None:
        query = query.where(Sale.shop_id.is_not(None) if allied else Sale.shop_id.is_(None))
    if before_seq is not None:
        query = query.where(Sale.seq < before_seq)
    return list(session.execute(query.order_by(Sale.seq.desc()).limit(limit)).scalars())


# --- refunds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundRequestLine:
    position: int
    quantity: int


def refund(
    session: Session,
    *,
    sale_id: uuid.UUID,
    lines: Sequence[RefundRequestLine] | None,
    reason: str,
    actor: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> Refund:
    """Goods back on the shelf and points back to whom they came from, for the whole
    receipt (lines None: everything not yet refunded) or some of its lines. Never more
    than was sold, per line, across refunds: each line's counter moves with a guarded
    UPDATE in the refund's transaction."""
    sale = get_sale(session, sale_id)
    if sale.shop_id is not None:
        raise errors.BasketInvalid(
            "an allied shop's redemption is not refunded at the supermarket",
            detail_zh="联盟商家的兑换不在积分超市退货",
            field="sale_id",
        )
    if idempotency_key is not None:
        replay = refund_by_key(session, sale.village_id, actor, idempotency_key)
        if replay is not None:
            return replay
    writer.lock_books(session, sale.village_id)
    sold = {line.position: line for line in sale_lines(session, [sale.id])[sale.id]}
    for line in sold.values():
        session.refresh(line)
    if lines is None:
        wanted = [
            RefundRequestLine(position, line.quantity - line.refunded_quantity)
            for position, line in sold.items()
            if line.quantity > line.refunded_quantity
        ]
        if not wanted:
            raise errors.RefundExceedsSale(
                f"receipt {sale.seq} is already refunded in full",
                detail_zh=f"小票 {sale.seq} 已全部退货",
                sale_id=str(sale.id),
            )
    else:
        wanted = list(lines)
        if not wanted:
            raise errors.BasketInvalid(
                "name at least one line to refund", detail_zh="请至少指明一行要退货", field="lines"
            )
    positions = [w.position for w in wanted]
    if len(set(positions)) != len(positions):
        raise errors.BasketInvalid(
            "a line is named twice", detail_zh="有一行被指明了两次", field="lines"
        )
    goods = goods_by_id(session, [line.goods_id for line in sold.values()])
    for index, want in enumerate(wanted):
        asked = sold.get(want.position)
        if asked is None:
            raise errors.BasketInvalid(
                f"receipt {sale.seq} has no line {want.position}",
                detail_zh=f"小票 {sale.seq} 没有第 {want.position} 行",
                field=f"lines[{index}]",
            )
        left = asked.quantity - asked.refunded_quantity
        if want.quantity > left:
            raise errors.RefundExceedsSale(
                f"{goods[asked.goods_id].name}: {left} left to refund, {want.quantity} asked",
                detail_zh=f"{goods[asked.goods_id].name}：还可退 {left}，申请退 {want.quantity}",
                position=want.position,
                goods_id=str(asked.goods_id),
                refundable_quantity=left,
                requested_quantity=want.quantity,
            )
    picked = [(sold[w.position], w.quantity) for w in wanted]
    points = sum(line.unit_points * quantity for line, quantity in picked)
    accounts = _goods_accounts(session, [goods[line.goods_id] for line, _ in picked])
    supermarket = village_account(
        session, sale.village_id, AccountKind.SUPERMARKET, Asset.POINTS, clock.now
    )
    postings = [
        ledger.PostingInput(supermarket, -points),
        ledger.PostingInput(sale.holder_account_id, points),
    ]
    for line, quantity in picked:
        g = goods[line.goods_id]
        postings.append(ledger.PostingInput(accounts[(g.asset, "redemption")], -quantity))
        postings.append(ledger.PostingInput(g.shelf_account_id, quantity))
    view = ledger.book(
        session,
        village_id=sale.village_id,
        code=CODE_SUPERMARKET_REFUND,
        postings=postings,
        actor=actor,
        clock=clock,
        memo=f"退货（小票 {sale.seq}）："
        + "、".join(f"{goods[line.goods_id].name}×{quantity}" for line, quantity in picked),
        details={
            "sale_id": str(sale.id),
            "refund_of": str(sale.entry_id),
            "lines": [[line.position, quantity] for line, quantity in picked],
            "reason": reason,
        },
        idempotency_key=idempotency_key,
    )
    if view.replayed:
        return session.execute(select(Refund).where(Refund.entry_id == view.entry.id)).scalar_one()
    for line, quantity in picked:
        moved = session.execute(
            update(SaleLine)
            .where(
                and_(
                    SaleLine.sale_id == line.sale_id,
                    SaleLine.position == line.position,
                    SaleLine.refunded_quantity + quantity <= SaleLine.quantity,
                )
            )
            .values(refunded_quantity=SaleLine.refunded_quantity + quantity)
            .execution_options(synchronize_session=False)
        )
        session.expire(line)  # its refunded quantity moved in the database
        # A concurrent refund took it first: refuse, and the whole unit is undone.
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise errors.RefundExceedsSale(
                f"line {line.position} was refunded meanwhile",
                detail_zh=f"第 {line.position} 行已在此期间被退货",
                position=line.position,
            )
    row = Refund(
        id=new_id(),
        township_id=sale.township_id,
        village_id=sale.village_id,
        sale_id=sale.id,
        entry_id=view.entry.id,
        seq=view.entry.seq,
        entry_hash=view.entry.hash,
        points=points,
        reason=reason,
        actor=actor,
        created_at=clock.now,
    )
    session.add(row)
    session.flush()
    session.add_all(
        RefundLine(
            refund_id=row.id,
            position=line.position,
            goods_id=line.goods_id,
            quantity=quantity,
            points=line.unit_points * quantity,
        )
        for line, quantity in picked
    )
    session.flush()
    return row


def refund_by_key(session: Session, village_id: uuid.UUID, actor: str, key: str) -> Refund | None:
    """The refund this actor booked with this key, if any (a till checks before it asks)."""
    return session.execute(
        select(Refund)
        .join(Entry, Entry.id == Refund.entry_id)
        .where(Entry.village_id == village_id, Entry.actor == actor, Entry.idempotency_key == key)
    ).scalar_one_or_none()


def refunds_of(session: Session, sale_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Refund]]:
    found: dict[uuid.UUID, list[Refund]] = {sale_id: [] for sale_id in sale_ids}
    for row in session.execute(
        select(Refund).where(Refund.sale_id.in_(sale_ids)).order_by(Refund.seq)
    ).scalars():
        found[row.sale_id].append(row)
    return found
