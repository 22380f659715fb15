"""Request and response bodies of the ledger API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from jifen.api.batches import BATCH_ITEMS_MAX, ITEM_KEY_PATTERN, BatchCreate, check_keys_once
from jifen.kit.schemas import Details, InputSchema, Instant, Invalid, Schema, WholeNumber
from jifen.ledger import service
from jifen.ledger.policy import (
    ASSET_PATTERN,
    CODE_MANUAL_ADJUSTMENT,
    MANUAL_ADJUSTMENT_LABEL,
    AccountKind,
    Asset,
    Effect,
)

# An asset code: points, fen, or one of a supermarket's goods (G and its number).
AssetCode = Annotated[
    str,
    Field(
        pattern=ASSET_PATTERN,
        examples=["POINTS", "CNY", "G12"],
        description="POINTS (whole points), CNY (fen), or G<n>: units of the village's good "
        "number n on the supermarket's shelf",
    ),
]

# The widest balance floor a request may set (amounts are bounded by the booking limit).
AMOUNT_ABS_MAX = 10**15


class AccountCreate(InputSchema):
    village_id: uuid.UUID
    kind: AccountKind
    asset: Asset = Asset.POINTS
    category: str = Field(default="main", min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    member_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=200)
    balance_floor: WholeNumber | None = Field(
        default=None,
        ge=-AMOUNT_ABS_MAX,
        le=AMOUNT_ABS_MAX,
        description="Lowest available balance spending may leave. Omit for the kind's "
        "default: 0 for member, household, organisation and fund accounts, none otherwise.",
    )


class AccountRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    kind: AccountKind
    category: str
    asset: AssetCode
    balance_floor: int | None
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    name: str
    created_at: datetime


class BalanceRead(Schema):
    account_id: uuid.UUID
    asset: AssetCode
    posted: int = Field(description="Booked and effective, in points or fen")
    pending_debits: int = Field(description="Held out by pending entries")
    pending_credits: int = Field(description="On the way in from pending entries; not usable yet")
    available: int = Field(description="posted − pending_debits: what spending may use")
    pending_under_notice: int = Field(
        default=0,
        description="Of pending_credits: points on a notice list (公示) that post when it "
        "closes; not spendable yet",
    )
    held_by_objection: int = Field(
        default=0,
        description="Of pending_credits: points on a notice list held back by an objection "
        "waiting for its decision; not spendable",
    )
    balance_floor: int | None
    last_seq: int = Field(description="Sequence number of the last entry that moved it")

    @classmethod
    def of(
        cls,
        balance: service.Balance,
        *,
        pending_under_notice: int = 0,
        held_by_objection: int = 0,
    ) -> BalanceRead:
        return cls(
            pending_under_notice=pending_under_notice,
            held_by_objection=held_by_objection,
            account_id=balance.account_id,
            asset=balance.asset,
            posted=balance.posted,
            pending_debits=balance.pending_debits,
            pending_credits=balance.pending_credits,
            available=balance.available,
            balance_floor=balance.balance_floor,
            last_seq=balance.last_seq,
        )


class PostedBalanceRead(Schema):
    account_id: uuid.UUID
    at: datetime
    posted: int = Field(description="Posted balance counting entries effective at or before `at`")


class StatementNoticeRead(Schema):
    """The notice list (公示) a line's amount belongs to, and where it stands now."""

    notice_list_id: uuid.UUID
    list_state: str = Field(description="scheduled | open | closed")
    closes_on: date
    mode: str = Field(description="before | after")
    status: str = Field(
        description="pending (waits for the list to close), posted, voided, reversed, or "
        "under_objection (an objection waits for its decision)"
    )
    objection_id: uuid.UUID | None = Field(description="the objection waiting, if any")


class StatementLineRead(Schema):
    entry_id: uuid.UUID
    seq: int
    code: str
    memo: str
    amount: int
    effect: Effect
    balance_after: int = Field(description="The account's posted balance after this line")
    occurred_at: datetime
    recorded_at: datetime
    notice: StatementNoticeRead | None = Field(
        default=None,
        description="Set when the entry booked, posted, voided or reversed points of a "
        "notice list: why the amount is pending, held or posted",
    )

    @classmethod
    def annotated(cls, lines: list[Any], notes: Mapping[uuid.UUID, Any]) -> list[StatementLineRead]:
        """Lines with the notice list each belongs to (notes from the notice service)."""
        answer = []
        for line in lines:
            read = cls.model_validate(line)
            note = notes.get(line.entry_id)
            if note is not None:
                read.notice = StatementNoticeRead.model_validate(note)
            answer.append(read)
        return answer


