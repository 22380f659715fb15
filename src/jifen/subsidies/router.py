"""/v1 以奖代补: wage rates, what residents put into projects, participation, subsidy
schemes, settlements, their approval and their downloads."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.api.deps import CallerDep, ClockDep, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit import exports as kit_exports
from jifen.ledger import errors as ledger_errors
from jifen.models import Settlement
from jifen.problems import NotFound, problem_responses
from jifen.subsidies import errors, release, whatif
from jifen.subsidies import service as subsidies
from jifen.subsidies.plugins import q
from jifen.subsidies.schemas import (
    AcceptanceCreate,
    AcceptanceRead,
    ContributionCreate,
    ContributionRead,
    MeetingCreate,
    MeetingRead,
    ParticipationRead,
    ReleaseCreate,
    ReleaseRead,
    SchemeVersionRead,
    ScoreCreate,
    ScoreRead,
    SettlementCreate,
    SettlementRead,
    WageRateCreate,
    WageRateRead,
    WhatIfCreate,
    WhatIfRead,
    WithholdingRead,
)

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

Quarter = Annotated[str | None, Query(pattern=r"^\d{4}[Qq][1-4]$", examples=["2026Q1"])]
First = Annotated[date | None, Query(alias="from")]
Last = Annotated[date | None, Query(alias="to")]
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The settlement as CSV (UTF-8, for Excel) or XLSX, Chinese headers",
        "content": {m: {"schema": {"type": "string"}} for m in kit_exports.MEDIA_TYPES.values()},
    }
}


def _period(quarter: str | None, first: date | None, last: date | None) -> tuple[date, date]:
    if quarter is not None and first is None and last is None:
        return subsidies.quarter(quarter)
    if quarter is None and first is not None and last is not None and first <= last:
        return first, last
    raise errors.PeriodInvalid(
        "give a quarter, or from and to in that order",
        detail_zh="请给出一个季度，或按先后顺序给出 from 和 to",
    )


# --- wage rates ---------------------------------------------------------------------------


@router.post(
    "/townships/{township_id}/wage-rates",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Set the township's daily wage rate (工日单价) from a day on",
    responses=problem_responses(NotFound, errors.WageRateDateTaken),
)
@requires(Permission.FINANCE_SETTLE, on="township_id")
def create_wage_rate(
    township_id: uuid.UUID,
    body: WageRateCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> WageRateRead:
    rate = subsidies.create_wage_rate(
        session,
        township_id=township_id,
        effective_on=body.effective_on,
        fen_per_person_day=body.fen_per_person_day,
        actor=caller.actor,
        now=clock.now,
    )
    return WageRateRead.model_validate(rate)


@router.get(
    "/townships/{township_id}/wage-rates",
    tags=["subsidies"],
    summary="The township's daily wage rates, oldest first",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="township_id")
def list_wage_rates(township_id: uuid.UUID, session: SessionDep) -> list[WageRateRead]:
    return [WageRateRead.model_validate(r) for r in subsidies.list_wage_rates(session, township_id)]


# --- what residents put in ----------------------------------------------------------------


@router.post(
    "/projects/{project_id}/contributions",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Book money raised (群众自筹) or an appraised donation (认捐) for a project",
    responses=problem_responses(NotFound, errors.GiverInvalid, ledger_errors.AmountOutOfRange),
)
@requires(Permission.ACTIVITIES_MANAGE, on="project_id")
def create_contribution(
    project_id: uuid.UUID,
    body: ContributionCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ContributionRead:
    contribution = subsidies.record_contribution(
        session,
        project_id=project_id,
        kind=body.kind,
        amount_fen=body.amount_fen,
        description=body.description,
        contributed_on=body.contributed_on,
        member_id=body.member_id,
        household_id=body.household_id,
        organisation_id=body.organisation_id,
        actor=caller.actor,
        clock=clock,
    )
    return ContributionRead.model_validate(contribution)


@router.get(
    "/projects/{project_id}/contributions",
    tags=["subsidies"],
    summary="A project's money and donations, each with its ledger entry",
    responses=problem_responses(NotFound),
)
@requires(Permission.CHARTERS_READ, on="project_id")
def list_contributions(project_id: uuid.UUID, session: SessionDep) -> list[ContributionRead]:
    return [
        ContributionRead.model_validate(c)
        for c in subsidies.list_contributions(session, project_id)
    ]


@router.post(
    "/projects/{project_id}/scores",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Record a household's 共评 score of a project (1-100, once per household)",
    responses=problem_responses(NotFound, errors.ProjectAlreadyScored),
)
@requires(Permission.ACTIVITIES_MANAGE, on="project_id")
def create_project_score(
    project_id: uuid.UUID,
    body: ScoreCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ScoreRead:
    row = subsidies.score_project(
        session,
        project_id=project_id,
        household_id=body.household_id,
        score=body.score,
        comment=body.comment,
        scored_on=body.scored_on,
        actor=caller.actor,
        now=clock.now,
    )
    return ScoreRead.model_validate(row)


@router.post(
    "/projects/{project_id}/meetings",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Record a 共谋 meeting about a project and the households present",
    responses=problem_responses(NotFound),
)
@requires(Permission.ACTIVITIES_MANAGE, on="project_id")
def create_project_meeting(
    project_id: uuid.UUID,
    body: MeetingCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> MeetingRead:
    meeting = subsidies.record_meeting(
        session,
        project_id=project_id,
        held_on=body.held_on,
        topic=body.topic,
        household_ids=body.household_ids,
        actor=caller.actor,
        now=clock.now,
    )
    return MeetingRead.model_validate(meeting)


@router.get(
    "/villages/{village_id}/participation",
    tags=["subsidies"],
    summary="A village's participation indicators for a period, from its books",
    responses=problem_responses(NotFound, errors.PeriodInvalid, errors.WageRateMissing),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_participation(
    village_id: uuid.UUID,
    session: SessionDep,
    quarter: Quarter = None,
    first: First = None,
    last: Last = None,
) -> ParticipationRead:
    start, end = _period(quarter, first, last)
    facts = subsidies.participation(session, village_id=village_id, first=start, last=end)
    share = (
        Decimal(facts.households_participating) / facts.households_total
        if facts.households_total
        else Decimal(0)
    )
    given = facts.money_fen + facts.in_kind_fen + facts.labor_value_fen
    return ParticipationRead(
        village_id=facts.village_id,
        period_start=start,
        period_end=end,
        households_total=facts.households_total,
        households_participating=facts.households_participating,
        participation_share=str(q(share)),
        person_days=str(facts.person_days),
        labor_value_fen=facts.labor_value_fen,
        money_fen=facts.money_fen,
        in_kind_fen=facts.in_kind_fen,
        planned_investment_fen=facts.planned_investment_fen,
        residents_input_share=str(
            q(Decimal(given) / facts.planned_investment_fen)
            if facts.planned_investment_fen
            else Decimal(0)
        ),
        satisfaction_mean=str(q(Decimal(facts.scores_sum) / facts.scores_count))
        if facts.scores_count
        else None,
        scoring_households=facts.scores_count,
        meetings=facts.meetings,
        meeting_households=facts.meeting_households,
    )


# --- schemes and settlements --------------------------------------------------------------


@router.post(
    "/townships/{township_id}/subsidy-schemes",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Add a version of the township's subsidy scheme (以奖代补方案)",
    description="Validated whole: a 422 `subsidy_scheme_invalid` lists every error with its "
    "field (`indicators[1].normalise.target`). A version takes effect after every earlier "
    "version and every approved period.",
    responses=problem_responses(
        NotFound, errors.SchemeInvalidProblem, errors.SchemeEffectiveDateTaken
    ),
)
@requires(Permission.FINANCE_SETTLE, on="township_id")
def create_subsidy_scheme(
    township_id: uuid.UUID,
    body: dict[str, Any],
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> SchemeVersionRead:
    version = subsidies.create_scheme_version(
        session, township_id=township_id, data=body, actor=caller.actor, now=clock.now
    )
    return SchemeVersionRead.model_validate(version)


@router.get(
    "/townships/{township_id}/subsidy-schemes",
    tags=["subsidies"],
    summary="The township's subsidy scheme versions",
    responses=problem_responses(NotFound),
)
@requires(Permission.TENANCY_READ, on="township_id")
def list_subsidy_schemes(township_id: uuid.UUID, session: SessionDep) -> list[SchemeVersionRead]:
    return [
        SchemeVersionRead.model_validate(v)
        for v in subsidies.list_scheme_versions(session, township_id)
    ]


def _settlement_read(session: Any, settlement: Settlement) -> SettlementRead:
    approval = subsidies.approval_of(session, settlement.id)
    return SettlementRead(
        id=settlement.id,
        township_id=settlement.township_id,
        scheme_version_id=settlement.scheme_version_id,
        period_start=settlement.period_start,
        period_end=settlement.period_end,
        status="approved" if approval else "draft",
        inputs_sha256=settlement.inputs_sha256,
        result_sha256=settlement.result_sha256,
        csv_sha256=settlement.csv_sha256,
        xlsx_sha256=settlement.xlsx_sha256,
        total_fen=settlement.total_fen,
        created_at=settlement.created_at,
        created_by=settlement.created_by,
        approved_at=approval.approved_at if approval else None,
        approved_by=approval.approved_by if approval else None,
        entry_ids=approval.entry_ids if approval else {},
        result=subsidies.result_of(settlement),
        withholdings=_withholdings(session, settlement),
    )


def _withholdings(session: Any, settlement: Settlement) -> list[WithholdingRead]:
    released = release.releases_of(session, settlement.id)
    return [
        WithholdingRead(
            settlement_id=w.settlement_id,
            village_id=w.village_id,
            amount_fen=w.amount_fen,
            entry_id=w.entry_id,
            project_ids=w.project_ids,
            release=ReleaseRead.model_validate(released[w.village_id])
            if w.village_id in released
            else None,
        )
        for w in release.withholdings_of(session, settlement.id)
    ]


@router.post(
    "/townships/{township_id}/subsidy-settlements",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Compute a draft settlement for a period (a quarter by default)",
    description="Deterministic: the same books and scheme give back the same draft, byte "
    "for byte; changed books give a new draft.",
    responses=problem_responses(
        NotFound,
        errors.NoSchemeInForce,
        errors.PeriodInvalid,
        errors.PoolExceeded,
        errors.RegionUnknown,
        errors.VillageWithoutRegion,
        errors.WageRateMissing,
    ),
)
@requires(Permission.FINANCE_SETTLE, on="township_id")
def create_subsidy_settlement(
    township_id: uuid.UUID,
    body: SettlementCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> SettlementRead:
    first, last = _period(body.quarter, body.period_start, body.period_end)
    settlement = subsidies.draft(
        session, township_id=township_id, first=first, last=last, actor=caller.actor, now=clock.now
    )
    return _settlement_read(session, settlement)


@router.post(
    "/townships/{township_id}/subsidy-settlements/what-if",
    tags=["subsidies"],
    summary="What-if: the period under another scheme version or a draft document",
    description="Per village, the baseline (the period's approved settlement, else its "
    "latest draft, else what the scheme in force gives) beside the what-if award, tier and "
    "rank, and the difference; totals. Nothing is stored, nothing is booked.",
    responses=problem_responses(
        NotFound,
        errors.WhatIfSchemeInvalid,
        errors.SchemeInvalidProblem,
        errors.NoSchemeInForce,
        errors.PeriodInvalid,
        errors.PoolExceeded,
        errors.RegionUnknown,
        errors.VillageWithoutRegion,
        errors.WageRateMissing,
    ),
)
@requires(Permission.FINANCE_SETTLE, on="township_id")
def what_if_subsidy_settlement(
    township_id: uuid.UUID, body: WhatIfCreate, session: SessionDep
) -> WhatIfRead:
    first, last = _period(body.quarter, body.period_start, body.period_end)
    return WhatIfRead.model_validate(
        whatif.what_if(
            session,
            township_id=township_id,
            first=first,
            last=last,
            scheme_version_id=body.scheme_version_id,
            document=body.scheme,
        )
    )


@router.get(
    "/subsidy-settlements/{subsidy_settlement_id}",
    tags=["subsidies"],
    summary="A settlement: every village's indicators, score, tier, cap, award and reason",
    responses=problem_responses(NotFound),
)
@requires(Permission.BOOKS_READ, on="subsidy_settlement_id")
def get_subsidy_settlement(subsidy_settlement_id: uuid.UUID, session: SessionDep) -> SettlementRead:
    return _settlement_read(session, subsidies.get_settlement(session, subsidy_settlement_id))


@router.post(
    "/subsidy-settlements/{subsidy_settlement_id}/approval",
    tags=["subsidies"],
    summary="Approve a draft (not its drafter): freeze it and book the awards",
    description="One entry per village, township pool (FUNDING township_subsidy) → the "
    "village's SUBSIDY account. Approving again answers the approval; nothing books twice.",
    responses=problem_responses(
        NotFound,
        errors.SelfApproval,
        errors.SettlementApprovedAlready,
        errors.SettlementStale,
    ),
)
@requires(Permission.FINANCE_SETTLE, on="subsidy_settlement_id")
def approve_subsidy_settlement(
    subsidy_settlement_id: uuid.UUID, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> SettlementRead:
    subsidies.approve(session, settlement_id=subsidy_settlement_id, actor=caller.actor, clock=clock)
    return _settlement_read(session, subsidies.get_settlement(session, subsidy_settlement_id))


@router.get(
    "/subsidy-settlements/{subsidy_settlement_id}/export",
    tags=["subsidies"],
    summary="Download a settlement (CSV summary, or XLSX with a sheet per indicator)",
    description="The same bytes every time; their SHA-256 is the settlement's "
    "`csv_sha256` / `xlsx_sha256`.",
    response_class=Response,
    responses={**problem_responses(NotFound), **_DOWNLOAD},
)
@requires(Permission.FINANCE_EXPORT, on="subsidy_settlement_id")
def export_subsidy_settlement(
    subsidy_settlement_id: uuid.UUID,
    session: SessionDep,
    fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "xlsx",
) -> Response:
    content, stem = subsidies.export(session, subsidy_settlement_id, fmt)
    return Response(
        content,
        media_type=kit_exports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": kit_exports.content_disposition(f"{stem}.{fmt}"),
            "Cache-Control": "no-store",
        },
    )


# --- acceptance (验收) and the release of withheld awards -----------------------------------


@router.post(
    "/projects/{project_id}/acceptance",
    status_code=status.HTTP_201_CREATED,
    tags=["subsidies"],
    summary="Record a project's acceptance (验收), once; release what waited for it",
    description="passed sets the project's status to accepted. Every withheld part of an "
    "approved award whose projects are now all accepted moves at once: to the village's "
    "SUBSIDY account if all passed, back to the township's pool if one failed.",
    responses=problem_responses(NotFound, errors.ProjectAlreadyAccepted, errors.ProjectCancelled),
)
@requires(Permission.PROJECTS_ACCEPT, on="project_id")
def accept_project(
    project_id: uuid.UUID,
    body: AcceptanceCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> AcceptanceRead:
    acceptance, released = release.accept_project(
        session,
        project_id=project_id,
        accepted_on=body.accepted_on,
        accepted_by=body.accepted_by,
        outcome=body.outcome,
        note=body.note,
        actor=caller.actor,
        clock=clock,
    )
    read = AcceptanceRead.model_validate(acceptance)
    return read.model_copy(update={"releases": [ReleaseRead.model_validate(r) for r in released]})


@router.post(
    "/subsidy-settlements/{subsidy_settlement_id}/releases",
    tags=["subsidies"],
    summary="Release a village's withheld award after its projects' acceptance (验收)",
    description="Books the withheld part once: SUBSIDY(withheld) → the village's SUBSIDY "
    "account when every project of the period passed, or back to the township's pool "
    "(FUNDING township_subsidy) when one failed. Asking again answers the same release.",
    responses=problem_responses(
        NotFound,
        errors.NothingWithheld,
        errors.ReleaseNotAccepted,
        errors.ReleaseNoProject,
    ),
)
@requires(Permission.FINANCE_SETTLE, on="subsidy_settlement_id")
def release_withheld_subsidy(
    subsidy_settlement_id: uuid.UUID,
    body: ReleaseCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ReleaseRead:
    done = release.release(
        session,
        settlement_id=subsidy_settlement_id,
        village_id=body.village_id,
        actor=caller.actor,
        clock=clock,
    )
    return ReleaseRead.model_validate(done)
