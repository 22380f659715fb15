"""Request and response bodies of the 以奖代补 API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from jifen.kit.schemas import InputSchema, Invalid, Schema


class WageRateCreate(InputSchema):
    effective_on: date = Field(examples=["2026-01-01"])
    fen_per_person_day: int = Field(gt=0, le=10_000_000, examples=[12_000])


class WageRateRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    effective_on: date
    fen_per_person_day: int
    created_at: datetime
    created_by: str


class ContributionCreate(InputSchema):
    kind: Literal["money", "in_kind"] = Field(description="群众自筹 money, or 认捐 in kind")
    amount_fen: int = Field(gt=0, le=10**11, description="the money, or the appraised value")
    description: str = Field(default="", max_length=400, examples=["水泥 20 吨"])
    contributed_on: date
    member_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None


class ContributionRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    village_id: uuid.UUID
    kind: str
    amount_fen: int
    description: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    contributed_on: date
    entry_id: uuid.UUID
    created_at: datetime
    created_by: str


class ScoreCreate(InputSchema):
    household_id: uuid.UUID
    score: int = Field(ge=1, le=100)
    comment: str = Field(default="", max_length=500)
    scored_on: date


class ScoreRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    household_id: uuid.UUID
    score: int
    comment: str
    scored_on: date
    created_at: datetime


class MeetingCreate(InputSchema):
    held_on: date
    topic: str = Field(min_length=1, max_length=200, examples=["村道硬化方案共谋会"])
    household_ids: list[uuid.UUID] = Field(max_length=5000)


class MeetingRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    held_on: date
    topic: str
    household_ids: list[str]
    created_at: datetime


class ParticipationRead(Schema):
    """Derived from the books and records, never typed in."""

    village_id: str
    period_start: date
    period_end: date
    households_total: int
    households_participating: int
    participation_share: str = Field(description="households taking part ÷ households")
    person_days: str
    labor_value_fen: int
    money_fen: int
    in_kind_fen: int
    planned_investment_fen: int
    residents_input_share: str = Field(description="(money + in kind + labor) ÷ investment")
    satisfaction_mean: str | None
    scoring_households: int
    meetings: int
    meeting_households: int


class SchemeVersionRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    version: int
    title: str
    effective_on: date
    document: dict[str, Any]
    document_sha256: str
    created_at: datetime
    created_by: str


class SettlementCreate(InputSchema):
    quarter: str | None = Field(default=None, pattern=r"^\d{4}[Qq][1-4]$", examples=["2026Q1"])
    period_start: date | None = None
    period_end: date | None = None

    @model_validator(mode="after")
    def _one_period(self) -> SettlementCreate:
        explicit = self.period_start is not None and self.period_end is not None
        if (self.quarter is None) == (not explicit) or (
            (self.period_start is None) != (self.period_end is None)
        ):
            raise Invalid(
                "give a quarter, or both period_start and period_end",
                "请给出一个季度，或同时给出 period_start 和 period_end",
            )
        return self


class SettlementRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    scheme_version_id: uuid.UUID
    period_start: date
    period_end: date
    status: Literal["draft", "approved"]
    inputs_sha256: str
    result_sha256: str
    csv_sha256: str
    xlsx_sha256: str
    total_fen: int
    created_at: datetime
    created_by: str
    approved_at: datetime | None
    approved_by: str | None
    entry_ids: dict[str, Any]
    result: dict[str, Any]
    withholdings: list[WithholdingRead] = Field(
        default_factory=list,
        description="with the scheme's withholding, once approved: each village's withheld "
        "part and what became of it",
    )


class WhatIfCreate(SettlementCreate):
    """The period, and exactly one of a scheme version of the township or a scheme
    document (validated as an upload is, its errors under `scheme.`)."""

    scheme_version_id: uuid.UUID | None = None
    scheme: dict[str, Any] | None = Field(
        default=None, description="a scheme document, as POST …/subsidy-schemes takes"
    )


class WhatIfScheme(Schema):
    scheme_version_id: str | None = Field(description="null for an inline document")
    scheme_version: int | None
    title: str
    document_sha256: str
    total_fen: int


class WhatIfBaseline(WhatIfScheme):
    source: Literal["approved", "draft", "scheme_in_force"] = Field(
        description="the period's approved settlement, else its latest draft, else what the "
        "scheme in force gives now (not stored)"
    )
    settlement_id: str | None


class WhatIfSide(Schema):
    eligible: bool
    score: str | None
    rank: int | None
    tier_id: str | None
    tier_label: str | None
    award_fen: int
    explanation: str


class WhatIfVillage(Schema):
    village_id: str
    code: str
    name: str
    region: str | None
    baseline: WhatIfSide | None = Field(description="null: the village was not in it")
    what_if: WhatIfSide | None
    difference_fen: int = Field(description="what-if award − baseline award")


class WhatIfRead(Schema):
    """Nothing stored, nothing booked."""

    township_id: str
    period_start: date
    period_end: date
    baseline: WhatIfBaseline
    what_if: WhatIfScheme
    facts_changed: bool = Field(
        description="the books changed since the stored baseline was computed: the "
        "difference is not the scheme's alone"
    )
    villages: list[WhatIfVillage]
    total_difference_fen: int


class AcceptanceCreate(InputSchema):
    accepted_on: date = Field(description="the day of the acceptance (验收)")
    accepted_by: str = Field(
        min_length=1, max_length=200, examples=["镇住建办 王工、村务监督委员会"]
    )
    outcome: Literal["passed", "failed"] = Field(description="合格 passed, 不合格 failed")
    note: str = Field(default="", max_length=2000)


class ReleaseCreate(InputSchema):
    village_id: uuid.UUID


class ReleaseRead(Schema):
    settlement_id: uuid.UUID
    village_id: uuid.UUID
    outcome: Literal["released", "returned"] = Field(
        description="released to the village's SUBSIDY account, or returned to the "
        "township's pool after a failed acceptance"
    )
    amount_fen: int
    entry_id: uuid.UUID
    acceptance_ids: list[str]
    released_at: datetime
    released_by: str


class WithholdingRead(Schema):
    settlement_id: uuid.UUID
    village_id: uuid.UUID
    amount_fen: int
    entry_id: uuid.UUID
    project_ids: list[str]
    release: ReleaseRead | None


class AcceptanceRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    village_id: uuid.UUID
    accepted_on: date
    accepted_by: str
    outcome: str
    note: str
    created_at: datetime
    created_by: str
    releases: list[ReleaseRead] = Field(
        default_factory=list, description="withheld subsidies this acceptance released"
    )


SettlementRead.model_rebuild()