class StatementRead(Schema):
    account_id: uuid.UUID
    items: list[StatementLineRead]
    next_cursor: str | None


class PostingCreate(InputSchema):
    account_id: uuid.UUID
    amount: WholeNumber = Field(
        description="Integer points (POINTS) or fen (CNY); positive credits the account, "
        "negative debits it.",
        examples=[6],
    )


class _EntryFields(InputSchema):
    code: str = Field(
        min_length=2, max_length=64, description="Why the entry exists", examples=["labor_award"]
    )
    postings: list[PostingCreate] = Field(
        description="At least two; they must sum to zero per asset."
    )
    memo: str = Field(default="", max_length=500, examples=["义务劳动 3 小时 × 2 分/小时 = 6 分"])
    metadata: Details = Field(default_factory=dict)
    occurred_at: Instant | None = Field(
        default=None,
        description="When it happened (effective time), with its UTC offset; defaults to now",
    )
    is_pending: bool = Field(
        default=False,
        description="Hold the amounts until the entry is posted or voided (e.g. 公示 period).",
    )
    allow_below_floor: bool = Field(
        default=False,
        description="Let this entry take balances below their floor; only for entry codes "
        "the village allows.",
    )
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=f"Required with code `{CODE_MANUAL_ADJUSTMENT}` (a manual adjustment, "
        f"{MANUAL_ADJUSTMENT_LABEL}) and refused with any other: why the points are "
        "adjusted by hand. The entry's memo and metadata show it (metadata.manual = true, "
        "metadata.reason).",
        examples=["村民代表大会决议补记 2026 年 10 月漏记的清扫积分"],
    )

    @model_validator(mode="after")
    def _reason_with_manual_adjustment(self) -> _EntryFields:
        if self.code == CODE_MANUAL_ADJUSTMENT and not (self.reason or "").strip():
            raise Invalid(
                f"a {CODE_MANUAL_ADJUSTMENT} entry needs a reason",
                f"{CODE_MANUAL_ADJUSTMENT}（手工调整）分录须写明理由",
            )
        if self.code != CODE_MANUAL_ADJUSTMENT and self.reason is not None:
            raise Invalid(
                f"reason is taken only with code {CODE_MANUAL_ADJUSTMENT}",
                f"只有 {CODE_MANUAL_ADJUSTMENT}（手工调整）分录可以填写理由",
            )
        return self

    def booked_memo(self) -> str:
        """The memo booked: a manual adjustment's says so, with its reason, first."""
        if self.code != CODE_MANUAL_ADJUSTMENT or self.reason is None:
            return self.memo
        memo = f"{MANUAL_ADJUSTMENT_LABEL}：{self.reason.strip()}"
        return (memo + (f"；{self.memo}" if self.memo else ""))[:500]

    def booked_details(self) -> dict[str, object]:
        if self.code != CODE_MANUAL_ADJUSTMENT or self.reason is None:
            return dict(self.metadata)
        return {**self.metadata, "manual": True, "reason": self.reason.strip()}


class EntryCreate(_EntryFields):
    village_id: uuid.UUID

    model_config = ConfigDict(
        from_attributes=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "village_id": "0190d0c2-9f3a-7c1e-8a55-1f2e3d4c5b6a",
                    "code": "labor_award",
                    "memo": "义务劳动 3 小时 × 2 分/小时 = 6 分",
                    "metadata": {"hours": 3, "project": "村道清扫"},
                    "postings": [
                        {"account_id": "0190d0c2-9f3a-7c1e-8a55-000000000001", "amount": -6},
                        {"account_id": "0190d0c2-9f3a-7c1e-8a55-000000000002", "amount": 6},
                    ],
                }
            ]
        },
    )


class EntryBatchItem(_EntryFields):
    """An entry of a batch, with the idempotency key that makes its retry safe."""

    idempotency_key: str = Field(
        pattern=ITEM_KEY_PATTERN, examples=["till-3-receipt-20261126-0042"]
    )


class EntryBatchCreate(BatchCreate):
    items: list[EntryBatchItem] = Field(min_length=1, max_length=BATCH_ITEMS_MAX)

    @model_validator(mode="after")
    def _keys_once(self) -> EntryBatchCreate:
        check_keys_once(item.idempotency_key for item in self.items)
        return self


class ReversalCreate(InputSchema):
    reason: str = Field(min_length=1, max_length=500, examples=["录入错误：重复记录"])
    metadata: Details = Field(default_factory=dict)


class VoidCreate(InputSchema):
    reason: str = Field(default="", max_length=500, examples=["公示期内异议成立"])


