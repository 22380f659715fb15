"""Tenancy services. They flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.kit.clock import as_utc
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import (
    Household,
    HouseholdMembership,
    Member,
    Organisation,
    Township,
    Village,
)
from jifen.problems import AlreadyExists, NotFound
from jifen.tenancy import errors, policy

Model = TypeVar("Model", Township, Village, Household, Member, Organisation)

CODE_HOUSEHOLD_SPLIT = "household_split_transfer"


def _get(session: Session, model: type[Model], resource: str, row_id: uuid.UUID) -> Model:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(resource, row_id)
    return row


def _insert_unique(session: Session, row: Any, what: str, what_zh: str) -> None:
    """Add a row whose natural key must be unique; a clash is a clear 409."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise AlreadyExists(f"{what} already exists", detail_zh=f"{what_zh}已存在") from exc


def _page(session: Session, query: Any, model: Any, limit: int, cursor: str | None) -> Page[Any]:
    return page_by_id(session, query, model, limit, cursor)


# --- townships and villages ------------------------------------------------------------


def create_township(session: Session, *, code: str, name: str, now: datetime) -> Township:
    township = Township(id=new_id(), code=code, name=name, created_at=now)
    _insert_unique(session, township, f"township {code!r}", f"乡镇 {code!r} ")
    return township


def get_township(session: Session, township_id: uuid.UUID) -> Township:
    return _get(session, Township, "township", township_id)


def list_townships(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    only: Collection[uuid.UUID] | None = None,
) -> Page[Township]:
    """`only` narrows the list to these townships (what the caller may see)."""
    query = select(Township)
    if only is not None:
        query = query.where(Township.id.in_(list(only)))
    return _page(session, query, Township, limit, cursor)


def update_township(session: Session, township_id: uuid.UUID, *, name: str | None) -> Township:
    township = get_township(session, township_id)
    if name is not None:
        township.name = name
    session.flush()
    return township


def create_village(
    session: Session,
    *,
    township_id: uuid.UUID,
    code: str,
    name: str,
    allow_below_floor_codes: Sequence[str] = (),
    now: datetime,
) -> Village:
    get_township(session, township_id)
    village = Village(
        id=new_id(),
        township_id=township_id,
        code=code,
        name=name,
        allow_below_floor_codes=list(allow_below_floor_codes),
        created_at=now,
    )
    _insert_unique(session, village, f"village {code!r} in this township", f"本乡镇的村 {code!r} ")
    ledger.open_books(session, village=village, now=now)
    return village


def get_village(session: Session, village_id: uuid.UUID) -> Village:
    return _get(session, Village, "village", village_id)


def list_villages(
    session: Session,
    *,
    township_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
    only_townships: Collection[uuid.UUID] | None = None,
    only: Collection[uuid.UUID] | None = None,
) -> Page[Village]:
    """`only_townships` and `only` narrow the list to what the caller may see."""
    query = select(Village)
    if township_id is not None:
        query = query.where(Village.township_id == township_id)
    if only_townships is not None or only is not None:
        query = query.where(
            or_(
                Village.township_id.in_(list(only_townships or ())),
                Village.id.in_(list(only or ())),
            )
        )
    return _page(session, query, Village, limit, cursor)


def update_village(
    session: Session,
    village_id: uuid.UUID,
    *,
    name: str | None = None,
    allow_below_floor_codes: Sequence[str] | None = None,
    region: str | None = None,
    set_region: bool = False,
) -> Village:
    """`set_region` sets the region (片区) to `region`, None taking the village out of one."""
    village = get_village(session, village_id)
    if name is not None:
        village.name = name
    if allow_below_floor_codes is not None:
        village.allow_below_floor_codes = list(allow_below_floor_codes)
    if set_region:
        village.region = region
    session.flush()
    return village


# --- households and members ------------------------------------------------------------


