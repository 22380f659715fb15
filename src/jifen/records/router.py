"""/v1 record endpoints: record an event under the charter, review, revoke, read; and a
resident's own report through a client."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access import service as access
from jifen.access.guard import Caller, requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api import batches
from jifen.api.batches import BatchRead
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import errors as charter_errors
from jifen.charters.document import RECORDER_RESIDENT
from jifen.kit.clock import as_utc
from jifen.kit.schemas import PageRead
from jifen.ledger import errors as ledger_errors
from jifen.ledger.facts import village_township
from jifen.ledger.service import Clock
from jifen.models import Record
from jifen.problems import IdempotencyKeyReused, InvalidCursor, NotFound, problem_responses
from jifen.records import errors, service
from jifen.records.schemas import (
    ClaimCreate,
    RecordBatchCreate,
    RecordBatchItem,
    RecordCreate,
    RecordRead,
    ReviewCreate,
    ReviewRead,
    RevocationCreate,
)

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

_RECORDING_PROBLEMS = (
    NotFound,
    charter_errors.NoCharterInForce,
    charter_errors.UnknownRule,
    charter_errors.InvalidQuantity,
    errors.RecorderNotAllowed,
    errors.SubjectInvalid,
    errors.EvidenceMissing,
    errors.DuplicateRecord,
    errors.ProjectNotInVillage,
    ledger_errors.MemberInactive,
    ledger_errors.OccurredInFuture,
    IdempotencyKeyReused,
)


def _read(session: Session, rows: list[Record]) -> list[RecordRead]:
    reviews = service.reviews_of(session, [row.id for row in rows])
    return [
        RecordRead.model_validate(row).model_copy(
            update={"reviews": [ReviewRead.model_validate(r) for r in reviews[row.id]]}
        )
        for row in rows
    ]


def _staff(caller: Caller, village_id: uuid.UUID, township_id: uuid.UUID) -> service.Recorder:
    return service.Recorder(
        caller.actor, guard.roles_over(caller, township_id=township_id, village_id=village_id)
    )


def _recorder_over(session: Session, caller: Caller, village_id: uuid.UUID) -> service.Recorder:
    township_id = village_township(session, village_id)
    if township_id is None:
        raise NotFound("village", village_id)
    return _staff(caller, village_id, township_id)


@router.post(
    "/villages/{village_id}/records",
    status_code=status.HTTP_201_CREATED,
    tags=["records"],
    summary="Record an event under the village's charter",
    description="Labor (义务劳动, hours or person-days, optionally for a project), conduct "
    "and every other charter item. The event is scored by the charter version in force on "
    "its day. If the charter wants the recorder's entries reviewed, the record is "
    "`pending` and moves no balance; otherwise it is booked at once, cut to what its caps "
    "leave (`capped` if nothing is left).",
    responses=problem_responses(*_RECORDING_PROBLEMS),
)
@requires(Permission.RECORDS_CREATE, on="village_id")
def create_record(
    village_id: uuid.UUID,
    body: RecordCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> RecordRead:
    return _record(session, caller, clock, village_id, body)


def _record(
    session: Session, caller: Caller, clock: Clock, village_id: uuid.UUID, body: RecordCreate
) -> RecordRead:
    row = service.record(
        session,
        service.RecordRequest(
            village_id=village_id,
            rule_id=body.rule_id,
            member_id=body.member_id,
            household_id=body.household_id,
            quantity=body.quantity,
            occurred_at=as_utc(body.occurred_at),
            occurrence=body.occurrence,
            project_id=body.project_id,
            place=body.place,
            evidence=[item.model_dump() for item in body.evidence],
            note=body.note,
        ),
        recorder=_recorder_over(session, caller, village_id),
        clock=clock,
    )
    return _read(session, [row])[0]


@router.post(
    "/villages/{village_id}/record-batches",
    response_model=BatchRead[RecordRead],
    tags=["records"],
    summary="Record up to 1,000 events in one request (an inspection round's sheet)",
    description="Each item is a record as `POST /v1/villages/{id}/records` takes it, with "
    "an `idempotency_key` of its own, and goes through the charter exactly as a single "
    "record does (caps, duplicates, review). With `atomic` false (the default) each item "
    "is recorded or refused on its own and the answer lists every item's outcome in order "
    "(`status`, `result` or `problem`); a retried batch answers the items recorded before "
    "as they were answered then (`replayed`). With `atomic` true the first refused item "
    "refuses the whole batch (422 `batch_refused`) and nothing is recorded.",
    responses=problem_responses(*_RECORDING_PROBLEMS, batches.BatchRefused),
)
@requires(Permission.RECORDS_CREATE, on="village_id", batch=True)
def create_record_batch(
    village_id: uuid.UUID,
    body: RecordBatchCreate,
    caller: CallerDep,
    clock: ClockDep,
) -> batches.BatchPlan:
    path = f"/v1/villages/{village_id}/record-batches"

    def recording(item: RecordBatchItem) -> Callable[[Session], RecordRead]:
        return lambda session: _record(session, caller, clock, village_id, item)

    return batches.BatchPlan(
        [
            batches.BatchItem(
                item.idempotency_key, batches.item_fingerprint(path, item), recording(item)
            )
            for item in body.items
        ],
        atomic=body.atomic,
    )


@router.get(
    "/villages/{village_id}/records",
    tags=["records"],
    summary="A village's records, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.ENTRIES_READ, on="village_id")
def list_records(
    village_id: uuid.UUID,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    status_: Annotated[
        str | None,
        Query(alias="status", pattern="^(pending|approved|capped|rejected|revoked)$"),
    ] = None,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    activity_id: uuid.UUID | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> PageRead[RecordRead]:
    page = service.list_records(
        session,
        village_id=village_id,
        member_id=member_id,
        household_id=household_id,
        status=status_,
        rule_id=rule_id,
        project_id=project_id,
        activity_id=activity_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        limit=limit,
        cursor=cursor,
    )
    return PageRead[RecordRead](items=_read(session, page.items), next_cursor=page.next_cursor)


@router.get(
    "/records/{record_id}",
    tags=["records"],
    summary="A record, with its reviews",
    responses=problem_responses(NotFound),
)
@requires(Permission.ENTRIES_READ, on="record_id")
def get_record(record_id: uuid.UUID, session: SessionDep) -> RecordRead:
    return _read(session, [service.get_record(session, record_id)])[0]


@router.post(
    "/records/{record_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    tags=["records"],
    summary="Decide a pending record's next review stage (初审 / 复核)",
    description="The charter names the roles that decide each stage. Neither the recorder "
    "nor an earlier stage's reviewer may decide it. Approving the last stage scores the "
    "record against its caps as they stand then, and books it; rejecting leaves no trace "
    "on any balance and lets the same occurrence be recorded again.",
    responses=problem_responses(
        NotFound,
        errors.RecordNotPending,
        errors.ReviewerNotAllowed,
        errors.ReviewBySameActor,
        ledger_errors.MemberInactive,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.RECORDS_REVIEW, on="record_id")
def review_record(
    record_id: uuid.UUID,
    body: ReviewCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> RecordRead:
    record = service.get_record(session, record_id)
    row = service.review(
        session,
        record_id=record_id,
        approve=body.decision == "approve",
        reason=body.reason,
        reviewer=_staff(caller, record.village_id, record.township_id),
        clock=clock,
    )
    return _read(session, [row])[0]


@router.post(
    "/records/{record_id}/revocations",
    status_code=status.HTTP_201_CREATED,
    tags=["records"],
    summary="Revoke an approved record (撤回)",
    description="Books a reversal of the record's entry, dated now, on every balance it "
    "moved (spendable and merit). Points already spent are not clawed back: the balance "
    "may go below zero.",
    responses=problem_responses(NotFound, errors.RecordNotRevocable, IdempotencyKeyReused),
)
@requires(Permission.RECORDS_REVOKE, on="record_id")
def revoke_record(
    record_id: uuid.UUID,
    body: RevocationCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> RecordRead:
    row = service.revoke(
        session, record_id=record_id, reason=body.reason, actor=caller.actor, clock=clock
    )
    return _read(session, [row])[0]


@router.post(
    "/bindings/{binding_id}/claims",
    status_code=status.HTTP_201_CREATED,
    tags=["records"],
    summary="A resident's own report (个人申报) for the bound member",
    description="Recorded as the charter's `resident` recorder: the rule must list "
    "`resident` among its recorders, and the record waits for the review stages the "
    "charter requires of residents.",
    responses=problem_responses(*_RECORDING_PROBLEMS),
)
@requires(None, on="binding_id", client_scope=ClientScope.RECORDS_CLAIM, staff=False)
def create_claim(
    binding_id: uuid.UUID,
    body: ClaimCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> RecordRead:
    binding = access.get_binding(session, binding_id)
    row = service.record(
        session,
        service.RecordRequest(
            village_id=binding.village_id,
            rule_id=body.rule_id,
            member_id=binding.member_id,
            household_id=None,
            quantity=body.quantity,
            occurred_at=as_utc(body.occurred_at),
            occurrence=body.occurrence,
            evidence=[item.model_dump() for item in body.evidence],
            note=body.note,
        ),
        recorder=service.Recorder(caller.actor, frozenset({RECORDER_RESIDENT})),
        clock=clock,
    )
    return _read(session, [row])[0]
