"""/v1 ledger endpoints: accounts, balances, statements, entries, verification."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, status
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access.guard import Caller, requires
from jifen.access.permissions import Permission
from jifen.api import batches
from jifen.api.batches import BatchRead
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from jifen.api.routing import UnitOfWorkRoute, prepares
from jifen.charters import service as charters
from jifen.kit.clock import as_utc
from jifen.kit.schemas import Instant, PageRead
from jifen.ledger import access as ledger_access
from jifen.ledger import errors, service
from jifen.ledger.policy import CODE_MANUAL_ADJUSTMENT, MARKET_KINDS, AccountKind
from jifen.ledger.schemas import (
    AccountCreate,
    AccountRead,
    BalanceRead,
    EntryBatchCreate,
    EntryBatchItem,
    EntryCreate,
    EntryRead,
    PostedBalanceRead,
    ReversalCreate,
    StatementLineRead,
    StatementRead,
    TrialBalanceRead,
    VerificationRead,
    VoidCreate,
)
from jifen.notice import service as notice
from jifen.problems import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    problem_responses,
)

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        max_length=255,
        description="Retry-safe key: a retry with the same key and body books nothing new "
        "and returns the first response.",
    ),
]

_BOOKING_PROBLEMS = (
    NotFound,
    errors.UnbalancedEntry,
    errors.TooFewPostings,
    errors.TooManyPostings,
    errors.DuplicateAccount,
    errors.AmountOutOfRange,
    errors.InvalidEntryCode,
    errors.AccountInOtherBooks,
    errors.InsufficientPoints,
    errors.InsufficientFunds,
    errors.FloorOverrideNotAllowed,
    errors.MemberInactive,
    errors.OccurredInFuture,
    errors.GoodsNeedTheSupermarket,
    errors.EarmarkedFunds,
    errors.WithheldSubsidyMovesByRelease,
    errors.UseRecords,
    IdempotencyKeyReused,
)


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    tags=["accounts"],
    summary="Open an account",
    responses=problem_responses(
        NotFound,
        errors.InvalidAccount,
        errors.GoodsNeedTheSupermarket,
        errors.AccountAlreadyExists,
        errors.AccountInOtherBooks,
        AlreadyExists,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.ACCOUNTS_OPEN, in_request="body.village_id")
def open_account(
    body: AccountCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> AccountRead:
    guard.require(session, caller, Permission.ACCOUNTS_OPEN, "village_id", body.village_id)
    if body.kind in MARKET_KINDS:
        raise errors.GoodsNeedTheSupermarket(
            f"{body.kind.value} accounts are opened by the supermarket itself",
            detail_zh=f"{body.kind.value} 类账户只能由积分超市自己开立",
            account_kinds=[body.kind.value],
        )
    account = service.open_account(
        session,
        village_id=body.village_id,
        kind=body.kind,
        asset=body.asset,
        category=body.category,
        member_id=body.member_id,
        household_id=body.household_id,
        organisation_id=body.organisation_id,
        name=body.name,
        balance_floor=body.balance_floor,
        use_default_floor="balance_floor" not in body.model_fields_set,
        now=clock.now,
    )
    return AccountRead.model_validate(account)


@router.get(
    "/accounts",
    tags=["accounts"],
    summary="List accounts",
    responses=problem_responses(InvalidCursor),
)
@requires(
    Permission.BALANCES_READ,
    in_request="query member_id, household_id, village_id or organisation_id",
)
def list_accounts(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    village_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    kind: AccountKind | None = None,
) -> PageRead[AccountRead]:
    guard.require_most_specific(
        session,
        caller,
        Permission.BALANCES_READ,
        {
            "member_id": member_id,
            "household_id": household_id,
            "village_id": village_id,
            "organisation_id": organisation_id,
        },
    )
    page = service.list_accounts(
        session,
        village_id=village_id,
        member_id=member_id,
        household_id=household_id,
        organisation_id=organisation_id,
        kind=kind,
        limit=limit,
        cursor=cursor,
    )
    return PageRead[AccountRead](
        items=[AccountRead.model_validate(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/accounts/{account_id}",
    tags=["accounts"],
    summary="Get an account",
    responses=problem_responses(NotFound),
)
@requires(Permission.BALANCES_READ, on="account_id")
def get_account(account_id: uuid.UUID, session: SessionDep) -> AccountRead:
    return AccountRead.model_validate(service.get_account(session, account_id))


@router.get(
    "/accounts/{account_id}/balance",
    tags=["accounts"],
    summary="Current balance",
    responses=problem_responses(NotFound),
)
@requires(Permission.BALANCES_READ, on="account_id")
def get_balance(account_id: uuid.UUID, session: SessionDep) -> BalanceRead:
    balance = service.get_balance(session, account_id)
    held = notice.holdings_of(session, balance)
    return BalanceRead.of(
        balance,
        pending_under_notice=held.pending_under_notice,
        held_by_objection=held.held_by_objection,
    )


@router.get(
    "/accounts/{account_id}/balance-as-of",
    tags=["accounts"],
    summary="Posted balance at a past time",
    description="Counts every posted amount effective at or before `at`, back-dated "
    "entries included.",
    responses=problem_responses(NotFound),
)
@requires(Permission.BALANCES_READ, on="account_id")
def get_balance_as_of(account_id: uuid.UUID, at: Instant, session: SessionDep) -> PostedBalanceRead:
    at = as_utc(at)
    return PostedBalanceRead(
        account_id=account_id, at=at, posted=service.posted_balance_as_of(session, account_id, at)
    )


@router.get(
    "/accounts/{account_id}/statement",
    tags=["accounts"],
    summary="Account statement, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.BALANCES_READ, on="account_id")
def get_statement(
    account_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> StatementRead:
    page = service.statement(session, account_id, limit=limit, cursor=cursor)
    notes = notice.notes_for_entries(session, [line.entry_id for line in page.items])
    return StatementRead(
        account_id=account_id,
        items=StatementLineRead.annotated(page.items, notes),
        next_cursor=page.next_cursor,
    )


def _expect_entry(
    *,
    body: EntryCreate,
    session: Session,
    caller: Caller,
    idempotency_key: str | None = None,
    **_: object,
) -> None:
    service.expect_booking(
        session,
        village_id=body.village_id,
        account_ids=[p.account_id for p in body.postings],
        actor=caller.actor,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/entries",
    status_code=status.HTTP_201_CREATED,
    tags=["entries"],
    summary="Book an entry",
    description="In a village whose charter is in force on the entry's day, points of "
    "members and households are awarded and deducted through records "
    "(`POST /v1/villages/{village_id}/records`): an entry that moves them (other than a "
    "redemption) is refused (409 `use_records`) unless its code is `manual_adjustment` "
    "(手工调整), with a `reason`, and the caller holds points:adjust (township "
    "administrators). Villages with no charter in force book such entries as before.",
    responses=problem_responses(*_BOOKING_PROBLEMS),
)
@requires(
    None,
    in_request="body.village_id; the accounts moved decide: points:award, "
    "points:redeem (owner to supermarket), funds:write (CNY); and points:adjust for a "
    "manual adjustment where a charter is in force",
)
@prepares(_expect_entry)
def create_entry(
    body: EntryCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> EntryRead:
    return _book(session, caller, clock, body.village_id, body, idempotency_key)


def _book(
    session: Session,
    caller: Caller,
    clock: service.Clock,
    village_id: uuid.UUID,
    body: EntryCreate | EntryBatchItem,
    idempotency_key: str | None,
) -> EntryRead:
    # What the entry needs depends on the accounts it moves (see ledger.access).
    legs = ledger_access.legs_of_request(session, [(p.account_id, p.amount) for p in body.postings])
    ledger_access.refuse_market_accounts(legs)
    ledger_access.refuse_earmarked(legs)
    ledger_access.refuse_withheld(legs)
    for permission in sorted(ledger_access.booking_permissions(legs)):
        guard.require(session, caller, permission, "village_id", village_id)
    if ledger_access.moves_resident_points(legs) and _charter_in_force(
        session, clock, village_id, body
    ):
        if body.code != CODE_MANUAL_ADJUSTMENT:
            raise errors.UseRecords(
                f"village {village_id} has a charter in force: record the event with POST "
                f"/v1/villages/{village_id}/records, or book a {CODE_MANUAL_ADJUSTMENT} "
                "entry with a reason (needs points:adjust)",
                detail_zh=f"本村已施行积分章程：请用 POST /v1/villages/{village_id}/records "
                f"登记积分事项；确需手工调整的，用 {CODE_MANUAL_ADJUSTMENT} 并注明原因"
                "（需 points:adjust 权限）",
                records_path=f"/v1/villages/{village_id}/records",
                code_allowed=CODE_MANUAL_ADJUSTMENT,
            )
        guard.require(session, caller, Permission.POINTS_ADJUST, "village_id", village_id)
    # UnitOfWorkRoute answers a retry from its stored response; the key is also kept on the
    # entry, so the entry itself can never be booked twice by the same actor.
    view = service.book(
        session,
        village_id=village_id,
        code=body.code,
        postings=[service.PostingInput(p.account_id, p.amount) for p in body.postings],
        actor=caller.actor,
        clock=clock,
        memo=body.booked_memo(),
        details=body.booked_details(),
        occurred_at=as_utc(body.occurred_at) if body.occurred_at else None,
        is_pending=body.is_pending,
        allow_below_floor=body.allow_below_floor,
        idempotency_key=idempotency_key,
    )
    return EntryRead.of(view)


def _charter_in_force(
    session: Session,
    clock: service.Clock,
    village_id: uuid.UUID,
    body: EntryCreate | EntryBatchItem,
) -> bool:
    """Whether a charter version was in force on the entry's day (in the villages' time)."""
    day = clock.local_date(as_utc(body.occurred_at) if body.occurred_at else clock.now)
    return charters.find_in_force(session, village_id, day) is not None


@router.post(
    "/villages/{village_id}/entry-batches",
    response_model=BatchRead[EntryRead],
    tags=["entries"],
    summary="Book up to 1,000 entries in one request",
    description="For clerks' apps and imports. Each item is an entry as `POST /v1/entries` "
    "takes it, in this village, with an `idempotency_key` of its own. With `atomic` false "
    "(the default) each item is booked or refused on its own and the answer lists every "
    "item's outcome in order (`status`, `result` or `problem`); a retried batch answers the "
    "items booked before as they were answered then (`replayed`). With `atomic` true the "
    "first refused item refuses the whole batch (422 `batch_refused`) and nothing is "
    "booked. Each item needs what its own booking would: points:award, points:redeem or "
    "funds:write.",
    responses=problem_responses(NotFound, batches.BatchRefused),
)
@requires(
    None,
    on="village_id",
    in_request="each item's accounts decide: points:award, points:redeem, funds:write",
    batch=True,
)
def create_entry_batch(
    village_id: uuid.UUID,
    body: EntryBatchCreate,
    caller: CallerDep,
    clock: ClockDep,
) -> batches.BatchPlan:
    path = f"/v1/villages/{village_id}/entry-batches"

    def booking(item: EntryBatchItem) -> Callable[[Session], EntryRead]:
        return lambda session: _book(session, caller, clock, village_id, item, item.idempotency_key)

    def expecting(item: EntryBatchItem) -> Callable[[Session], None]:
        return lambda session: service.expect_booking(
            session,
            village_id=village_id,
            account_ids=[p.account_id for p in item.postings],
            actor=caller.actor,
            idempotency_key=item.idempotency_key,
        )

    return batches.BatchPlan(
        [
            batches.BatchItem(
                item.idempotency_key,
                batches.item_fingerprint(path, item),
                booking(item),
                expecting(item),
            )
            for item in body.items
        ],
        atomic=body.atomic,
    )


@router.get(
    "/entries",
    tags=["entries"],
    summary="A village's entries, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.ENTRIES_READ, on="village_id")
def list_entries(
    village_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[EntryRead]:
    page = service.list_entries(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[EntryRead](
        items=[EntryRead.of(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/entries/{entry_id}",
    tags=["entries"],
    summary="Get an entry",
    responses=problem_responses(NotFound),
)
@requires(Permission.ENTRIES_READ, on="entry_id")
def get_entry(entry_id: uuid.UUID, session: SessionDep) -> EntryRead:
    return EntryRead.of(service.get_entry(session, entry_id))


@router.post(
    "/entries/{entry_id}/reversals",
    status_code=status.HTTP_201_CREATED,
    tags=["entries"],
    summary="Reverse an entry",
    description="Books the mirror image of the entry, dated now. The reversal may take a "
    "balance below its floor (the points may have been spent), and says so.",
    responses=problem_responses(
        NotFound,
        errors.EntryAlreadyReversed,
        errors.EntryNotReversible,
        errors.EntryBelongsToRecord,
        errors.GoodsNeedTheSupermarket,
        errors.WithheldSubsidyMovesByRelease,
        IdempotencyKeyReused,
    ),
)
@requires(
    None,
    on="entry_id",
    in_request="the entry's accounts decide: entries:reverse, "
    "points:refund (a redemption), funds:write (CNY)",
)
def reverse_entry(
    entry_id: uuid.UUID,
    body: ReversalCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> EntryRead:
    legs = ledger_access.legs_of_entry(session, entry_id)
    ledger_access.refuse_market_accounts(legs)
    ledger_access.refuse_withheld(legs)
    for permission in sorted(ledger_access.reversal_permissions(legs)):
        guard.require(session, caller, permission, "entry_id", entry_id)
    view = service.reverse(
        session,
        entry_id=entry_id,
        actor=caller.actor,
        clock=clock,
        reason=body.reason,
        details=body.metadata,
    )
    return EntryRead.of(view)


@router.post(
    "/entries/{entry_id}/post",
    status_code=status.HTTP_201_CREATED,
    tags=["entries"],
    summary="Post a pending entry",
    description="The held amounts become posted, effective now. Returns the posting entry.",
    responses=problem_responses(
        NotFound,
        errors.EntryNotPending,
        errors.PendingEntryAlreadyPosted,
        errors.PendingEntryAlreadyVoided,
        errors.MemberInactive,
        IdempotencyKeyReused,
    ),
)
@requires(
    None, on="entry_id", in_request="as its booking: points:award, points:redeem or funds:write"
)
def post_entry(
    entry_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> EntryRead:
    _require_as_booked(session, caller, entry_id)
    view = service.post_pending(session, entry_id=entry_id, actor=caller.actor, clock=clock)
    return EntryRead.of(view)


@router.post(
    "/entries/{entry_id}/void",
    status_code=status.HTTP_201_CREATED,
    tags=["entries"],
    summary="Void a pending entry",
    description="Releases the held amounts. Returns the voiding entry.",
    responses=problem_responses(
        NotFound,
        errors.EntryNotPending,
        errors.PendingEntryAlreadyPosted,
        errors.PendingEntryAlreadyVoided,
        IdempotencyKeyReused,
    ),
)
@requires(
    None, on="entry_id", in_request="as its booking: points:award, points:redeem or funds:write"
)
def void_entry(
    entry_id: uuid.UUID,
    body: VoidCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    _key: IdempotencyKey = None,
) -> EntryRead:
    _require_as_booked(session, caller, entry_id)
    view = service.void_pending(
        session, entry_id=entry_id, actor=caller.actor, clock=clock, reason=body.reason
    )
    return EntryRead.of(view)


@router.get(
    "/villages/{village_id}/verification",
    tags=["books"],
    summary="Verify a village's books",
    description="Recomputes the hash chain from the first entry, checks every link and "
    "that each entry balances, replays the postings against the stored balances, and "
    "names the first broken entry.",
    responses=problem_responses(NotFound),
)
@requires(Permission.BOOKS_VERIFY, on="village_id")
def verify_books(village_id: uuid.UUID, session: SessionDep) -> VerificationRead:
    return VerificationRead.of(service.verify_books(session, village_id))


@router.get(
    "/villages/{village_id}/trial-balance",
    tags=["books"],
    summary="Trial balance of a village's books",
    responses=problem_responses(NotFound),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_trial_balance(village_id: uuid.UUID, session: SessionDep) -> TrialBalanceRead:
    return TrialBalanceRead.of(service.trial_balance(session, village_id))


def _require_as_booked(session: Session, caller: Caller, entry_id: uuid.UUID) -> None:
    """Posting or voiding a pending entry needs what booking it needed."""
    legs = ledger_access.legs_of_entry(session, entry_id)
    for permission in sorted(ledger_access.booking_permissions(legs)):
        guard.require(session, caller, permission, "entry_id", entry_id)