def create_household(
    session: Session,
    *,
    village_id: uuid.UUID,
    number: str,
    name: str,
    now: datetime,
    split_from_household_id: uuid.UUID | None = None,
) -> Household:
    village = get_village(session, village_id)
    household = Household(
        id=new_id(),
        township_id=village.township_id,
        village_id=village.id,
        number=number,
        name=name,
        split_from_household_id=split_from_household_id,
        created_at=now,
    )
    _insert_unique(
        session,
        household,
        f"household number {number!r} in this village",
        f"本村的户号 {number!r} ",
    )
    ledger.open_account(
        session,
        village_id=village.id,
        kind=AccountKind.HOUSEHOLD,
        household_id=household.id,
        now=now,
    )
    return household


def get_household(session: Session, household_id: uuid.UUID) -> Household:
    return _get(session, Household, "household", household_id)


def list_households(
    session: Session, *, village_id: uuid.UUID | None, limit: int, cursor: str | None
) -> Page[Household]:
    query = select(Household)
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    return _page(session, query, Household, limit, cursor)


def create_member(
    session: Session,
    *,
    village_id: uuid.UUID,
    name: str,
    phone: str | None = None,
    id_number_tail: str | None = None,
    household_id: uuid.UUID | None = None,
    joined_on: date | None = None,
    is_head: bool = False,
    now: datetime,
    today: date,
) -> Member:
    village = get_village(session, village_id)
    member = Member(
        id=new_id(),
        township_id=village.township_id,
        village_id=village.id,
        name=name,
        phone=phone,
        id_number_tail=id_number_tail,
        created_at=now,
    )
    session.add(member)
    session.flush()
    ledger.open_account(
        session, village_id=village.id, kind=AccountKind.MEMBER, member_id=member.id, now=now
    )
    if household_id is not None:
        _join(
            session, member, get_household(session, household_id), joined_on or today, is_head, now
        )
    return member


def get_member(session: Session, member_id: uuid.UUID) -> Member:
    return _get(session, Member, "member", member_id)


def list_members(
    session: Session,
    *,
    village_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Member]:
    query = select(Member)
    if village_id is not None:
        query = query.where(Member.village_id == village_id)
    if household_id is not None:
        query = query.where(
            Member.id.in_(
                select(HouseholdMembership.member_id).where(
                    HouseholdMembership.household_id == household_id,
                    HouseholdMembership.left_on.is_(None),
                )
            )
        )
    return _page(session, query, Member, limit, cursor)


def update_member(
    session: Session, member_id: uuid.UUID, *, name: str | None, phone: str | None
) -> Member:
    member = get_member(session, member_id)
    if name is not None:
        member.name = name
    if phone is not None:
        member.phone = phone
    session.flush()
    return member


def current_membership(session: Session, member_id: uuid.UUID) -> HouseholdMembership | None:
    return session.execute(
        select(HouseholdMembership).where(
            HouseholdMembership.member_id == member_id, HouseholdMembership.left_on.is_(None)
        )
    ).scalar_one_or_none()


def memberships(session: Session, member_id: uuid.UUID) -> list[HouseholdMembership]:
    return list(
        session.execute(
            select(HouseholdMembership)
            .where(HouseholdMembership.member_id == member_id)
            .order_by(HouseholdMembership.joined_on, HouseholdMembership.created_at)
        ).scalars()
    )


def household_members(session: Session, household_id: uuid.UUID) -> list[HouseholdMembership]:
    return list(
        session.execute(
            select(HouseholdMembership)
            .where(
                HouseholdMembership.household_id == household_id,
                HouseholdMembership.left_on.is_(None),
            )
            .order_by(HouseholdMembership.joined_on)
        ).scalars()
    )