class PostingRead(Schema):
    position: int
    account_id: uuid.UUID
    asset: AssetCode
    amount: int
    effect: Effect
    balance_after: int


EntryStatus = Literal["posted", "pending", "voided", "reversed"]


class EntryRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    code: str
    memo: str
    metadata: dict[str, object]
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    is_pending: bool
    allow_below_floor: bool
    pending_entry_id: uuid.UUID | None
    reverses_entry_id: uuid.UUID | None
    idempotency_key: str | None
    status: EntryStatus
    reversed_by_entry_id: uuid.UUID | None
    resolved_by_entry_id: uuid.UUID | None
    prev_hash: str
    hash: str
    postings: list[PostingRead]

    @property
    def audit_note(self) -> str | None:
        """What the audit log says of a manual adjustment: 手工调整 and its reason."""
        return self.memo if self.code == CODE_MANUAL_ADJUSTMENT else None

    @classmethod
    def of(cls, view: service.EntryView) -> EntryRead:
        e = view.entry
        return cls(
            id=e.id,
            township_id=e.township_id,
            village_id=e.village_id,
            seq=e.seq,
            code=e.code,
            memo=e.memo,
            metadata=e.details,
            actor=e.actor,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
            is_pending=e.is_pending,
            allow_below_floor=e.allow_below_floor,
            pending_entry_id=e.pending_entry_id,
            reverses_entry_id=e.reverses_entry_id,
            idempotency_key=e.idempotency_key,
            status=view.status,  # type: ignore[arg-type]
            reversed_by_entry_id=view.reversed_by_entry_id,
            resolved_by_entry_id=view.resolved_by_entry_id,
            prev_hash=e.prev_hash,
            hash=e.hash,
            postings=[
                PostingRead(
                    position=p.position,
                    account_id=p.account_id,
                    asset=p.asset,
                    amount=p.amount,
                    effect=Effect(p.effect),
                    balance_after=p.balance_after,
                )
                for p in e.postings
            ],
        )


class ChainBreakRead(Schema):
    seq: int
    entry_id: uuid.UUID | None
    reason: str


class BalanceMismatchRead(Schema):
    account_id: uuid.UUID
    stored_posted: int
    replayed_posted: int
    stored_pending_debits: int
    replayed_pending_debits: int
    stored_pending_credits: int
    replayed_pending_credits: int


class VerificationRead(Schema):
    village_id: uuid.UUID
    is_intact: bool
    entries_checked: int
    last_seq: int
    first_break: ChainBreakRead | None
    balance_mismatches: list[BalanceMismatchRead]

    @classmethod
    def of(cls, v: service.Verification) -> VerificationRead:
        return cls(
            village_id=v.village_id,
            is_intact=v.is_intact,
            entries_checked=v.entries_checked,
            last_seq=v.last_seq,
            first_break=ChainBreakRead(**vars(v.first_break)) if v.first_break else None,
            balance_mismatches=[
                BalanceMismatchRead(
                    account_id=m.account_id,
                    stored_posted=m.stored.posted,
                    replayed_posted=m.replayed.posted,
                    stored_pending_debits=m.stored.pending_debits,
                    replayed_pending_debits=m.replayed.pending_debits,
                    stored_pending_credits=m.stored.pending_credits,
                    replayed_pending_credits=m.replayed.pending_credits,
                )
                for m in v.balance_mismatches
            ],
        )


class TrialBalanceLineRead(Schema):
    kind: str
    category: str
    asset: AssetCode
    accounts: int
    posted: int
    pending_debits: int
    pending_credits: int


class TrialBalanceTotalRead(Schema):
    asset: AssetCode
    posted: int
    pending_debits: int
    pending_credits: int


class TrialBalanceRead(Schema):
    village_id: uuid.UUID
    is_balanced: bool = Field(
        description="Per asset, posted balances sum to zero and pending debits equal "
        "pending credits"
    )
    lines: list[TrialBalanceLineRead]
    totals: list[TrialBalanceTotalRead]

    @classmethod
    def of(cls, tb: service.TrialBalance) -> TrialBalanceRead:
        return cls(
            village_id=tb.village_id,
            is_balanced=tb.is_balanced,
            lines=[TrialBalanceLineRead.model_validate(line) for line in tb.lines],
            totals=[
                TrialBalanceTotalRead(
                    asset=asset,
                    posted=t.posted,
                    pending_debits=t.pending_debits,
                    pending_credits=t.pending_credits,
                )
                for asset, t in sorted(tb.totals.items())
            ],
        )
