"""/v1 record endpoints: record an event under the charter, review, revoke, read; and a
resident's own report through a client."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access import service as access
from jifen.access.guard import Caller, requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api import batches, idempotency
from jifen.api.batches import BatchRead
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import errors as charter_errors
from jifen.charters.document import RECORDER_RESIDENT
from jifen.kit.canonical import canonical_json
from jifen.kit.clock import as_utc
from jifen.kit.schemas import PageRead
from jifen.ledger import errors as ledger_errors
from jifen.ledger.facts import village_township
from jifen.ledger.service import Clock
from jifen.models import Record
from jifen.problems import (
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    ProblemBody,
    ValidationFailed,
    preferred_language,
    problem_responses,
)
from jifen.records import errors, service, sheets
from jifen.records.schemas import (
    AmendmentCreate,
    ClaimCreate,
    RecordBatchCreate,
    RecordBatchItem,
    RecordCreate,
    RecordPreviewRead,
    RecordPreviewRowRead,
    RecordRead,
    ReviewCreate,
    ReviewRead,
    RevocationCreate,
    SheetRowRead,
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


def _request_of(village_id: uuid.UUID, body: RecordCreate) -> service.RecordRequest:
    return service.RecordRequest(
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
    )


def _record(
    session: Session, caller: Caller, clock: Clock, village_id: uuid.UUID, body: RecordCreate
) -> RecordRead:
    row = service.record(
        session,
        _request_of(village_id, body),
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


_SHEET_KEY = r"^[\x21-\x7e]{1,200}$"
_SHEET_PROBLEMS = (errors.SheetUnreadable, errors.SheetTooLarge, errors.SheetRowInvalid)
_SHEET_FORMAT = (
    "The sheet is a CSV (UTF-8 or GB18030) or XLSX file (its first worksheet) whose first "
    "row names the columns: 规则 and 日期 (YYYY-MM-DD) always; the person by 成员编号 (the "
    "eight digits on the points card), or 姓名 (with 户号 when two share a name), or 户号 "
    "alone for a finding against a household; 数量 (default 1), 场次, 地点, 照片 (a photo's "
    "URL, as evidence) and 备注 if wanted. At most 500 rows and 2 MB. See "
    "docs/clerk-sheets.md."
)


def _sheet_rows(file: UploadFile) -> list[sheets.SheetRow]:
    content = file.file.read(sheets.SHEET_BYTES_MAX + 1)
    return sheets.read_sheet(content, file.filename)


def _row_key(sheet_key: str, row: sheets.SheetRow) -> str:
    return f"{sheet_key}:{row.line}"


def _row_fingerprint(path: str, row: sheets.SheetRow) -> str:
    return idempotency.request_hash("POST", path + "#item", "", canonical_json(row.cells))


@router.post(
    "/villages/{village_id}/record-sheets",
    response_model=BatchRead[SheetRowRead],
    tags=["records"],
    summary="Record a clerk's sheet (CSV or XLSX upload), each row on its own",
    description=_SHEET_FORMAT
    + " Each row goes through the charter as a single record does, in order, and is "
    "answered on its own (`items`, in the sheet's order): `result.outcome` booked, "
    "capped, pending or duplicate (recorded before: nothing recorded, `duplicate_of` "
    "names the record), or `problem` (refused, with its code). Row n's idempotency key is "
    "`<sheet_key>:<n>`: uploading the same sheet again with the same sheet_key answers "
    "the rows done before as they were (`replayed`) and does the rest. With `atomic` the "
    "first refused row refuses the whole sheet and nothing is recorded. "
    "`POST .../record-sheet-previews` is the dry run.",
    responses=problem_responses(*_RECORDING_PROBLEMS, *_SHEET_PROBLEMS, batches.BatchRefused),
)
@requires(Permission.RECORDS_CREATE, on="village_id", batch=True)
def create_record_sheet(
    village_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The sheet: .csv or .xlsx")],
    sheet_key: Annotated[
        str,
        Form(
            pattern=_SHEET_KEY,
            description="Names this sheet for safe retries (e.g. 2026-11-26-巡查 in ASCII: "
            "round-2026-11-26)",
            examples=["round-2026-11-26"],
        ),
    ],
    caller: CallerDep,
    clock: ClockDep,
    atomic: Annotated[bool, Form()] = False,
) -> batches.BatchPlan:
    path = f"/v1/villages/{village_id}/record-sheets"
    rows = _sheet_rows(file)
    directory = sheets.Directory(village_id)

    def recording(row: sheets.SheetRow) -> Callable[[Session], SheetRowRead]:
        def work(session: Session) -> SheetRowRead:
            request = sheets.row_request(
                session, row, village_id=village_id, directory=directory, clock=clock
            )
            recorder = _recorder_over(session, caller, village_id)
            try:
                record = service.record(session, request, recorder=recorder, clock=clock)
            except errors.DuplicateRecord as duplicate:
                # Refused before anything was written: the row is answered, not refused.
                return SheetRowRead(
                    line=row.line,
                    outcome="duplicate",
                    duplicate_of=uuid.UUID(str(duplicate.extra["record_id"])),
                    record=None,
                )
            return SheetRowRead(
                line=row.line,
                outcome=sheets.outcome_of(record),
                duplicate_of=None,
                record=_read(session, [record])[0],
            )

        return work

    return batches.BatchPlan(
        [
            batches.BatchItem(_row_key(sheet_key, row), _row_fingerprint(path, row), recording(row))
            for row in rows
        ],
        atomic=atomic,
    )


def _preview_read(
    session: Session,
    caller: Caller,
    clock: Clock,
    village_id: uuid.UUID,
    items: list[sheets.PreviewItem],
    path: str,
    request: Request,
) -> RecordPreviewRead:
    """The preview's rows; a refused row's problem in the caller's language, as the
    problem of a refused request would be (Accept-Language)."""
    language = preferred_language(request.headers.get("accept-language"))
    outcomes = sheets.preview(
        session, items, recorder=_recorder_over(session, caller, village_id), clock=clock
    )
    rows = []
    for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
        problem = outcome.problem if outcome.outcome in ("refused", "duplicate") else None
        rows.append(
            RecordPreviewRowRead(
                index=index,
                idempotency_key=item.key,
                line=item.line,
                outcome=outcome.outcome,
                duplicate_of=uuid.UUID(outcome.duplicate_of) if outcome.duplicate_of else None,
                record=_snapshot_read(outcome.record) if outcome.record else None,
                problem=ProblemBody.model_validate(
                    problem.body(instance=f"{path}#items/{index}", language=language)
                )
                if problem is not None
                else None,
            )
        )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    return RecordPreviewRead(counts=counts, rows=rows)


def _snapshot_read(columns: dict[str, Any]) -> RecordRead:
    return RecordRead.model_validate(
        {k: v for k, v in columns.items() if k in RecordRead.model_fields}
    )


def _done_before(caller: Caller, key: str | None, fingerprint: str) -> Callable[[Session], bool]:
    def done(session: Session) -> bool:
        if key is None:
            return False
        found = idempotency.lookup(
            session, principal=caller.actor, key=key, fingerprint=fingerprint
        )
        return found is not None

    return done


@router.post(
    "/villages/{village_id}/record-sheet-previews",
    tags=["records"],
    summary="Dry run of a sheet: what recording it would do, row by row",
    description=_SHEET_FORMAT
    + " Nothing is written: each row is scored, capped (counting the rows before it) and "
    "checked as `POST .../record-sheets` would, and answered with its `outcome`. With "
    "the sheet_key the real upload will use, rows already recorded by it show `replayed`.",
    responses=problem_responses(NotFound, *_SHEET_PROBLEMS),
)
@requires(Permission.RECORDS_CREATE, on="village_id", direct=True)
def preview_record_sheet(
    village_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The sheet: .csv or .xlsx")],
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    http_request: Request,
    sheet_key: Annotated[
        str | None,
        Form(
            pattern=_SHEET_KEY,
            description="The sheet_key the real upload will use (shows rows done by it)",
            examples=["round-2026-11-26"],
        ),
    ] = None,
) -> RecordPreviewRead:
    path = f"/v1/villages/{village_id}/record-sheets"
    rows = _sheet_rows(file)
    directory = sheets.Directory(village_id)

    def request(row: sheets.SheetRow) -> Callable[[Session], service.RecordRequest]:
        return lambda s: sheets.row_request(
            s, row, village_id=village_id, directory=directory, clock=clock
        )

    items = [
        sheets.PreviewItem(
            key=_row_key(sheet_key, row) if sheet_key else None,
            line=row.line,
            request=request(row),
            done_before=_done_before(
                caller,
                _row_key(sheet_key, row) if sheet_key else None,
                _row_fingerprint(path, row),
            ),
        )
        for row in rows
    ]
    return _preview_read(session, caller, clock, village_id, items, path, http_request)


@router.post(
    "/villages/{village_id}/record-batch-previews",
    tags=["records"],
    summary="Dry run of a record batch: what recording it would do, item by item",
    description="Takes the body of `POST .../record-batches` and writes nothing: each "
    "item is scored, capped (counting the items before it) and checked as the batch "
    "would, and answered with its `outcome`; items whose idempotency_key an earlier "
    "batch did show `replayed`.",
    responses=problem_responses(NotFound),
)
@requires(Permission.RECORDS_CREATE, on="village_id", direct=True)
def preview_record_batch(
    village_id: uuid.UUID,
    body: RecordBatchCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    http_request: Request,
) -> RecordPreviewRead:
    if body.atomic:
        raise ValidationFailed(
            "a dry run shows every item's outcome: leave atomic out",
            detail_zh="试运行会列出每一项的结果：请不要填写 atomic",
            errors=[
                {
                    "location": ["body", "atomic"],
                    "message": "not accepted on a dry run",
                    "message_zh": "试运行不接受此字段",
                    "type": "value_error",
                }
            ],
        )
    path = f"/v1/villages/{village_id}/record-batches"

    def request(item: RecordBatchItem) -> Callable[[Session], service.RecordRequest]:
        return lambda _session: _request_of(village_id, item)

    items = [
        sheets.PreviewItem(
            key=item.idempotency_key,
            line=None,
            request=request(item),
            done_before=_done_before(
                caller, item.idempotency_key, batches.item_fingerprint(path, item)
            ),
        )
        for item in body.items
    ]
    return _preview_read(session, caller, clock, village_id, items, path, http_request)


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
        Query(alias="status", pattern="^(pending|approved|capped|rejected|revoked|amended)$"),
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
    "/records/{record_id}/amendments",
    status_code=status.HTTP_201_CREATED,
    tags=["records"],
    summary="Correct a record (更正): quantity, subject or rule, with a reason",
    description="One step: the record's entry is reversed (or voided while a `before` "
    "notice list holds it), the record becomes `amended`, and the correction is recorded "
    "as a new record through the charter like any other (caps, duplicates, review; the "
    "amended record is not a duplicate of it). The two name each other "
    "(`amended_by_record_id`, `amends_record_id`); the answer is the correction. The "
    "record's recorder, or a reviewer of the village (records:review), may amend it "
    "within the charter's `settings.amendments.window_days` (default 7, counted from when "
    "the first record of a chain of corrections was made) and while its notice list has "
    "not closed; after that it takes the revoking role (records:revoke). A pending record "
    "(under review) may be amended too: its correction starts the review afresh. A record "
    "with an objection waiting for a decision is not amended until it is decided.",
    responses=problem_responses(
        *_RECORDING_PROBLEMS,
        errors.RecordNotAmendable,
        errors.AmendmentNotOwnRecord,
        errors.AmendmentWindowClosed,
        errors.NoticeClosed,
        errors.RecordUnderObjection,
        errors.AmendmentChangesNothing,
    ),
)
@requires(Permission.RECORDS_CREATE, on="record_id")
def amend_record(
    record_id: uuid.UUID,
    body: AmendmentCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> RecordRead:
    record = service.get_record(session, record_id)
    scope = guard.resolve(session, "record_id", {"record_id": str(record_id)}, caller)
    row = service.amend(
        session,
        record_id=record_id,
        correction=service.Correction(
            quantity=body.quantity,
            member_id=body.member_id,
            household_id=body.household_id,
            rule_id=body.rule_id,
        ),
        reason=body.reason,
        amender=service.Amender(
            recorder=_staff(caller, record.village_id, record.township_id),
            may_amend_own=guard.allows(caller, Permission.RECORDS_REVIEW, scope),
            may_revoke=guard.allows(caller, Permission.RECORDS_REVOKE, scope),
        ),
        clock=clock,
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