def _join(
    session: Session, member: Member, household: Household, on: date, is_head: bool, now: datetime
) -> HouseholdMembership:
    if household.village_id != member.village_id:
        raise errors.OtherVillage(
            f"member {member.id} and household {household.id} are in different villages",
            detail_zh=f"村民 {member.id} 与户 {household.id} 不在同一个村",
        )
    if member.deactivated_on is not None:
        raise ledger_errors.MemberInactive(
            f"member {member.id} was deactivated on {member.deactivated_on}",
            detail_zh=f"村民 {member.id} 已于 {member.deactivated_on} 注销",
            deactivated_on=member.deactivated_on.isoformat(),
        )
    current = current_membership(session, member.id)
    if current is not None:
        if on < current.joined_on:
            raise errors.InvalidDate(
                f"{on} is before the member joined their current household ({current.joined_on})",
                detail_zh=f"{on} 早于该村民加入现在所在户的日期（{current.joined_on}）",
            )
        current.left_on = on
    membership = HouseholdMembership(
        id=new_id(),
        township_id=member.township_id,
        village_id=member.village_id,
        household_id=household.id,
        member_id=member.id,
        joined_on=on,
        is_head=is_head,
        created_at=now,
    )
    session.add(membership)
    session.flush()
    return membership


def move_member(
    session: Session,
    member_id: uuid.UUID,
    *,
    household_id: uuid.UUID,
    on: date,
    is_head: bool,
    now: datetime,
) -> HouseholdMembership:
    """The member leaves their household (if any) and joins another on date `on`."""
    return _join(
        session,
        get_member(session, member_id),
        get_household(session, household_id),
        on,
        is_head,
        now,
    )


def leave_household(session: Session, member_id: uuid.UUID, *, on: date) -> HouseholdMembership:
    """The member leaves their household on `on` and belongs to none (still a resident)."""
    current = current_membership(session, get_member(session, member_id).id)
    if current is None:
        raise errors.MemberNotInHousehold(
            f"member {member_id} belongs to no household",
            detail_zh=f"村民 {member_id} 不属于任何户",
        )
    if on < current.joined_on:
        raise errors.InvalidDate(
            f"{on} is before the member joined ({current.joined_on})",
            detail_zh=f"{on} 早于该村民入户的日期（{current.joined_on}）",
        )
    current.left_on = on
    session.flush()
    return current


def deactivate_member(session: Session, member_id: uuid.UUID, *, on: date, reason: str) -> Member:
    """From the day after `on`, nothing more may be booked to the member's accounts."""
    member = get_member(session, member_id)
    if member.deactivated_on is not None:
        raise errors.MemberAlreadyDeactivated(
            f"member {member_id} was deactivated on {member.deactivated_on}",
            detail_zh=f"村民 {member_id} 已于 {member.deactivated_on} 注销",
            deactivated_on=member.deactivated_on.isoformat(),
        )
    current = current_membership(session, member.id)
    if current is not None:
        if on < current.joined_on:
            raise errors.InvalidDate(
                f"{on} is before the member joined ({current.joined_on})",
                detail_zh=f"{on} 早于该村民入户的日期（{current.joined_on}）",
            )
        current.left_on = on + timedelta(days=1)
    member.deactivated_on = on
    member.deactivation_reason = reason
    session.flush()
    return member


@dataclass(frozen=True)
class Split:
    household: Household
    moved: list[HouseholdMembership]
    transfer: ledger.EntryView | None


