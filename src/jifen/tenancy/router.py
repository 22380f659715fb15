"""/v1 tenancy endpoints: townships, villages, households, members, organisations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, status

from jifen.access import guard
from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit.schemas import PageRead
from jifen.ledger import errors as ledger_errors
from jifen.ledger.schemas import EntryRead
from jifen.problems import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from jifen.tenancy import errors, service
from jifen.tenancy.policy import QUERY_LENGTH_MAX, mask_phone
from jifen.tenancy.schemas import (
    HouseholdCreate,
    HouseholdRead,
    HouseholdSplitCreate,
    HouseholdSplitRead,
    MemberCreate,
    MemberDeactivation,
    MemberDeparture,
    MemberMatchRead,
    MemberMove,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    OrganisationCreate,
    OrganisationRead,
    TownshipCreate,
    TownshipRead,
    TownshipUpdate,
    VillageCreate,
    VillageRead,
    VillageUpdate,
)

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)]
_CREATE = (NotFound, AlreadyExists, IdempotencyKeyReused)
_LIST = (InvalidCursor,)


# --- townships -------------------------------------------------------------------------


@router.post(
    "/townships",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Create a township",
    responses=problem_responses(*_CREATE),
)
@requires(Permission.TOWNSHIPS_CREATE)
def create_township(
    body: TownshipCreate, session: SessionDep, clock: ClockDep, _key: IdempotencyKey = None
) -> TownshipRead:
    township = service.create_township(session, code=body.code, name=body.name, now=clock.now)
    return TownshipRead.model_validate(township)


@router.get(
    "/townships", tags=["tenancy"], summary="List townships", responses=problem_responses(*_LIST)
)
@requires(Permission.TENANCY_READ, anywhere=True)
def list_townships(
    session: SessionDep, caller: CallerDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[TownshipRead]:
    only = guard.visible_townships(caller, Permission.TENANCY_READ)
    page = service.list_townships(session, limit=limit, cursor=cursor, only=only)
    return PageRead[TownshipRead](
        items=[TownshipRead.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/townships/{township_id}",
    tags=["tenancy"],
    summary="Get a township",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="township_id")
def get_township(township_id: uuid.UUID, session: SessionDep) -> TownshipRead:
    return TownshipRead.model_validate(service.get_township(session, township_id))


@router.patch(
    "/townships/{township_id}",
    tags=["tenancy"],
    summary="Rename a township",
    responses=problem_responses(NotFound),
)
@requires(Permission.TOWNSHIP_MANAGE, on="township_id")
def update_township(
    township_id: uuid.UUID, body: TownshipUpdate, session: SessionDep
) -> TownshipRead:
    return TownshipRead.model_validate(
        service.update_township(session, township_id, name=body.name)
    )


# --- villages --------------------------------------------------------------------------


@router.post(
    "/villages",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Create a village and open its books",
    description="Also opens the village's standard accounts: points issuance "
    "(category general), supermarket, expiry, the points-exchange fund and its "
    "funding source.",
    responses=problem_responses(*_CREATE),
)
@requires(Permission.TOWNSHIP_MANAGE, in_request="body.township_id")
def create_village(
    body: VillageCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> VillageRead:
    guard.require(session, caller, Permission.TOWNSHIP_MANAGE, "township_id", body.township_id)
    village = service.create_village(
        session,
        township_id=body.township_id,
        code=body.code,
        name=body.name,
        allow_below_floor_codes=body.allow_below_floor_codes,
        now=clock.now,
    )
    return VillageRead.model_validate(village)


@router.get(
    "/villages", tags=["tenancy"], summary="List villages", responses=problem_responses(*_LIST)
)
@requires(Permission.TENANCY_READ, anywhere=True)
def list_villages(
    session: SessionDep,
    caller: CallerDep,
    township_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[VillageRead]:
    if township_id is not None:
        guard.require(session, caller, Permission.TENANCY_READ, "township_id", township_id)
    townships, villages = guard.visible_villages(caller, Permission.TENANCY_READ)
    page = service.list_villages(
        session,
        township_id=township_id,
        limit=limit,
        cursor=cursor,
        only_townships=townships,
        only=villages,
    )
    return PageRead[VillageRead](
        items=[VillageRead.model_validate(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/villages/{village_id}",
    tags=["tenancy"],
    summary="Get a village",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="village_id")
def get_village(village_id: uuid.UUID, session: SessionDep) -> VillageRead:
    return VillageRead.model_validate(service.get_village(session, village_id))


@router.patch(
    "/villages/{village_id}",
    tags=["tenancy"],
    summary="Update a village",
    responses=problem_responses(NotFound),
)
@requires(Permission.VILLAGES_MANAGE, on="village_id")
def update_village(village_id: uuid.UUID, body: VillageUpdate, session: SessionDep) -> VillageRead:
    village = service.update_village(
        session,
        village_id,
        name=body.name,
        allow_below_floor_codes=body.allow_below_floor_codes,
        region=body.region,
        set_region="region" in body.model_fields_set,
    )
    return VillageRead.model_validate(village)


# --- households ------------------------------------------------------------------------


@router.post(
    "/households",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Register a household (opens its points account)",
    responses=problem_responses(*_CREATE),
)
@requires(Permission.MEMBERS_WRITE, in_request="body.village_id")
def create_household(
    body: HouseholdCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> HouseholdRead:
    guard.require(session, caller, Permission.MEMBERS_WRITE, "village_id", body.village_id)
    household = service.create_household(
        session, village_id=body.village_id, number=body.number, name=body.name, now=clock.now
    )
    return HouseholdRead.model_validate(household)


@router.get(
    "/households", tags=["tenancy"], summary="List households", responses=problem_responses(*_LIST)
)
@requires(Permission.TENANCY_READ, in_request="query village_id")
def list_households(
    session: SessionDep,
    caller: CallerDep,
    village_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[HouseholdRead]:
    guard.require_most_specific(
        session, caller, Permission.TENANCY_READ, {"village_id": village_id}
    )
    page = service.list_households(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[HouseholdRead](
        items=[HouseholdRead.model_validate(h) for h in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/households/{household_id}",
    tags=["tenancy"],
    summary="Get a household",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="household_id")
def get_household(household_id: uuid.UUID, session: SessionDep) -> HouseholdRead:
    return HouseholdRead.model_validate(service.get_household(session, household_id))


@router.get(
    "/households/{household_id}/members",
    tags=["tenancy"],
    summary="Current members of a household",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="household_id")
def get_household_members(household_id: uuid.UUID, session: SessionDep) -> list[MembershipRead]:
    service.get_household(session, household_id)
    return [
        MembershipRead.model_validate(m) for m in service.household_members(session, household_id)
    ]


@router.post(
    "/households/{household_id}/splits",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Split a household (分户)",
    description="A new household takes the listed members from the split date. Points "
    "move only by the explicit transfer given in `transfer_points` (0 moves none).",
    responses=problem_responses(
        *_CREATE,
        errors.MemberNotInHousehold,
        errors.InvalidDate,
        ledger_errors.InsufficientPoints,
        ledger_errors.MemberInactive,
    ),
)
@requires(Permission.MEMBERS_WRITE, on="household_id")
def split_household(
    household_id: uuid.UUID,
    body: HouseholdSplitCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> HouseholdSplitRead:
    split = service.split_household(
        session,
        household_id,
        number=body.number,
        name=body.name,
        member_ids=body.member_ids,
        head_member_id=body.head_member_id,
        on=body.on,
        transfer_points=body.transfer_points,
        actor=caller.actor,
        clock=clock,
    )
    return HouseholdSplitRead(
        household=HouseholdRead.model_validate(split.household),
        moved=[MembershipRead.model_validate(m) for m in split.moved],
        transfer=EntryRead.of(split.transfer) if split.transfer else None,
    )


# --- members ---------------------------------------------------------------------------


@router.post(
    "/members",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Register a member (opens their points account)",
    responses=problem_responses(*_CREATE, errors.OtherVillage),
)
@requires(Permission.MEMBERS_WRITE, in_request="body.village_id")
def create_member(
    body: MemberCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> MemberRead:
    guard.require(session, caller, Permission.MEMBERS_WRITE, "village_id", body.village_id)
    member = service.create_member(
        session,
        village_id=body.village_id,
        name=body.name,
        phone=body.phone,
        id_number_tail=body.id_number_tail,
        household_id=body.household_id,
        joined_on=body.joined_on,
        is_head=body.is_head,
        now=clock.now,
        today=clock.local_date(clock.now),
    )
    return MemberRead.model_validate(member)


@router.get(
    "/members", tags=["tenancy"], summary="List members", responses=problem_responses(*_LIST)
)
@requires(Permission.TENANCY_READ, in_request="query household_id, else village_id")
def list_members(
    session: SessionDep,
    caller: CallerDep,
    village_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[MemberRead]:
    guard.require_most_specific(
        session,
        caller,
        Permission.TENANCY_READ,
        {"household_id": household_id, "village_id": village_id},
    )
    page = service.list_members(
        session, village_id=village_id, household_id=household_id, limit=limit, cursor=cursor
    )
    return PageRead[MemberRead](
        items=[MemberRead.model_validate(m) for m in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/villages/{village_id}/members/search",
    tags=["tenancy"],
    summary="Find members (查找村民) by name, phone, 户号 or pinyin initials",
    description="`q` is part of a name (张), phone digits (at least 4), a household "
    "number (户号, exact), or pinyin initials / the start of the pinyin (zs, zhangsan). "
    "Phones are masked unless the caller may edit this village's members.",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="village_id")
def search_members(
    village_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    q: Annotated[str | None, Query(max_length=QUERY_LENGTH_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[MemberMatchRead]:
    if not q or not q.strip():
        raise ValidationFailed(
            "q is required: a name, phone digits, 户号 or pinyin initials",
            detail_zh="q 为必填项：姓名、手机号数字、户号或拼音首字母",
        )
    # Full numbers for those who keep the member register here; masked for the rest.
    village = guard.resolve(session, "village_id", {"village_id": str(village_id)}, caller)
    full_phone = guard.allows(caller, Permission.MEMBERS_WRITE, village)
    matches = service.search_members(session, village_id=village_id, query=q, limit=limit)
    return [
        MemberMatchRead(
            id=m.member.id,
            village_id=m.member.village_id,
            name=m.member.name,
            phone=m.member.phone if full_phone else mask_phone(m.member.phone),
            is_phone_masked=not full_phone and m.member.phone is not None,
            household_id=m.household_id,
            household_number=m.household_number,
            deactivated_on=m.member.deactivated_on,
            matched_by=m.matched_by,
        )
        for m in matches
    ]


@router.get(
    "/members/{member_id}",
    tags=["tenancy"],
    summary="Get a member",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="member_id")
def get_member(member_id: uuid.UUID, session: SessionDep) -> MemberRead:
    return MemberRead.model_validate(service.get_member(session, member_id))


@router.patch(
    "/members/{member_id}",
    tags=["tenancy"],
    summary="Update a member",
    responses=problem_responses(NotFound),
)
@requires(Permission.MEMBERS_WRITE, on="member_id")
def update_member(member_id: uuid.UUID, body: MemberUpdate, session: SessionDep) -> MemberRead:
    member = service.update_member(session, member_id, name=body.name, phone=body.phone)
    return MemberRead.model_validate(member)


@router.get(
    "/members/{member_id}/memberships",
    tags=["tenancy"],
    summary="A member's household history",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="member_id")
def get_memberships(member_id: uuid.UUID, session: SessionDep) -> list[MembershipRead]:
    service.get_member(session, member_id)
    return [MembershipRead.model_validate(m) for m in service.memberships(session, member_id)]


@router.post(
    "/members/{member_id}/moves",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Move a member to another household of the village",
    responses=problem_responses(
        NotFound,
        errors.OtherVillage,
        errors.InvalidDate,
        ledger_errors.MemberInactive,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.MEMBERS_WRITE, on="member_id")
def move_member(
    member_id: uuid.UUID,
    body: MemberMove,
    session: SessionDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> MembershipRead:
    membership = service.move_member(
        session,
        member_id,
        household_id=body.household_id,
        on=body.on,
        is_head=body.is_head,
        now=clock.now,
    )
    return MembershipRead.model_validate(membership)


@router.post(
    "/members/{member_id}/departures",
    tags=["tenancy"],
    summary="A member leaves their household (and joins none)",
    responses=problem_responses(
        NotFound, errors.MemberNotInHousehold, errors.InvalidDate, IdempotencyKeyReused
    ),
)
@requires(Permission.MEMBERS_WRITE, on="member_id")
def leave_household(
    member_id: uuid.UUID,
    body: MemberDeparture,
    session: SessionDep,
    _key: IdempotencyKey = None,
) -> MembershipRead:
    return MembershipRead.model_validate(service.leave_household(session, member_id, on=body.on))


@router.post(
    "/members/{member_id}/deactivation",
    tags=["tenancy"],
    summary="Deactivate a member as of a date (moved away, deceased)",
    description="Entries dated after `on` are refused from now on; history stays.",
    responses=problem_responses(
        NotFound, errors.MemberAlreadyDeactivated, errors.InvalidDate, IdempotencyKeyReused
    ),
)
@requires(Permission.MEMBERS_WRITE, on="member_id")
def deactivate_member(
    member_id: uuid.UUID,
    body: MemberDeactivation,
    session: SessionDep,
    _key: IdempotencyKey = None,
) -> MemberRead:
    member = service.deactivate_member(session, member_id, on=body.on, reason=body.reason.value)
    return MemberRead.model_validate(member)


# --- organisations ---------------------------------------------------------------------


@router.post(
    "/organisations",
    status_code=status.HTTP_201_CREATED,
    tags=["tenancy"],
    summary="Register an organisation (shop, company, social group)",
    responses=problem_responses(*_CREATE),
)
@requires(Permission.MEMBERS_WRITE, in_request="body.township_id")
def create_organisation(
    body: OrganisationCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> OrganisationRead:
    guard.require(session, caller, Permission.MEMBERS_WRITE, "township_id", body.township_id)
    organisation = service.create_organisation(
        session, township_id=body.township_id, name=body.name, kind=body.kind.value, now=clock.now
    )
    return OrganisationRead.model_validate(organisation)


@router.get(
    "/organisations",
    tags=["tenancy"],
    summary="List organisations",
    responses=problem_responses(*_LIST),
)
@requires(Permission.TENANCY_READ, anywhere=True)
def list_organisations(
    session: SessionDep,
    caller: CallerDep,
    township_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[OrganisationRead]:
    if township_id is not None:
        guard.require(session, caller, Permission.TENANCY_READ, "township_id", township_id)
    only = guard.visible_townships(caller, Permission.TENANCY_READ)
    page = service.list_organisations(
        session, township_id=township_id, limit=limit, cursor=cursor, only=only
    )
    return PageRead[OrganisationRead](
        items=[OrganisationRead.model_validate(o) for o in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/organisations/{organisation_id}",
    tags=["tenancy"],
    summary="Get an organisation",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="organisation_id")
def get_organisation(organisation_id: uuid.UUID, session: SessionDep) -> OrganisationRead:
    return OrganisationRead.model_validate(service.get_organisation(session, organisation_id))
