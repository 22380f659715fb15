"""Plain factory functions for tests: make_x(session, **overrides)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from jifen.config import Settings
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.market import service as market
from jifen.models import (
    Account,
    Goods,
    Household,
    Member,
    Organisation,
    Sale,
    Township,
    Village,
)
from jifen.tenancy import service as tenancy

_counter = itertools.count(1)


def clock(settings: Settings, now: datetime | None = None) -> ledger.Clock:
    return ledger.Clock(now=now or utc_now(), settings=settings)


def make_township(session: Session, **overrides: object) -> Township:
    n = next(_counter)
    fields: dict[str, object] = {"code": f"town{n}", "name": f"测试镇{n}", "now": utc_now()}
    fields.update(overrides)
    return tenancy.create_township(session, **fields)  # type: ignore[arg-type]


def make_village(
    session: Session, township: Township | None = None, **overrides: object
) -> Village:
    township = township or make_township(session)
    n = next(_counter)
    fields: dict[str, object] = {
        "township_id": township.id,
        "code": f"village{n}",
        "name": f"测试村{n}",
        "now": utc_now(),
    }
    fields.update(overrides)
    return tenancy.create_village(session, **fields)  # type: ignore[arg-type]


def make_household(session: Session, village: Village, **overrides: object) -> Household:
    n = next(_counter)
    fields: dict[str, object] = {
        "village_id": village.id,
        "number": f"{n}",
        "name": f"测试户{n}",
        "now": utc_now(),
    }
    fields.update(overrides)
    return tenancy.create_household(session, **fields)  # type: ignore[arg-type]


def make_member(session: Session, village: Village, **overrides: object) -> Member:
    n = next(_counter)
    fields: dict[str, object] = {
        "village_id": village.id,
        "name": f"村民{n}",
        "now": utc_now(),
        "today": date.today(),
    }
    fields.update(overrides)
    return tenancy.create_member(session, **fields)  # type: ignore[arg-type]


def make_organisation(
    session: Session, township_id: uuid.UUID, **overrides: object
) -> Organisation:
    n = next(_counter)
    fields: dict[str, object] = {
        "township_id": township_id,
        "name": f"联盟商家{n}",
        "kind": "shop",
        "now": utc_now(),
    }
    fields.update(overrides)
    return tenancy.create_organisation(session, **fields)  # type: ignore[arg-type]


def account_of(
    session: Session,
    village: Village,
    kind: AccountKind,
    owner_id: uuid.UUID | None = None,
    *,
    asset: Asset = Asset.POINTS,
    category: str | None = None,
) -> Account:
    if category is None:
        category = "general" if kind is AccountKind.ISSUANCE else "main"
    account = ledger.find_account(
        session, village_id=village.id, kind=kind, owner_id=owner_id, asset=asset, category=category
    )
    assert account is not None
    return account


def award(
    session: Session,
    settings: Settings,
    village: Village,
    account: Account,
    points: int,
    **kwargs: object,
) -> ledger.EntryView:
    """Issue points to an account from the village's general issuance account."""
    issuance = account_of(session, village, AccountKind.ISSUANCE)
    return ledger.book(
        session,
        village_id=village.id,
        code=str(kwargs.pop("code", "labor_award")),
        postings=[
            ledger.PostingInput(issuance.id, -points),
            ledger.PostingInput(account.id, points),
        ],
        actor="test",
        clock=kwargs.pop("clock", None) or clock(settings),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def make_goods(
    session: Session, settings: Settings, village: Village, *, stock: int = 0, **overrides: object
) -> Goods:
    """A good in the village's catalog, with `stock` units donated onto its shelf."""
    n = next(_counter)
    fields: dict[str, object] = {
        "name": f"商品{n}",
        "unit": "件",
        "category": "日用品",
        "price_points": 10,
    }
    fields.update(overrides)
    goods = market.create_goods(
        session,
        village_id=village.id,
        spec=market.GoodsInput(**fields),  # type: ignore[arg-type]
        actor="test",
        clock=clock(settings),
    )
    if stock:
        market.move_stock(
            session,
            goods_id=goods.id,
            kind="donation",
            quantity=stock,
            amount_fen=0,
            donor=market.Donor("other", None, "测试捐赠"),
            reason=None,
            note="",
            actor="test",
            clock=clock(settings),
            idempotency_key=None,
        )
    return goods


def make_sale(
    session: Session, settings: Settings, village: Village, member: Member, goods: Goods
) -> Sale:
    """One unit of `goods` redeemed by `member`, who is given the points first."""
    account = account_of(session, village, AccountKind.MEMBER, member.id)
    award(session, settings, village, account, goods.price_points)
    return market.sell(
        session,
        village_id=village.id,
        member_id=member.id,
        lines=[market.BasketLine(goods.id, 1)],
        expected_total_points=None,
        cashier="test",
        clock=clock(settings),
        idempotency_key=None,
    )
