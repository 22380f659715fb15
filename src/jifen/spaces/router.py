"""/v1 adopted-spaces endpoints: the village's spaces and the claims on them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access.guard import Caller, Scope, requires, resolver
from jifen.access.permissions import Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit.clock import as_utc
from jifen.kit.schemas import PageRead
from jifen.models import Space, SpaceClaim
from jifen.problems import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    problem_responses,
)
from jifen.records import errors as record_errors
from jifen.records import service as records
from jifen.spaces import errors, inspections, service
from jifen.spaces.schemas import (
    ClaimCreate,
    ClaimEnding,
    ClaimRead,
    ClaimTransferRead,
    InspectionCreate,
    InspectionDueRead,
    InspectionRead,
    SpaceCreate,
    SpaceRead,
    SpaceUpdate,
    hundredths,
)

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)]
_CLAIM_REFUSALS = (
    NotFound,
    IdempotencyKeyReused,
    errors.SpaceAlreadyClaimed,
    errors.ClaimantNotInVillage,
    errors.ClaimantInactive,
    errors.ClaimEndBeforeStart,
)
_CLAIM_CHANGES = (
    NotFound,
    IdempotencyKeyReused,
    errors.ClaimAlreadyEnded,
    errors.ClaimEndBeforeStart,
    errors.ClaimEndAfterPlannedEnd,
)


@resolver("space_id", "space")
def _space(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Space.township_id, Space.village_id).where(Space.id == id_)
    ).first()
    return None if row is None else Scope("space", id_, row[0], row[1])


@resolver("space_claim_id", "space claim")
def _space_claim(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(SpaceClaim.township_id, SpaceClaim.village_id).where(SpaceClaim.id == id_)
    ).first()
    return None if row is None else Scope("space claim", id_, row[0], row[1])


# --- spaces ----------------------------------------------------------------------------


@router.post(
    "/spaces",
    status_code=status.HTTP_201_CREATED,
    tags=["spaces"],
    summary="Register a space of a village (认领场地登记)",
    responses=problem_responses(NotFound, AlreadyExists, IdempotencyKeyReused),
)
@requires(Permission.MEMBERS_WRITE, in_request="body.village_id")
def create_space(
    body: SpaceCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> SpaceRead:
    guard.require(session, caller, Permission.MEMBERS_WRITE, "village_id", body.village_id)
    space = service.create_space(
        session,
        village_id=body.village_id,
        name=body.name,
        kind=body.kind.value,
        area_hundredths_m2=hundredths(body.area_m2),
        location=body.location,
        photo_url=body.photo_url,
        allow_shared_care=body.allow_shared_care,
        now=clock.now,
    )
    return SpaceRead.of(space)


@router.get(
    "/spaces",
    tags=["spaces"],
    summary="List spaces",
    responses=problem_responses(InvalidCursor),
)
@requires(Permission.TENANCY_READ, in_request="query village_id")
def list_spaces(
    session: SessionDep,
    caller: CallerDep,
    village_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[SpaceRead]:
    guard.require_most_specific(
        session, caller, Permission.TENANCY_READ, {"village_id": village_id}
    )
    page = service.list_spaces(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[SpaceRead](
        items=[SpaceRead.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/spaces/{space_id}",
    tags=["spaces"],
    summary="Get a space",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="space_id")
def get_space(space_id: uuid.UUID, session: SessionDep) -> SpaceRead:
    return SpaceRead.of(service.get_space(session, space_id))


@router.patch(
    "/spaces/{space_id}",
    tags=["spaces"],
    summary="Update a space",
    responses=problem_responses(NotFound, AlreadyExists, errors.SharedCareInUse),
)
@requires(Permission.MEMBERS_WRITE, on="space_id")
def update_space(
    space_id: uuid.UUID, body: SpaceUpdate, session: SessionDep, clock: ClockDep
) -> SpaceRead:
    changes = body.model_dump(exclude_unset=True)
    if "kind" in changes:
        changes["kind"] = body.kind.value if body.kind else None
    if "area_m2" in changes:
        area = changes.pop("area_m2")
        changes["area_hundredths_m2"] = hundredths(area)
    space = service.update_space(session, space_id, changes=changes, now=clock.now)
    return SpaceRead.of(space)


# --- claims ----------------------------------------------------------------------------


@router.post(
    "/spaces/{space_id}/claims",
    status_code=status.HTTP_201_CREATED,
    tags=["spaces"],
    summary="Claim a space for a period (认领)",
    description="A member, household or organisation takes up the care of the space from "
    "starts_on (to ends_on, inclusive, if given). Unless the space allows shared care, "
    "another claim covering any of those dates refuses it (space_already_claimed, naming "
    "the current claimant).",
    responses=problem_responses(*_CLAIM_REFUSALS),
)
@requires(Permission.MEMBERS_WRITE, on="space_id")
def create_space_claim(
    space_id: uuid.UUID,
    body: ClaimCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> ClaimRead:
    row = service.claim(
        session,
        space_id=space_id,
        claimant=body.claimant(),
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        note=body.note,
        actor=caller.actor,
        now=clock.now,
    )
    return ClaimRead.of(row)


@router.get(
    "/spaces/{space_id}/claims",
    tags=["spaces"],
    summary="A space's claims, past and present",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.TENANCY_READ, on="space_id")
def list_space_claims(
    space_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[ClaimRead]:
    page = service.list_claims(session, space_id=space_id, limit=limit, cursor=cursor)
    return PageRead[ClaimRead](
        items=[ClaimRead.of(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/space-claims/{space_claim_id}",
    tags=["spaces"],
    summary="Get a claim on a space",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="space_claim_id")
def get_space_claim(space_claim_id: uuid.UUID, session: SessionDep) -> ClaimRead:
    return ClaimRead.of(service.get_claim(session, space_claim_id))


@router.post(
    "/space-claims/{space_claim_id}/endings",
    tags=["spaces"],
    summary="End a claim early",
    description="Sets the claim's last day of care: never before it started, never later "
    "than it was to end. The claim is kept in the space's history.",
    responses=problem_responses(*_CLAIM_CHANGES),
)
@requires(Permission.MEMBERS_WRITE, on="space_claim_id")
def end_space_claim(
    space_claim_id: uuid.UUID,
    body: ClaimEnding,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> ClaimRead:
    row = service.end_claim(
        session, space_claim_id, ends_on=body.ends_on, actor=caller.actor, now=clock.now
    )
    return ClaimRead.of(row)


@router.post(
    "/space-claims/{space_claim_id}/transfers",
    status_code=status.HTTP_201_CREATED,
    tags=["spaces"],
    summary="Pass a claim on to another claimant",
    description="In one step: the claim ends the day before starts_on and the new "
    "claimant's claim begins on starts_on.",
    responses=problem_responses(*_CLAIM_CHANGES, *_CLAIM_REFUSALS),
)
@requires(Permission.MEMBERS_WRITE, on="space_claim_id")
def transfer_space_claim(
    space_claim_id: uuid.UUID,
    body: ClaimCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> ClaimTransferRead:
    old, new = service.transfer_claim(
        session,
        space_claim_id,
        claimant=body.claimant(),
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        note=body.note,
        actor=caller.actor,
        now=clock.now,
    )
    return ClaimTransferRead(ended=ClaimRead.of(old), claim=ClaimRead.of(new))


# --- inspections -----------------------------------------------------------------------

_INSPECTION_REFUSALS = (
    NotFound,
    IdempotencyKeyReused,
    errors.SpaceNotInspected,
    errors.InspectionAlreadyDone,
    errors.SpaceNotClaimed,
    record_errors.RecorderNotAllowed,
    record_errors.EvidenceMissing,
    record_errors.DuplicateRecord,
    record_errors.SubjectInvalid,
)


@router.post(
    "/spaces/{space_id}/inspections",
    status_code=status.HTTP_201_CREATED,
    tags=["spaces"],
    summary="Record an inspection of a space (巡查)",
    description="The charter in force on the day names, for the space's kind, the cadence "
    "(one inspection per week, month or quarter) and the rule a pass and a failure score. "
    "Each claimant caring for the space that day is scored one record under that rule, "
    "with caps, duplicates and review as for any record; an organisation is inspected but "
    "holds no points. All or nothing.",
    responses=problem_responses(*_INSPECTION_REFUSALS),
)
@requires(Permission.RECORDS_CREATE, on="space_id")
def create_space_inspection(
    space_id: uuid.UUID,
    body: InspectionCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> InspectionRead:
    space = service.get_space(session, space_id)
    recorder = records.Recorder(
        caller.actor,
        guard.roles_over(caller, township_id=space.township_id, village_id=space.village_id),
    )
    row = inspections.inspect(
        session,
        space_id=space_id,
        outcome=body.outcome,
        score=body.score,
        inspected_at=as_utc(body.inspected_at),
        evidence=[item.model_dump() for item in body.evidence],
        note=body.note,
        recorder=recorder,
        clock=clock,
    )
    return InspectionRead.of(row)


@router.get(
    "/spaces/{space_id}/inspections",
    tags=["spaces"],
    summary="A space's inspections, newest period first",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="space_id")
def list_space_inspections(space_id: uuid.UUID, session: SessionDep) -> list[InspectionRead]:
    return [InspectionRead.of(row) for row in inspections.list_inspections(session, space_id)]


@router.get(
    "/villages/{village_id}/space-inspections/due",
    tags=["spaces"],
    summary="Inspections due and missed (待巡查)",
    description="For each claimed space whose kind the charter in force inspects: the "
    "current period if it is not inspected yet (`due`), and up to 12 past periods that "
    "ended uninspected while the space was claimed (`missed`), oldest first per space.",
    responses=problem_responses(NotFound),
)
@requires(Permission.RECORDS_CREATE, on="village_id")
def list_inspections_due(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    on: Annotated[date | None, Query(description="the day (default: today)")] = None,
) -> list[InspectionDueRead]:
    day = on or clock.local_date(clock.now)
    return [
        InspectionDueRead(
            space_id=d.space_id,
            space_name=d.space_name,
            space_kind=d.space_kind,
            period_start=d.period_start,
            period_end=d.period_end,
            status=d.status,  # type: ignore[arg-type]
            claim_ids=d.claim_ids,
        )
        for d in inspections.due(session, village_id=village_id, on=day)
    ]
