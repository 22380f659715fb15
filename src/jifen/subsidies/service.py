"""以奖代补 services: wage rates, contributions, 共评 scores, 共谋 meetings, scheme
versions, the facts a settlement reads from the books, drafts, approval and exports.

Services flush, never commit. Money moves only through the ledger service.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.charters import service as charters
from jifen.kit.canonical import canonical_json, sha256_hex
from jifen.kit.ids import new_id
from jifen.labor import service as labor
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import (
    Contribution,
    Household,
    HouseholdMembership,
    Meeting,
    Member,
    Organisation,
    Project,
    ProjectScore,
    Record,
    SchemeVersion,
    Settlement,
    SettlementApproval,
    Village,
    WageRate,
)
from jifen.problems import NotFound
from jifen.records import service as records
from jifen.subsidies import errors, exports, policy, release
from jifen.subsidies.plugins import VillageFacts, q, yuan
from jifen.subsidies.scheme import Scheme, SchemeInvalid, compile_scheme
from jifen.tenancy import service as tenancy
from jifen.webhooks import events

HOURS_PER_PERSON_DAY = 8  # 一个工日按 8 小时计
FUNDING_CONTRIBUTIONS = "contributions"
FUNDING_TOWNSHIP = "township_subsidy"
CODE_CONTRIBUTION = "project_contribution"
CODE_DONATION = "project_donation"
CODE_AWARD = "subsidy_award"
AWARD_ACTOR = "system:subsidies"


# --- wage rates -------------------------------------------------------------------------


def create_wage_rate(
    session: Session,
    *,
    township_id: uuid.UUID,
    effective_on: date,
    fen_per_person_day: int,
    actor: str,
    now: datetime,
) -> WageRate:
    tenancy.get_township(session, township_id)
    rate = WageRate(
        id=new_id(),
        township_id=township_id,
        effective_on=effective_on,
        fen_per_person_day=fen_per_person_day,
        created_at=now,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(rate)
    except IntegrityError:
        raise errors.WageRateDateTaken(
            f"a rate from {effective_on} exists",
            detail_zh=f"已有自 {effective_on} 起的工日单价",
            effective_on=effective_on.isoformat(),
        ) from None
    return rate


def list_wage_rates(session: Session, township_id: uuid.UUID) -> list[WageRate]:
    tenancy.get_township(session, township_id)
    return list(
        session.execute(
            select(WageRate)
            .where(WageRate.township_id == township_id)
            .order_by(WageRate.effective_on)
        ).scalars()
    )


# --- what residents put in ---------------------------------------------------------------


def _household_on(session: Session, member_id: uuid.UUID, day: date) -> uuid.UUID | None:
    """The member's household on the day; for a member registered after it (the books
    often start after the work), the first household they were registered in."""
    return _households_on(session, {(member_id, day)})[(member_id, day)]


# Members whose memberships one query loads (an IN list each backend takes comfortably).
MEMBERS_PER_QUERY = 500


def _households_on(
    session: Session, wanted: set[tuple[uuid.UUID, date]]
) -> dict[tuple[uuid.UUID, date], uuid.UUID | None]:
    """_household_on for many (member, day) pairs, with one query per MEMBERS_PER_QUERY
    members rather than one per pair (a county's quarter has a million records)."""
    members = sorted({member_id for member_id, _ in wanted})
    memberships: dict[uuid.UUID, list[tuple[uuid.UUID, date, date | None]]] = defaultdict(list)
    for start in range(0, len(members), MEMBERS_PER_QUERY):
        for member_id, household_id, joined_on, left_on in session.execute(
            select(
                HouseholdMembership.member_id,
                HouseholdMembership.household_id,
                HouseholdMembership.joined_on,
                HouseholdMembership.left_on,
            )
            .where(HouseholdMembership.member_id.in_(members[start : start + MEMBERS_PER_QUERY]))
            .order_by(
                HouseholdMembership.member_id,
                HouseholdMembership.joined_on,
                HouseholdMembership.id,
            )
        ):
            memberships[member_id].append((household_id, joined_on, left_on))
    found: dict[tuple[uuid.UUID, date], uuid.UUID | None] = {}
    for member_id, day in wanted:
        rows = memberships.get(member_id, [])
        current = [h for h, joined, left in rows if joined <= day and (left is None or left > day)]
        later = [h for h, joined, _ in rows if joined > day]
        found[(member_id, day)] = current[0] if current else later[0] if later else None
    return found


def _project_account(session: Session, project: Project, now: datetime) -> uuid.UUID:
    found = ledger.find_account_id(
        session,
        village_id=project.village_id,
        kind=AccountKind.PROJECT,
        asset=Asset.CNY,
        category=project.code,
    )
    if found is None:
        found = ledger.open_account(
            session,
            village_id=project.village_id,
            kind=AccountKind.PROJECT,
            asset=Asset.CNY,
            category=project.code,
            name=f"项目资金：{project.name}",
            now=now,
        ).id
    return found


def _funding(session: Session, village_id: uuid.UUID, category: str, now: datetime) -> uuid.UUID:
    found = ledger.find_account_id(
        session, village_id=village_id, kind=AccountKind.FUNDING, asset=Asset.CNY, category=category
    )
    if found is None:
        name = {FUNDING_CONTRIBUTIONS: "群众自筹与认捐", FUNDING_TOWNSHIP: "乡镇以奖代补资金"}
        found = ledger.open_account(
            session,
            village_id=village_id,
            kind=AccountKind.FUNDING,
            asset=Asset.CNY,
            category=category,
            name=name.get(category, category),
            now=now,
        ).id
    return found


def record_contribution(
    session: Session,
    *,
    project_id: uuid.UUID,
    kind: str,
    amount_fen: int,
    description: str,
    contributed_on: date,
    member_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
    organisation_id: uuid.UUID | None,
    actor: str,
    clock: ledger.Clock,
    idempotency_key: str | None = None,
) -> Contribution:
    """Book money (群众自筹) or an appraised donation (认捐) into the project's account."""
    project = labor.get_project(session, project_id)
    if sum(x is not None for x in (member_id, household_id, organisation_id)) != 1:
        raise errors.GiverInvalid(
            "name exactly one of member_id, household_id, organisation_id",
            detail_zh="member_id、household_id、organisation_id 须且只须填写一项",
        )
    giver = ""
    if member_id is not None:
        member = session.get(Member, member_id)
        if member is None or member.village_id != project.village_id:
            raise NotFound("member", member_id)
        household_id = _household_on(session, member_id, contributed_on)
        giver = member.name
    elif household_id is not None:
        household = session.get(Household, household_id)
        if household is None or household.village_id != project.village_id:
            raise NotFound("household", household_id)
        giver = household.name
    else:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or organisation.township_id != project.township_id:
            raise NotFound("organisation", organisation_id)
        giver = organisation.name
    if household_id is None and organisation_id is None:
        raise errors.GiverInvalid(
            f"member {member_id} was in no household on {contributed_on}",
            detail_zh=f"村民 {member_id} 在 {contributed_on} 不属于任何一户",
        )
    what = "群众自筹" if kind == "money" else "认捐"
    entry = ledger.book(
        session,
        village_id=project.village_id,
        code=CODE_CONTRIBUTION if kind == "money" else CODE_DONATION,
        postings=[
            ledger.PostingInput(
                _funding(session, project.village_id, FUNDING_CONTRIBUTIONS, clock.now),
                -amount_fen,
            ),
            ledger.PostingInput(_project_account(session, project, clock.now), amount_fen),
        ],
        actor=actor,
        clock=clock,
        memo=f"{project.name}：{giver} {what} {yuan(amount_fen)} 元 {description}".strip(),
        details={"project_id": project.id.hex, "kind": kind},
        idempotency_key=idempotency_key,
    )
    if entry.replayed:
        return session.execute(
            select(Contribution).where(Contribution.entry_id == entry.entry.id)
        ).scalar_one()
    contribution = Contribution(
        id=new_id(),
        township_id=project.township_id,
        village_id=project.village_id,
        project_id=project.id,
        kind=kind,
        amount_fen=amount_fen,
        description=description,
        member_id=member_id,
        household_id=household_id,
        organisation_id=organisation_id,
        contributed_on=contributed_on,
        entry_id=entry.entry.id,
        created_at=clock.now,
        created_by=actor,
    )
    session.add(contribution)
    session.flush()
    return contribution


def list_contributions(session: Session, project_id: uuid.UUID) -> list[Contribution]:
    labor.get_project(session, project_id)
    return list(
        session.execute(
            select(Contribution)
            .where(Contribution.project_id == project_id)
            .order_by(Contribution.contributed_on, Contribution.id)
        ).scalars()
    )


def score_project(
    session: Session,
    *,
    project_id: uuid.UUID,
    household_id: uuid.UUID,
    score: int,
    comment: str,
    scored_on: date,
    actor: str,
    now: datetime,
) -> ProjectScore:
    project = labor.get_project(session, project_id)
    household = session.get(Household, household_id)
    if household is None or household.village_id != project.village_id:
        raise NotFound("household", household_id)
    row = ProjectScore(
        id=new_id(),
        township_id=project.township_id,
        village_id=project.village_id,
        project_id=project.id,
        household_id=household_id,
        score=score,
        comment=comment,
        scored_on=scored_on,
        created_at=now,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise errors.ProjectAlreadyScored(
            f"household {household_id} has scored project {project_id}",
            detail_zh=f"户 {household_id} 已就项目 {project_id} 计过分",
            household_id=str(household_id),
        ) from None
    return row


def record_meeting(
    session: Session,
    *,
    project_id: uuid.UUID,
    held_on: date,
    topic: str,
    household_ids: list[uuid.UUID],
    actor: str,
    now: datetime,
) -> Meeting:
    project = labor.get_project(session, project_id)
    wanted = set(household_ids)
    found = set(
        session.execute(
            select(Household.id).where(
                Household.id.in_(wanted), Household.village_id == project.village_id
            )
        ).scalars()
    )
    for missing in sorted(wanted - found):
        raise NotFound("household", missing)
    meeting = Meeting(
        id=new_id(),
        township_id=project.township_id,
        village_id=project.village_id,
        project_id=project.id,
        held_on=held_on,
        topic=topic,
        household_ids=sorted(h.hex for h in wanted),
        created_at=now,
        created_by=actor,
    )
    session.add(meeting)
    session.flush()
    return meeting


# --- facts --------------------------------------------------------------------------------


def _rate_on(rates: list[WageRate], day: date) -> int | None:
    found = [r for r in rates if r.effective_on <= day]
    return found[-1].fen_per_person_day if found else None


def village_facts(
    session: Session, *, township_id: uuid.UUID, first: date, last: date
) -> list[VillageFacts]:
    """Each village's facts for the period, from labor records, contribution entries,
    scores and meetings. Labor counts approved and capped records of projects."""
    villages = list(
        session.execute(
            select(Village).where(Village.township_id == township_id).order_by(Village.code)
        ).scalars()
    )
    ids = [v.id for v in villages]
    # The denominator: the households registered when the settlement is computed. The
    # settlement keeps the count, so it is frozen with it (a later one makes it stale).
    households = dict(
        session.execute(
            select(Household.village_id, func.count(Household.id))
            .where(Household.village_id.in_(ids))
            .group_by(Household.village_id)
        ).all()
    )
    person_days: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    labor_fen: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    rates = list_wage_rates(session, township_id)
    counted = (
        Record.village_id.in_(ids),
        Record.project_id.is_not(None),
        Record.status.in_(records.COUNTED),
        Record.occurred_on >= first,
        Record.occurred_on <= last,
    )
    # Aggregated in SQL (a county's quarter has a million records): labor grouped by
    # village, rule, day and quantity — the quantity is exact decimal text, which SQLite
    # cannot sum exactly, so each group's count multiplies its quantity here, in Decimal;
    # the day picks the wage rate in force.
    groups = session.execute(
        select(
            Record.village_id,
            Record.charter_version_id,
            Record.rule_id,
            Record.occurred_on,
            Record.quantity,
            func.count(),
        )
        .where(*counted)
        .group_by(
            Record.village_id,
            Record.charter_version_id,
            Record.rule_id,
            Record.occurred_on,
            Record.quantity,
        )
    ).all()
    versions = charters.versions_named(session, sorted({g.charter_version_id for g in groups}))
    for village_id, version_id, rule_id, occurred_on, quantity, times in groups:
        rule = charters.compiled(versions[version_id]).rule(rule_id)
        unit = labor.unit_of(rule) if rule is not None else labor.DEFAULT_UNIT
        total = Decimal(quantity) * times
        days = {"person_day": total, "hour": total / HOURS_PER_PERSON_DAY}.get(unit)
        if days is None:
            continue
        rate = _rate_on(rates, occurred_on)
        if rate is None:
            raise errors.WageRateMissing(
                f"no 工日单价 in force on {occurred_on}",
                detail_zh=f"{occurred_on} 没有生效的工日单价",
                day=occurred_on.isoformat(),
            )
        person_days[village_id] += days
        labor_fen[village_id] += days * rate
    money: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    contributed = (
        Contribution.village_id.in_(ids),
        Contribution.contributed_on >= first,
        Contribution.contributed_on <= last,
    )
    for village_id, kind, amount in session.execute(
        select(Contribution.village_id, Contribution.kind, func.sum(Contribution.amount_fen))
        .where(*contributed)
        .group_by(Contribution.village_id, Contribution.kind)
    ):
        money[(village_id, kind)] += int(amount)
    scored = (
        ProjectScore.village_id.in_(ids),
        ProjectScore.scored_on >= first,
        ProjectScore.scored_on <= last,
    )
    scores: dict[uuid.UUID, tuple[int, int]] = {
        village_id: (int(count), int(total))
        for village_id, count, total in session.execute(
            select(ProjectScore.village_id, func.count(), func.sum(ProjectScore.score))
            .where(*scored)
            .group_by(ProjectScore.village_id)
        )
    }
    # Who took part: the households named by labor records, contributions and scores,
    # counted per village in SQL (UNION drops repeats)...
    named = union(
        select(Record.village_id, Record.household_id).where(
            *counted, Record.household_id.is_not(None)
        ),
        select(Contribution.village_id, Contribution.household_id).where(
            *contributed, Contribution.household_id.is_not(None)
        ),
        select(ProjectScore.village_id, ProjectScore.household_id).where(*scored),
    ).subquery()
    taking_part: dict[uuid.UUID, int] = defaultdict(int)
    for village_id, households_named in session.execute(
        select(named.c.village_id, func.count()).group_by(named.c.village_id)
    ):
        taking_part[village_id] += int(households_named)
    # ... and, for a member's labor recorded without a household, the household they were
    # in on the day, unless it is counted already.
    unhoused = session.execute(
        select(Record.village_id, Record.member_id, Record.occurred_on)
        .where(*counted, Record.household_id.is_(None))
        .distinct()
    ).all()
    households_on = _households_on(session, {(r.member_id, r.occurred_on) for r in unhoused})
    found = {
        (row.village_id, household)
        for row in unhoused
        if (household := households_on[(row.member_id, row.occurred_on)]) is not None
    }
    if found:
        seen = set(
            session.execute(
                select(named.c.village_id, named.c.household_id).where(
                    named.c.household_id.in_(sorted({h for _, h in found}))
                )
            ).tuples()
        )
        for village_id, _ in found - seen:
            taking_part[village_id] += 1
    meetings: dict[uuid.UUID, list[int]] = defaultdict(list)
    for meeting in session.execute(
        select(Meeting).where(
            Meeting.village_id.in_(ids), Meeting.held_on >= first, Meeting.held_on <= last
        )
    ).scalars():
        meetings[meeting.village_id].append(len(meeting.household_ids))
    investment: dict[uuid.UUID, int] = defaultdict(int)
    for project in session.execute(
        select(Project).where(
            Project.village_id.in_(ids),
            Project.status != "cancelled",
            or_(Project.starts_on.is_(None), Project.starts_on <= last),
            or_(Project.ends_on.is_(None), Project.ends_on >= first),
        )
    ).scalars():
        investment[project.village_id] += project.planned_investment_fen
    return [
        VillageFacts(
            village_id=v.id.hex,
            code=v.code,
            name=v.name,
            households_total=int(households.get(v.id, 0)),
            households_participating=taking_part[v.id],
            person_days=q(person_days[v.id]),
            labor_value_fen=int(labor_fen[v.id].quantize(Decimal(1), ROUND_HALF_UP)),
            money_fen=money[(v.id, "money")],
            in_kind_fen=money[(v.id, "in_kind")],
            planned_investment_fen=investment[v.id],
            scores_count=scores.get(v.id, (0, 0))[0],
            scores_sum=scores.get(v.id, (0, 0))[1],
            meetings=len(meetings[v.id]),
            meeting_households=sum(meetings[v.id]),
            region=v.region,
        )
        for v in villages
    ]


# --- schemes ------------------------------------------------------------------------------


def create_scheme_version(
    session: Session, *, township_id: uuid.UUID, data: Any, actor: str, now: datetime
) -> SchemeVersion:
    tenancy.get_township(session, township_id)
    try:
        scheme = compile_scheme(data)
    except SchemeInvalid as invalid:
        raise errors.SchemeInvalidProblem(
            str(invalid),
            detail_zh=f"补助方案文件有 {len(invalid.errors)} 处错误："
            + "、".join(dict.fromkeys(e.field for e in invalid.errors)),
            errors=[e.as_error() for e in invalid.errors],
        ) from None
    effective_on = scheme.document.effective_on
    latest = session.execute(
        select(func.max(SchemeVersion.effective_on)).where(SchemeVersion.township_id == township_id)
    ).scalar_one_or_none()
    settled = session.execute(
        select(func.max(SettlementApproval.period_end)).where(
            SettlementApproval.township_id == township_id
        )
    ).scalar_one_or_none()
    if (latest is not None and effective_on <= latest) or (
        settled is not None and effective_on <= settled
    ):
        raise errors.SchemeEffectiveDateTaken(
            f"effective_on {effective_on} is not after {max(d for d in (latest, settled) if d)}",
            detail_zh=f"生效日期 {effective_on} 不晚于 {max(d for d in (latest, settled) if d)}",
            effective_on=effective_on.isoformat(),
        )
    number = session.execute(
        select(func.coalesce(func.max(SchemeVersion.version), 0)).where(
            SchemeVersion.township_id == township_id
        )
    ).scalar_one()
    document = scheme.document.model_dump(mode="json")
    version = SchemeVersion(
        id=new_id(),
        township_id=township_id,
        version=int(number) + 1,
        title=scheme.document.title,
        effective_on=effective_on,
        document=document,
        document_sha256=sha256_hex(canonical_json(document)),
        created_at=now,
        created_by=actor,
    )
    session.add(version)
    session.flush()
    return version


def list_scheme_versions(session: Session, township_id: uuid.UUID) -> list[SchemeVersion]:
    tenancy.get_township(session, township_id)
    return list(
        session.execute(
            select(SchemeVersion)
            .where(SchemeVersion.township_id == township_id)
            .order_by(SchemeVersion.version)
        ).scalars()
    )


def scheme_in_force(session: Session, township_id: uuid.UUID, day: date) -> SchemeVersion:
    found = session.execute(
        select(SchemeVersion)
        .where(SchemeVersion.township_id == township_id, SchemeVersion.effective_on <= day)
        .order_by(SchemeVersion.effective_on.desc())
        .limit(1)
    ).scalar_one_or_none()
    if found is None:
        raise errors.NoSchemeInForce(
            f"no scheme in force on {day}",
            detail_zh=f"{day} 没有生效的补助方案",
            day=day.isoformat(),
        )
    return found


# --- settlements --------------------------------------------------------------------------


def quarter(text: str) -> tuple[date, date]:
    """2026Q1 → 2026-01-01 … 2026-03-31."""
    try:
        year, number = int(text[:4]), int(text[5:])
        if len(text) != 6 or text[4] not in "Qq" or not 1 <= number <= 4:
            raise ValueError
    except ValueError:
        raise errors.PeriodInvalid(
            f"{text!r} is not a quarter such as 2026Q1",
            detail_zh=f"“{text}”不是季度（应写作 2026Q1 这样的格式）",
        ) from None
    first = date(year, 3 * number - 2, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, following - timedelta(days=1)


@dataclass(frozen=True)
class Computed:
    scheme_version: SchemeVersion
    inputs_sha256: str
    result: dict[str, Any]
    result_bytes: bytes


def _labels(scheme: Scheme) -> list[dict[str, str]]:
    return [{"id": i.document.id, "label": i.label} for i in scheme.indicators]


def settle_facts(scheme: Scheme, facts: list[VillageFacts]) -> dict[str, Any]:
    """policy.settle, its refusals as problems."""
    try:
        return policy.settle(scheme, facts)
    except policy.PoolExceeded as exceeded:
        raise errors.PoolExceeded(
            str(exceeded),
            detail_zh=f"奖补合计 {yuan(exceeded.total_fen)} 元，超过资金池 "
            f"{yuan(exceeded.pool_fen)} 元",
            total_fen=exceeded.total_fen,
            pool_fen=exceeded.pool_fen,
        ) from None
    except policy.RegionUnknown as unknown:
        raise errors.RegionUnknown(
            str(unknown),
            detail_zh="；".join(f"{p['field']}：{p['message_zh']}" for p in unknown.problems),
            errors=unknown.problems,
            regions=unknown.known,
        ) from None
    except policy.RegionMissing as missing:
        raise errors.VillageWithoutRegion(
            str(missing),
            detail_zh="方案按片区计算（"
            + "、".join(missing.fields)
            + "），以下村未划入片区："
            + "、".join(f"{v['name']}（{v['code']}）" for v in missing.villages),
            fields=missing.fields,
            villages=missing.villages,
        ) from None


def compute(session: Session, *, township_id: uuid.UUID, first: date, last: date) -> Computed:
    tenancy.get_township(session, township_id)
    if last < first:
        raise errors.PeriodInvalid(
            f"the period ends {last}, before it starts {first}",
            detail_zh=f"期间的结束日期 {last} 早于开始日期 {first}",
        )
    version = scheme_in_force(session, township_id, first)
    scheme = compile_scheme(version.document)
    facts = village_facts(session, township_id=township_id, first=first, last=last)
    rates = [
        {"effective_on": r.effective_on.isoformat(), "fen_per_person_day": r.fen_per_person_day}
        for r in list_wage_rates(session, township_id)
        if r.effective_on <= last
    ]
    inputs = {
        "township_id": township_id,
        "period": {"start": first, "end": last},
        "scheme": {"id": version.id, "sha256": version.document_sha256},
        "wage_rates": rates,
        "facts": [f.as_json() for f in facts],
    }
    # With a scheme's withholding: each award's paid-now and withheld parts (release.py).
    outcome = release.annotate(scheme, settle_facts(scheme, facts))
    result = {
        "township_id": township_id.hex,
        "period": {"start": first.isoformat(), "end": last.isoformat()},
        "scheme": {
            "version_id": version.id.hex,
            "version": version.version,
            "title": version.title,
            "document_sha256": version.document_sha256,
        },
        "indicators": _labels(scheme),
        "wage_rates": rates,
        **outcome,
    }
    result_bytes = canonical_json(result)
    return Computed(version, sha256_hex(canonical_json(inputs)), result, result_bytes)


def draft(
    session: Session,
    *,
    township_id: uuid.UUID,
    first: date,
    last: date,
    actor: str,
    now: datetime,
) -> Settlement:
    """Compute the period's settlement; the same inputs give back the stored draft."""
    computed = compute(session, township_id=township_id, first=first, last=last)
    existing = session.execute(
        select(Settlement).where(
            Settlement.township_id == township_id,
            Settlement.period_start == first,
            Settlement.period_end == last,
            Settlement.inputs_sha256 == computed.inputs_sha256,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    # The exports are made from the stored bytes, as every later download is.
    result = json.loads(computed.result_bytes)
    csv_bytes = exports.to_settlement_csv(result)
    xlsx_bytes = exports.to_settlement_xlsx(result, result["indicators"])
    settlement = Settlement(
        id=new_id(),
        township_id=township_id,
        scheme_version_id=computed.scheme_version.id,
        period_start=first,
        period_end=last,
        inputs_sha256=computed.inputs_sha256,
        result=computed.result_bytes.decode("utf-8"),
        result_sha256=sha256_hex(computed.result_bytes),
        csv_sha256=sha256_hex(csv_bytes),
        xlsx_sha256=sha256_hex(xlsx_bytes),
        total_fen=int(result["total_fen"]),
        created_at=now,
        created_by=actor,
    )
    session.add(settlement)
    session.flush()
    return settlement


def get_settlement(session: Session, settlement_id: uuid.UUID) -> Settlement:
    found = session.get(Settlement, settlement_id)
    if found is None:
        raise NotFound("subsidy settlement", settlement_id)
    return found


def approval_of(session: Session, settlement_id: uuid.UUID) -> SettlementApproval | None:
    return session.get(SettlementApproval, settlement_id)


def result_of(settlement: Settlement) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(settlement.result)
    return loaded


def approve(
    session: Session, *, settlement_id: uuid.UUID, actor: str, clock: ledger.Clock
) -> SettlementApproval:
    """Freeze the settlement and book each village's award, once."""
    settlement = get_settlement(session, settlement_id)
    done = approval_of(session, settlement_id)
    if done is not None:
        return done
    if settlement.created_by == actor:
        raise errors.SelfApproval(
            f"{actor} drafted this settlement",
            detail_zh=f"该结算单由 {actor} 起草",
            drafted_by=actor,
        )
    other = session.execute(
        select(SettlementApproval.settlement_id).where(
            SettlementApproval.township_id == settlement.township_id,
            SettlementApproval.period_start == settlement.period_start,
            SettlementApproval.period_end == settlement.period_end,
        )
    ).scalar_one_or_none()
    if other is not None:
        raise errors.SettlementApprovedAlready(
            f"settlement {other} of this period is approved",
            detail_zh=f"本期间的结算单 {other} 已获批",
            settlement_id=str(other),
        )
    now_inputs = compute(
        session,
        township_id=settlement.township_id,
        first=settlement.period_start,
        last=settlement.period_end,
    ).inputs_sha256
    if now_inputs != settlement.inputs_sha256:
        raise errors.SettlementStale(
            "the books changed since the draft",
            detail_zh="草稿计算后账目已变动",
            inputs_sha256=now_inputs,
        )
    result = result_of(settlement)
    period = f"{settlement.period_start}至{settlement.period_end}"
    entry_ids: dict[str, str] = {}
    withheld_parts = []
    for village in result["villages"]:
        amount = int(village["award_fen"])
        if amount <= 0:
            continue
        village_id = uuid.UUID(village["village_id"])
        # Where the money may go: the village's projects of the period (earmark).
        project_ids = release.project_ids_of(
            session, village_id, settlement.period_start, settlement.period_end
        )
        withheld = int(village.get("withheld_fen", 0))
        if withheld > 0:
            withheld_parts.append(
                release.withhold(
                    session,
                    settlement=settlement,
                    village_id=village_id,
                    amount_fen=withheld,
                    project_ids=project_ids,
                    memo=f"{period} 以奖代补暂扣（待项目验收）：{village['explanation']}",
                    clock=clock,
                )
            )
            amount -= withheld
        subsidy = ledger.find_account_id(
            session, village_id=village_id, kind=AccountKind.SUBSIDY, asset=Asset.CNY
        )
        if subsidy is None:
            subsidy = ledger.open_account(
                session,
                village_id=village_id,
                kind=AccountKind.SUBSIDY,
                asset=Asset.CNY,
                name="以奖代补资金（限用于项目建设）",
                now=clock.now,
            ).id
        entry = ledger.book(
            session,
            village_id=village_id,
            code=CODE_AWARD,
            postings=[
                ledger.PostingInput(
                    _funding(session, village_id, FUNDING_TOWNSHIP, clock.now), -amount
                ),
                ledger.PostingInput(subsidy, amount),
            ],
            actor=AWARD_ACTOR,
            clock=clock,
            memo=f"{period} 以奖代补：{village['explanation']}"[:500],
            details={
                "settlement_id": settlement.id.hex,
                "result_sha256": settlement.result_sha256,
                "earmark": release.EARMARK,
                "project_ids": project_ids,
            },
            idempotency_key=f"subsidy-settlement:{settlement.id.hex}",
        )
        entry_ids[village["village_id"]] = entry.entry.id.hex
    approval = SettlementApproval(
        settlement_id=settlement.id,
        township_id=settlement.township_id,
        period_start=settlement.period_start,
        period_end=settlement.period_end,
        approved_at=clock.now,
        approved_by=actor,
        entry_ids=entry_ids,
    )
    session.add(approval)
    session.flush()
    session.add_all(withheld_parts)
    session.flush()
    withheld_entries = {w.village_id.hex: w.entry_id.hex for w in withheld_parts}
    events.emit(
        session,
        event_type=events.EventType.SETTLEMENT_APPROVED,
        township_id=settlement.township_id,
        village_id=None,
        data={
            "settlement_id": str(settlement.id),
            "period_start": settlement.period_start.isoformat(),
            "period_end": settlement.period_end.isoformat(),
            "approved_by": actor,
            "result_sha256": settlement.result_sha256,
            "total_fen": sum(int(v["award_fen"]) for v in result["villages"]),
            "villages": [
                {
                    "village_id": v["village_id"],
                    "award_fen": int(v["award_fen"]),
                    "entry_id": entry_ids.get(v["village_id"]),
                    # With withholding, the parts and the withheld part's entry.
                    **(
                        {
                            "paid_now_fen": int(v["paid_now_fen"]),
                            "withheld_fen": int(v["withheld_fen"]),
                            "withheld_entry_id": withheld_entries.get(v["village_id"]),
                        }
                        if "withheld_fen" in v
                        else {}
                    ),
                }
                for v in result["villages"]
            ],
        },
        now=clock.now,
    )
    return approval


def export(session: Session, settlement_id: uuid.UUID, fmt: str) -> tuple[bytes, str]:
    """The settlement's file and its stem; the bytes are those whose SHA-256 was kept."""
    settlement = get_settlement(session, settlement_id)
    result = result_of(settlement)
    content = (
        exports.to_settlement_csv(result)
        if fmt == "csv"
        else exports.to_settlement_xlsx(result, result["indicators"])
    )
    expected = settlement.csv_sha256 if fmt == "csv" else settlement.xlsx_sha256
    if sha256_hex(content) != expected:
        raise RuntimeError(f"the {fmt} of settlement {settlement_id} no longer has its digest")
    return content, f"以奖代补结算_{settlement.period_start}_{settlement.period_end}"


def participation(
    session: Session, *, village_id: uuid.UUID, first: date, last: date
) -> VillageFacts:
    village = tenancy.get_village(session, village_id)
    facts = village_facts(session, township_id=village.township_id, first=first, last=last)
    return next(f for f in facts if f.village_id == village_id.hex)
