"""The answers of the jifen API as frozen dataclasses.

They mirror the server's response schemas field for field (a test of the server's
repository keeps them in step); `decode` ignores members a newer server adds. Values
named in a closed set by the API (`kind`, `status`, `outcome`, ...) are plain strings:
a newer server may add to the set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

__all__ = [
    "AccountRead",
    "ApiKeyIssued",
    "ApiKeyRead",
    "AuditEventRead",
    "AwaitingRecordRead",
    "BalanceRead",
    "BatchItemRead",
    "BatchRead",
    "BindingRead",
    "BoundBalanceRead",
    "BoundMemberRead",
    "ClientIssued",
    "ClientSecretRotated",
    "CredentialIssued",
    "EntryRead",
    "GrantRead",
    "HouseholdRead",
    "MemberRead",
    "ObjectionRead",
    "Page",
    "PageRead",
    "PostingRead",
    "RecordPreviewRead",
    "RecordPreviewRowRead",
    "RecordRead",
    "ReviewRead",
    "RoleRead",
    "SheetRowRead",
    "StandingRead",
    "StatementLineRead",
    "StatementNoticeRead",
    "StatementRead",
    "TokenRead",
    "TownshipRead",
    "TrackBalanceRead",
    "UserRead",
    "VillageRead",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryDetail",
    "WebhookEndpoint",
    "WebhookEndpointIssued",
    "WebhookEndpointSecretRotated",
    "WebhookEvent",
    "WhoAmIRead",
]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


PageRead = Page  # the server's name for it


@dataclass(frozen=True, kw_only=True)
class WhoAmIRead:
    principal_id: uuid.UUID
    kind: str
    name: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    member_id: uuid.UUID | None
    grants: list[dict[str, Any]]
    client_scopes: list[str]


@dataclass(frozen=True, kw_only=True)
class UserRead:
    id: uuid.UUID
    name: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    username: str | None
    member_id: uuid.UUID | None
    created_at: datetime
    created_by: str
    disabled_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class GrantRead:
    id: uuid.UUID
    role_id: uuid.UUID
    role_code: str
    role_label: str
    scope: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    permissions: list[str]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, kw_only=True)
class ApiKeyRead:
    id: uuid.UUID
    principal_id: uuid.UUID
    prefix: str
    name: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class ApiKeyIssued(ApiKeyRead):
    key: str  # the secret: shown this once


@dataclass(frozen=True, kw_only=True)
class RoleRead:
    id: uuid.UUID
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    code: str
    label: str
    scope: str
    permissions: list[str]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class ClientIssued:
    id: uuid.UUID
    client_id: str
    name: str
    township_id: uuid.UUID
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    client_secret: str


@dataclass(frozen=True, kw_only=True)
class ClientSecretRotated(ClientIssued):
    # Until when the replaced secret still works (None: no longer).
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class AuditEventRead:
    id: uuid.UUID
    at: datetime
    principal_id: uuid.UUID | None
    principal_name: str
    action: str
    method: str
    path: str
    status_code: int
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    target: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CredentialIssued:
    member_id: uuid.UUID
    kind: str
    secret: str
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class BindingRead:
    id: uuid.UUID
    user_ref: str
    member_id: uuid.UUID
    village_id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class BoundMemberRead:
    binding: BindingRead
    member_name: str
    village_name: str
    household_id: uuid.UUID | None
    household_name: str | None


@dataclass(frozen=True, kw_only=True)
class BoundBalanceRead:
    account_id: uuid.UUID
    holder: str
    is_default: bool
    asset: str
    posted: int
    available: int
    pending_under_notice: int = 0
    held_by_objection: int = 0


@dataclass(frozen=True, kw_only=True)
class TokenRead:
    """RFC 6749 §5.1."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


@dataclass(frozen=True, kw_only=True)
class TownshipRead:
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class VillageRead:
    id: uuid.UUID
    township_id: uuid.UUID
    code: str
    name: str
    allow_below_floor_codes: list[str]
    region: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class HouseholdRead:
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    number: str
    name: str
    split_from_household_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class MemberRead:
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    name: str
    phone: str | None
    id_number_tail: str | None
    deactivated_on: date | None
    deactivation_reason: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class AccountRead:
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    kind: str
    category: str
    asset: str
    balance_floor: int | None
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    name: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class BalanceRead:
    account_id: uuid.UUID
    asset: str
    posted: int
    pending_debits: int
    pending_credits: int
    available: int
    pending_under_notice: int = 0
    held_by_objection: int = 0
    balance_floor: int | None
    last_seq: int


@dataclass(frozen=True, kw_only=True)
class PostingRead:
    position: int
    account_id: uuid.UUID
    asset: str
    amount: int
    effect: str
    balance_after: int


@dataclass(frozen=True, kw_only=True)
class EntryRead:
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    code: str
    memo: str
    metadata: dict[str, Any]
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    is_pending: bool
    allow_below_floor: bool
    pending_entry_id: uuid.UUID | None
    reverses_entry_id: uuid.UUID | None
    idempotency_key: str | None
    status: str
    reversed_by_entry_id: uuid.UUID | None
    resolved_by_entry_id: uuid.UUID | None
    prev_hash: str
    hash: str
    postings: list[PostingRead]