def split_household(
    session: Session,
    household_id: uuid.UUID,
    *,
    number: str,
    name: str,
    member_ids: Sequence[uuid.UUID],
    head_member_id: uuid.UUID | None,
    on: date,
    transfer_points: int,
    actor: str,
    clock: ledger.Clock,
) -> Split:
    """分户: a new household takes some members; points move only by the explicit
    transfer booked here (none when transfer_points is 0)."""
    old = get_household(session, household_id)
    current = {m.member_id for m in household_members(session, old.id)}
    for member_id in member_ids:
        if member_id not in current:
            raise errors.MemberNotInHousehold(
                f"member {member_id} is not a current member of household {household_id}",
                detail_zh=f"村民 {member_id} 目前不是户 {household_id} 的成员",
                member_id=str(member_id),
            )
    if head_member_id is not None and head_member_id not in member_ids:
        raise errors.MemberNotInHousehold(
            "the new head must be one of the members who move",
            detail_zh="新户主必须是迁出的成员之一",
        )
    new = create_household(
        session,
        village_id=old.village_id,
        number=number,
        name=name,
        now=clock.now,
        split_from_household_id=old.id,
    )
    moved = [
        _join(
            session, get_member(session, member_id), new, on, member_id == head_member_id, clock.now
        )
        for member_id in member_ids
    ]
    transfer = None
    if transfer_points:
        source = ledger.find_account(
            session, village_id=old.village_id, kind=AccountKind.HOUSEHOLD, owner_id=old.id
        )
        target = ledger.find_account(
            session, village_id=new.village_id, kind=AccountKind.HOUSEHOLD, owner_id=new.id
        )
        assert source is not None and target is not None  # opened with the households
        transfer = ledger.book(
            session,
            village_id=old.village_id,
            code=CODE_HOUSEHOLD_SPLIT,
            postings=[
                ledger.PostingInput(source.id, -transfer_points),
                ledger.PostingInput(target.id, transfer_points),
            ],
            actor=actor,
            clock=clock,
            memo=f"分户: {old.name} → {new.name}",
            details={
                "from_household_id": str(old.id),
                "to_household_id": str(new.id),
                "split_on": on.isoformat(),
            },
            # The agreed transfer counts from the split's day (the start of that day in
            # the villages' time zone), not from the day the clerk entered it.
            occurred_at=min(
                as_utc(datetime.combine(on, time.min, tzinfo=clock.settings.zone)), clock.now
            ),
        )
    return Split(new, moved, transfer)


# --- organisations ---------------------------------------------------------------------


def create_organisation(
    session: Session, *, township_id: uuid.UUID, name: str, kind: str, now: datetime
) -> Organisation:
    get_township(session, township_id)
    organisation = Organisation(
        id=new_id(), township_id=township_id, name=name, kind=kind, created_at=now
    )
    _insert_unique(
        session, organisation, f"organisation {name!r} in this township", f"本乡镇的组织 {name!r} "
    )
    return organisation


def get_organisation(session: Session, organisation_id: uuid.UUID) -> Organisation:
    return _get(session, Organisation, "organisation", organisation_id)


def list_organisations(
    session: Session,
    *,
    township_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
    only: Collection[uuid.UUID] | None = None,
) -> Page[Organisation]:
    """`only` narrows the list to these townships' organisations."""
    query = select(Organisation)
    if township_id is not None:
        query = query.where(Organisation.township_id == township_id)
    if only is not None:
        query = query.where(Organisation.township_id.in_(list(only)))
    return _page(session, query, Organisation, limit, cursor)


# A village's members are scanned in one bounded read (pinyin initials are computed, not
# stored); villages are far smaller than this.
SEARCH_SCAN_MAX = 20_000


@dataclass(frozen=True)
class MemberMatch:
    member: Member
    household_id: uuid.UUID | None
    household_number: str | None
    matched_by: str


def search_members(
    session: Session, *, village_id: uuid.UUID, query: str, limit: int
) -> list[MemberMatch]:
    """Members of a village matching a name, phone digits, 户号 or pinyin initials.

    Exact-name and household-number matches come first, then the rest by name.
    """
    rows = session.execute(
        select(Member, Household.id, Household.number)
        .outerjoin(
            HouseholdMembership,
            (HouseholdMembership.member_id == Member.id) & HouseholdMembership.left_on.is_(None),
        )
        .outerjoin(Household, Household.id == HouseholdMembership.household_id)
        .where(Member.village_id == village_id)
        .order_by(Member.id)
        .limit(SEARCH_SCAN_MAX)
    ).all()
    found: list[MemberMatch] = []
    for member, household_id, number in rows:
        how = policy.matched_by(policy.Candidate(member.name, member.phone, number), query)
        if how is not None:
            found.append(MemberMatch(member, household_id, number, how))
    rank = {"household_number": 0, "name": 1, "phone": 2, "pinyin": 3}
    found.sort(
        key=lambda m: (
            0 if m.member.name == query.strip() else 1,
            rank[m.matched_by],
            m.member.name,
            str(m.member.id),
        )
    )
    return found[:limit]
