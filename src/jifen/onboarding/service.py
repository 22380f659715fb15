"""Planning and applying a sheet import: what exists is found, what does not is created,
and each holder's opening balance is booked once (see the package docstring)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.kit.ids import new_id
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import AuditEvent, Entry, Household, HouseholdMembership, Member, Village
from jifen.onboarding.sheet import Refusal, Row, Sheet
from jifen.tenancy import service as tenancy

Holder = Literal["household", "member"]
ENTRY_CODE = "opening_balance"
# The actor of every opening entry: with the holder's key, one opening per holder ever.
ACTOR = "sheet-import"
MERIT_CATEGORY = "merit"  # the merit track's accounts (as jifen.records keeps them)


@dataclass(frozen=True)
class Opening:
    row: int
    holder: str  # what a person reads: 户号 001 张三 / 张三 (户号 001)
    key: str
    points: int
    merit: int
    household: str
    member: str | None


@dataclass
class Plan:
    """What an import would do. `refusals` non-empty: it does nothing."""

    sheet: Sheet
    village_id: uuid.UUID
    holder: Holder
    households_new: list[Row] = field(default_factory=list)
    members_new: list[Row] = field(default_factory=list)
    openings_new: list[Opening] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.households_new or self.members_new or self.openings_new)

    def lines(self) -> list[str]:
        """The plan as a person reads it (names and numbers of the village's own sheet)."""
        out = [
            f"sheet {self.sheet.filename} sha256 {self.sheet.sha256}: "
            f"{len(self.sheet.rows)} rows read, {len(self.refusals)} refused; "
            f"balances held per {self.holder}"
        ]
        out += [
            f"new household 户号 {r.household} {r.head} (row {r.number})"
            for r in self.households_new
        ]
        out += [
            f"new member {r.name} of 户号 {r.household}"
            + (" (户主)" if r.name == r.head else "")
            + f" (row {r.number})"
            for r in self.members_new
        ]
        out += [
            f"new opening {o.holder}: 积分余额 {o.points}, 累计积分 {o.merit} (row {o.row})"
            for o in self.openings_new
        ]
        out += [f"already there: {what}" for what in self.already]
        out += [f"row {r.number} refused: {r.reason}" for r in self.refusals]
        return out


def plan(session: Session, *, sheet: Sheet, village_id: uuid.UUID, holder: Holder) -> Plan:
    """What importing `sheet` into the village would create, and what it cannot read."""
    tenancy.get_village(session, village_id)
    result = Plan(sheet=sheet, village_id=village_id, holder=holder)
    result.refusals.extend(sheet.refusals)
    refused: set[int] = set()
    households: dict[str, Household | None] = {}
    balance_rows: dict[str, int] = {}
    for row in sheet.rows:
        if row.household not in households:
            households[row.household] = _household(session, village_id, row.household)
            found = households[row.household]
            if found is None:
                result.households_new.append(row)
            elif found.name != row.head:
                result.refusals.append(
                    Refusal(
                        row.number,
                        f"户号 {row.household} 在系统中的户主是 {found.name}，不是 {row.head} "
                        f"(户号 {row.household} is {found.name}'s in jifen, not {row.head}'s)",
                    )
                )
                refused.add(row.number)
                continue
            else:
                result.already.append(f"household 户号 {row.household} {found.name}")
        existing = households[row.household]
        if existing is not None and existing.name != row.head:
            refused.add(row.number)
            continue
        member = _member(session, existing, row.name) if existing is not None else None
        if member is None:
            result.members_new.append(row)
        else:
            result.already.append(f"member {row.name} of 户号 {row.household}")
        has_balance = bool(row.points) or bool(row.merit)
        if holder == "household":
            if row.points is not None or row.merit is not None:
                if row.household in balance_rows:
                    first = balance_rows[row.household]
                    result.refusals.append(
                        Refusal(
                            row.number,
                            f"户号 {row.household} 的余额已在第 {first} 行，一户只有一个余额 "
                            f"(the household's balances are on row {first} already)",
                        )
                    )
                    refused.add(row.number)
                    continue
                balance_rows[row.household] = row.number
            label = f"户号 {row.household} {row.head}"
            key = f"opening:household:{row.household}"
        else:
            label = f"{row.name} (户号 {row.household})"
            key = f"opening:member:{row.household}:{row.name}"
        if not has_balance:
            continue
        opening = Opening(
            row=row.number,
            holder=label,
            key=key,
            points=row.points or 0,
            merit=row.merit or 0,
            household=row.household,
            member=row.name if holder == "member" else None,
        )
        booked = _opening_entry(session, village_id, key)
        if booked is None:
            result.openings_new.append(opening)
            continue
        details = booked.details or {}
        if (details.get("points"), details.get("merit")) == (opening.points, opening.merit):
            result.already.append(f"opening {label} (entry {booked.id})")
        else:
            result.refusals.append(
                Refusal(
                    row.number,
                    f"{label} 已开账：积分余额 {details.get('points')}，"
                    f"累计积分 {details.get('merit')} (opened already, from sheet "
                    f"{details.get('sheet_sha256')} row {details.get('row')}, entry {booked.id})",
                )
            )
    result.refusals.sort(key=lambda r: r.number)
    return result


def apply(
    session: Session,
    plan_: Plan,
    *,
    clock: ledger.Clock,
    operator: str,
    today: date,
) -> Plan:
    """Carry out a plan with no refusals, in the caller's transaction."""
    if plan_.refusals:
        raise ValueError("a plan with refused rows is not applied")
    village = tenancy.get_village(session, plan_.village_id)
    now = clock.now
    households: dict[str, Household] = {}
    for row in plan_.households_new:
        households[row.household] = tenancy.create_household(
            session, village_id=village.id, number=row.household, name=row.head, now=now
        )
    for row in plan_.members_new:
        household = households.get(row.household) or _household(session, village.id, row.household)
        assert household is not None
        tenancy.create_member(
            session,
            village_id=village.id,
            name=row.name,
            phone=row.phone,
            household_id=household.id,
            is_head=row.name == row.head,
            now=now,
            today=today,
        )
    for opening in plan_.openings_new:
        _book_opening(session, plan_, village, opening, clock)
    if not plan_.is_empty:
        session.add(
            AuditEvent(
                id=new_id(),
                at=now,
                principal_id=None,
                principal_name=f"jifen import-sheet ({operator})"[:200],
                action="import_sheet",
                method="CLI",
                path="jifen import-sheet",
                status_code=201,
                township_id=village.township_id,
                village_id=village.id,
                target={
                    "sheet_sha256": plan_.sheet.sha256,
                    "sheet_filename": plan_.sheet.filename,
                    "holder": plan_.holder,
                    "households_created": len(plan_.households_new),
                    "members_created": len(plan_.members_new),
                    "openings_booked": len(plan_.openings_new),
                },
            )
        )
        session.flush()
    return plan_


def _book_opening(
    session: Session, plan_: Plan, village: Village, opening: Opening, clock: ledger.Clock
) -> None:
    household = _household(session, village.id, opening.household)
    assert household is not None
    if plan_.holder == "household":
        kind, owner_id = AccountKind.HOUSEHOLD, household.id
    else:
        member = _member(session, household, opening.member or "")
        assert member is not None
        kind, owner_id = AccountKind.MEMBER, member.id
    postings: list[ledger.PostingInput] = []
    for amount, category, source in (
        (opening.points, "main", "general"),
        (opening.merit, MERIT_CATEGORY, MERIT_CATEGORY),
    ):
        if amount == 0:
            continue
        postings += [
            ledger.PostingInput(_account(session, village, source, clock), -amount),
            ledger.PostingInput(
                _account(session, village, category, clock, kind, owner_id), amount
            ),
        ]
    ledger.book(
        session,
        village_id=village.id,
        code=ENTRY_CODE,
        postings=postings,
        actor=ACTOR,
        clock=clock,
        memo=f"开账：纸质台账结转 {plan_.sheet.filename} 第{opening.row}行 "
        "(opening balance carried over from the paper ledger)"[:500],
        details={
            "source": "sheet",
            "sheet_sha256": plan_.sheet.sha256,
            "sheet_filename": plan_.sheet.filename,
            "row": opening.row,
            "holder": plan_.holder,
            "household_number": opening.household,
            "points": opening.points,
            "merit": opening.merit,
        },
        idempotency_key=opening.key,
    )


def _account(
    session: Session,
    village: Village,
    category: str,
    clock: ledger.Clock,
    kind: AccountKind = AccountKind.ISSUANCE,
    owner_id: uuid.UUID | None = None,
) -> uuid.UUID:
    found = ledger.find_account_id(
        session, village_id=village.id, kind=kind, owner_id=owner_id, category=category
    )
    if found is not None:
        return found
    # Merit accounts open on first use, as jifen.records opens them.
    return ledger.open_account(
        session,
        village_id=village.id,
        kind=kind,
        asset=Asset.POINTS,
        category=category,
        member_id=owner_id if kind is AccountKind.MEMBER else None,
        household_id=owner_id if kind is AccountKind.HOUSEHOLD else None,
        name="荣誉积分发放" if kind is AccountKind.ISSUANCE else None,
        now=clock.now,
    ).id


def _household(session: Session, village_id: uuid.UUID, number: str) -> Household | None:
    return session.execute(
        select(Household).where(Household.village_id == village_id, Household.number == number)
    ).scalar_one_or_none()


def _member(session: Session, household: Household | None, name: str) -> Member | None:
    if household is None:
        return None
    found: Iterable[Member] = session.execute(
        select(Member)
        .join(HouseholdMembership, HouseholdMembership.member_id == Member.id)
        .where(
            HouseholdMembership.household_id == household.id,
            HouseholdMembership.left_on.is_(None),
            Member.name == name,
        )
    ).scalars()
    return next(iter(found), None)


def _opening_entry(session: Session, village_id: uuid.UUID, key: str) -> Entry | None:
    return session.execute(
        select(Entry).where(
            Entry.village_id == village_id, Entry.actor == ACTOR, Entry.idempotency_key == key
        )
    ).scalar_one_or_none()


def find_village(session: Session, village: str, township: str | None) -> list[Village]:
    """Villages named by id or code (within a township named by id or code)."""
    from jifen.models import Township

    query = select(Village).join(Township, Township.id == Village.township_id)
    rows = session.execute(query.order_by(Village.code)).scalars().all()
    towns = {t.id: t for t in session.execute(select(Township)).scalars()}
    return [
        v
        for v in rows
        if village in (v.code, str(v.id))
        and township in (None, towns[v.township_id].code, str(v.township_id))
    ]