@dataclass(frozen=True, kw_only=True)
class StatementNoticeRead:
    """The notice list (公示) a line's amount belongs to, and where it stands now."""

    notice_list_id: uuid.UUID
    list_state: str
    closes_on: date
    mode: str
    status: str
    objection_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class StatementLineRead:
    entry_id: uuid.UUID
    seq: int
    code: str
    memo: str
    amount: int
    effect: str
    balance_after: int
    occurred_at: datetime
    recorded_at: datetime
    notice: StatementNoticeRead | None = None


@dataclass(frozen=True, kw_only=True)
class StatementRead:
    account_id: uuid.UUID
    items: list[StatementLineRead]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class ReviewRead:
    stage: str
    decision: str
    reason: str
    reviewer: str
    reviewer_role: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class RecordRead:
    id: uuid.UUID
    village_id: uuid.UUID
    charter_version_id: uuid.UUID
    charter_version: int
    rule_id: str
    category: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    holder: str
    quantity: Decimal
    occurred_on: date
    occurred_at: datetime
    occurrence: str
    status: str
    stages_pending: list[str]
    scored_points: int
    awarded_points: int
    points: int
    merit_points: int
    explanation: str
    cap: dict[str, Any] | None
    recorder: str
    recorder_role: str
    project_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    place: str
    evidence: list[dict[str, Any]]
    note: str
    entry_id: uuid.UUID | None
    reversal_entry_id: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    amends_record_id: uuid.UUID | None = None
    amended_by_record_id: uuid.UUID | None = None
    amended_at: datetime | None = None
    amended_by: str | None = None
    amend_reason: str | None = None
    reviews: list[ReviewRead] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class SheetRowRead:
    """A sheet row done: recorded (booked, capped or pending review), or found to be a
    duplicate of a record made before (nothing recorded)."""

    line: int
    outcome: str
    duplicate_of: uuid.UUID | None
    record: RecordRead | None


@dataclass(frozen=True, kw_only=True)
class RecordPreviewRowRead:
    index: int
    idempotency_key: str | None
    line: int | None
    outcome: str
    duplicate_of: uuid.UUID | None
    record: RecordRead | None
    problem: dict[str, Any] | None  # the RFC 9457 body, with its code's own fields


@dataclass(frozen=True, kw_only=True)
class RecordPreviewRead:
    dry_run: bool = True
    counts: dict[str, int]
    rows: list[RecordPreviewRowRead]


@dataclass(frozen=True, kw_only=True)
class TrackBalanceRead:
    track: str
    account_id: uuid.UUID
    posted: int
    available: int
    pending_under_notice: int
    held_by_objection: int
    pending_other: int


@dataclass(frozen=True, kw_only=True)
class AwaitingRecordRead:
    id: uuid.UUID
    rule_id: str
    occurred_on: date
    scored_points: int
    stages_pending: list[str]
    recorder: str


@dataclass(frozen=True, kw_only=True)
class StandingRead:
    """A holder's points in one read: every track, and what is on its way."""

    holder_kind: str
    holder_id: uuid.UUID
    village_id: uuid.UUID
    tracks: list[TrackBalanceRead]
    awaiting_review_count: int
    awaiting_review_points: int
    awaiting_review: list[AwaitingRecordRead]


@dataclass(frozen=True, kw_only=True)
class ObjectionRead:
    id: uuid.UUID
    list_id: uuid.UUID
    item_id: uuid.UUID
    entry_id: uuid.UUID
    kind: str
    raised_by: str
    raised_on: date
    reason: str
    recorded_by: str
    state: str
    decided_by_role: str | None
    decided_by: str | None
    decided_on: date | None
    decision_reason: str | None
    created_at: datetime


# --- record amendments, sheets and batches (POST .../record-batches answers BatchRead) ---


@dataclass(frozen=True, kw_only=True)
class BatchItemRead(Generic[T]):
    """One item (or sheet row) of a batch: `result` when done, `problem` when refused;
    `status` is what a request of its own would have answered (201, 409, ...)."""

    index: int
    idempotency_key: str
    status: int
    replayed: bool  # done by an earlier request with this key, answered as then
    result: T | None
    problem: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class BatchRead(Generic[T]):
    atomic: bool
    done: int
    replayed: int
    refused: int
    items: list[BatchItemRead[T]]


# --- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint:
    id: uuid.UUID
    client_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointIssued(WebhookEndpoint):
    secret: str  # the signing secret (whsec_...): shown this once


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointSecretRotated(WebhookEndpointIssued):
    # Until when deliveries are signed with the replaced secret too (None: no longer).
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class WebhookAttempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class WebhookDelivery:
    id: uuid.UUID  # also the webhook-id header of every attempt
    endpoint_id: uuid.UUID
    event_type: str
    status: str  # pending, succeeded or failed
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class WebhookDeliveryDetail(WebhookDelivery):
    log: list[WebhookAttempt]


@dataclass(frozen=True, kw_only=True)
class WebhookEvent:
    """A verified delivery. For the points events `data` holds `entry_id`, `entry_code`,
    `memo`, `amount`, `balance_after`, `account_id`, `member_id`, `household_id`,
    `occurred_at` and `user_refs` (the client's users bound to the member); for a
    household's account moved by a member's charter record also `acting_member_id` and
    `acting_member_name` (masked: 张*明)."""

    webhook_id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]
