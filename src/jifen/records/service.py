"""Recording events under the charter, reviewing them, revoking them.

Invariants:
- an event is scored by the charter version in force on its day, and the record and its
  entry name that version and rule, with the explanation of the points;
- caps are decided under the village's books lock, so two clerks recording at once can
  never pass a cap between them; a cap cuts an award to what remains, and a record cut
  to zero is kept with status `capped`;
- a pending record moves no balance; its points are scored and capped when the last
  review stage approves it;
- the same person, rule and occurrence is recorded once, unless the rule allows repeats;
- a revocation reverses the record's entry, dated now, on every account it moved;
- an amendment (更正) is one step: the record's entry is reversed (or voided while held
  under notice), the record becomes `amended`, and its correction is recorded through the
  same path as any record (charter, caps, duplicates), the two linked both ways. The
  amended record counts towards nothing, so it is never a duplicate of its correction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from jifen.charters import policy
from jifen.charters import service as charters
from jifen.charters.document import (
    SENIOR_ROLES,
    Charter,
    CompiledRule,
    DeductionFloor,
    DuplicatesPer,
    Holder,
    Track,
)
from jifen.charters.errors import InvalidQuantity, UnknownRule
from jifen.charters.rules.protocol import (
    Occurrence,
    Score,
    format_quantity,
    quantity_refusal_zh,
)
from jifen.evidence import service as evidence
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import (
    CharterVersion,
    Household,
    HouseholdMembership,
    Member,
    NoticeList,
    NoticeListItem,
    NoticeObjection,
    Project,
    Record,
    RecordReview,
)
from jifen.notice import service as notice
from jifen.problems import NotFound
from jifen.records import errors
from jifen.webhooks import events

PENDING = "pending"
APPROVED = "approved"
CAPPED = "capped"
REJECTED = "rejected"
REVOKED = "revoked"
AMENDED = "amended"
# Records an amendment may correct: a pending one is corrected before review decides it.
AMENDABLE = (PENDING, APPROVED, CAPPED)
# How far back an amendment looks for the record a chain of corrections began with.
AMENDMENT_CHAIN_MAX = 100
# Records whose points count (towards caps, rankings and history totals).
COUNTED = (APPROVED, CAPPED)
QUANTITY_MAX = Decimal(100_000)
MERIT_CATEGORY = "merit"


@dataclass(frozen=True)
class Recorder:
    """Who records or reviews: their actor name and the role codes they hold over the
    village (or the pseudo-role `resident` / `check_in` of the charter)."""

    actor: str
    roles: frozenset[str]


@dataclass(frozen=True)
class RecordRequest:
    village_id: uuid.UUID
    rule_id: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    quantity: Decimal
    occurred_at: datetime
    occurrence: str | None = None
    project_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    place: str = ""
    evidence: Sequence[dict[str, Any]] = ()
    note: str = ""
    # The adopted space an inspection scores (jifen.spaces): what a rule counting
    # duplicates per space counts by.
    space_id: uuid.UUID | None = None


# --- recording --------------------------------------------------------------------------


def record(
    session: Session, request: RecordRequest, *, recorder: Recorder, clock: ledger.Clock
) -> Record:
    """Score and record one event; book it at once unless the charter wants review."""
    if request.occurred_at > clock.now + timedelta(
        seconds=clock.settings.occurred_at_future_skew_seconds
    ):
        raise ledger_errors.OccurredInFuture(
            f"occurred_at {request.occurred_at.isoformat()} is after now",
            detail_zh=f"发生时间 {request.occurred_at.isoformat()} 晚于当前时间",
            occurred_at=request.occurred_at.isoformat(),
        )
    if not Decimal(0) < request.quantity <= QUANTITY_MAX:
        raise InvalidQuantity(
            f"quantity must be above 0 and at most {QUANTITY_MAX}",
            detail_zh=f"数量须大于 0 且不超过 {QUANTITY_MAX}",
            quantity=str(request.quantity),
        )
    occurred_on = clock.local_date(request.occurred_at)
    # Everything below reads and decides under the books lock: duplicates, caps, balances.
    writer.lock_books(session, request.village_id)
    version, charter = charters.charter_in_force(session, request.village_id, occurred_on)
    rule = charter.rule(request.rule_id)
    if rule is None:
        raise UnknownRule(
            f"charter version {version.version} (in force on {occurred_on}) has no rule "
            f"{request.rule_id!r}",
            detail_zh=f"{occurred_on} 生效的第 {version.version} 版章程中没有规则 "
            f"{request.rule_id}",
            rule_id=request.rule_id,
            charter_version=version.version,
        )
    role, stages = _recorder_role(charter, rule, recorder)
    member_id, household_id = _subject(session, request, charter, occurred_on)
    _check_evidence(rule, request.evidence)
    photo_ids = evidence.cited_photos(session, request.village_id, request.evidence)
    if request.project_id is not None:
        _check_project(session, request.village_id, request.project_id)
    scored = score(rule, request.quantity, occurred_on)
    occurrence = request.occurrence or occurred_on.isoformat()
    dedupe_key = None
    if not rule.document.allow_repeats:
        who, counted_as = _occurrence_of(
            rule, request, member_id, household_id, occurrence, occurred_on
        )
        dedupe_key = f"{rule.id}|{who}|{counted_as}"
        existing = (
            session.connection()
            .execute(
                select(Record.id).where(
                    Record.village_id == request.village_id, Record.dedupe_key == dedupe_key
                )
            )
            .scalar_one_or_none()
        )
        if existing is not None:
            raise errors.DuplicateRecord(
                f"record {existing} already records {rule.document.label} for this "
                f"{_WHO_NAMES[who.split(':')[0]]} ({counted_as})",
                detail_zh=f"记录 {existing} 已为该{_WHO_NAMES_ZH[who.split(':')[0]]}记录过"
                f"「{rule.document.label}」（{counted_as}）",
                record_id=str(existing),
                rule_id=rule.id,
                occurrence=counted_as,
            )
    row = Record(
        id=new_id(),
        township_id=version.township_id,
        village_id=request.village_id,
        charter_version_id=version.id,
        charter_version=version.version,
        rule_id=rule.id,
        category=rule.document.category,
        member_id=member_id,
        household_id=household_id,
        holder=charter.document.settings.points_holder.value,
        quantity=format_quantity(request.quantity),
        occurred_on=occurred_on,
        occurred_at=request.occurred_at,
        occurrence=occurrence,
        dedupe_key=dedupe_key,
        status=PENDING,
        stages_pending=stages,
        scored_points=scored.points,
        explanation=scored.explanation,
        cap=None,
        recorder=recorder.actor,
        recorder_role=role,
        project_id=request.project_id,
        activity_id=request.activity_id,
        place=request.place,
        evidence=[dict(item) for item in request.evidence],
        note=request.note,
        entry_id=None,
        reversal_entry_id=None,
        created_at=clock.now,
        decided_at=None,
    )
    if stages:
        session.add(row)
        session.flush()
        _emit(session, row, events.EventType.RECORD_PENDING, clock.now)
    else:
        # Booked at once: the row is inserted once, with its outcome (see _book).
        _book(session, row, charter, rule, actor=recorder.actor, clock=clock)
    evidence.attach(session, photo_ids, record_id=row.id, village_id=row.village_id, now=clock.now)
    return row


def _recorder_role(
    charter: Charter, rule: CompiledRule, recorder: Recorder
) -> tuple[str, list[str]]:
    """The role the recorder records as (the one needing least review), and the review
    stages the record must pass."""
    allowed = recorder.roles & (set(rule.document.recorders) | SENIOR_ROLES)
    if not allowed:
        raise errors.RecorderNotAllowed(
            f"rule {rule.id} may be recorded by {', '.join(rule.document.recorders)}",
            detail_zh=f"规则 {rule.id} 只能由 {'、'.join(rule.document.recorders)} 记录",
            rule_id=rule.id,
            recorders=list(rule.document.recorders),
        )

    def stages_of(role: str) -> list[str]:
        return charter.review_stages_for(role)

    role = min(sorted(allowed), key=lambda r: len(stages_of(r)))
    return role, stages_of(role)


# A member's village, deactivation and household on a day, in one statement.
_MEMBER_ON_DAY = (
    select(Member.village_id, Member.deactivated_on, HouseholdMembership.household_id)
    .outerjoin(
        HouseholdMembership,
        and_(
            HouseholdMembership.member_id == Member.id,
            HouseholdMembership.joined_on <= bindparam("on"),
            or_(
                HouseholdMembership.left_on.is_(None),
                HouseholdMembership.left_on > bindparam("on"),
            ),
        ),
    )
    .where(Member.id == bindparam("member_id"))
)


def _subject(
    session: Session, request: RecordRequest, charter: Charter, on: date
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Who acted and whose points move: the member, and their household on that day."""
    holder = charter.document.settings.points_holder
    if request.member_id is None:
        if holder is Holder.MEMBER or request.household_id is None:
            raise errors.SubjectInvalid(
                "name the member who acted"
                + ("" if holder is Holder.MEMBER else " (or the household, for a finding)"),
                detail_zh="请指明做事的村民"
                + ("" if holder is Holder.MEMBER else "（检查发现的问题也可指明户）"),
                field="member_id",
            )
        household_id = request.household_id
        found = session.execute(
            select(Household.id).where(
                Household.id == household_id, Household.village_id == request.village_id
            )
        ).scalar_one_or_none()
        if found is None:
            raise errors.SubjectInvalid(
                f"household {household_id} is not in this village",
                detail_zh=f"户 {household_id} 不属于本村",
                field="household_id",
            )
        return None, household_id
    person = (
        session.connection()
        .execute(_MEMBER_ON_DAY, {"member_id": request.member_id, "on": on})
        .first()
    )
    if person is None or person.village_id != request.village_id:
        raise errors.SubjectInvalid(
            f"member {request.member_id} is not in this village",
            detail_zh=f"村民 {request.member_id} 不属于本村",
            field="member_id",
        )
    member_id: uuid.UUID = request.member_id
    deactivated_on: date | None = person.deactivated_on
    member_household: uuid.UUID | None = person.household_id
    if deactivated_on is not None and on > deactivated_on:
        raise ledger_errors.MemberInactive(
            f"member {member_id} left the village's roll on {deactivated_on}; "
            f"the event is dated {on}",
            detail_zh=f"村民 {member_id} 已于 {deactivated_on} 从本村名册注销，而事件发生于 {on}",
            member_id=str(member_id),
            deactivated_on=deactivated_on.isoformat(),
        )
    if request.household_id is not None and request.household_id != member_household:
        raise errors.SubjectInvalid(
            f"member {member_id} was not in household {request.household_id} on {on}",
            detail_zh=f"{on} 当天村民 {member_id} 不在户 {request.household_id} 中",
            field="household_id",
        )
    if holder is Holder.HOUSEHOLD and member_household is None:
        raise errors.SubjectInvalid(
            f"points are held per household, and member {member_id} belonged to no "
            f"household on {on}",
            detail_zh=f"积分按户计，而村民 {member_id} 在 {on} 不属于任何一户",
            field="member_id",
        )
    return member_id, member_household


_WHO = {DuplicatesPer.MEMBER: "m", DuplicatesPer.HOUSEHOLD: "h", DuplicatesPer.SPACE: "s"}
_WHO_NAMES = {"m": "member", "h": "household", "s": "space"}
_WHO_NAMES_ZH = {"m": "村民", "h": "户", "s": "场地"}
# A record's status as a Chinese reader says it.
_STATUS_ZH = {
    PENDING: "待审核",
    APPROVED: "已通过",
    CAPPED: "已通过（受封顶限制）",
    REJECTED: "已驳回",
    REVOKED: "已撤回",
    AMENDED: "已更正",
}


def _occurrence_of(
    rule: CompiledRule,
    request: RecordRequest,
    member_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
    occurrence: str,
    occurred_on: date,
) -> tuple[str, str]:
    """Who and which occurrence a record is the same as: by default the member (or the
    household of a household finding) and the day or the occurrence named; as the rule's
    `duplicates` says otherwise (per household whichever member is named, or per space,
    and one per week, month…)."""
    duplicates = rule.document.duplicates
    if duplicates is None:
        who = f"m:{member_id.hex}" if member_id else f"h:{household_id.hex}"  # type: ignore[union-attr]
        return who, occurrence
    subject: uuid.UUID | None
    if duplicates.per is DuplicatesPer.SPACE:
        subject = request.space_id
        if subject is None:
            raise errors.SubjectInvalid(
                f"rule {rule.id} counts one occurrence per adopted space: record it as an "
                "inspection of the space",
                detail_zh=f"规则 {rule.id} 按认领场地计次：请作为该场地的巡查记录提交",
                field="space_id",
            )
    elif duplicates.per is DuplicatesPer.HOUSEHOLD:
        subject = household_id
        if subject is None:
            raise errors.SubjectInvalid(
                f"rule {rule.id} counts one occurrence per household, and the member named "
                "belonged to no household on that day",
                detail_zh=f"规则 {rule.id} 按户计次，而所指村民当天不属于任何一户",
                field="member_id",
            )
    else:
        subject = member_id
        if subject is None:
            raise errors.SubjectInvalid(
                f"rule {rule.id} counts one occurrence per member: name the member",
                detail_zh=f"规则 {rule.id} 按村民计次：请指明村民",
                field="member_id",
            )
    bounds = policy.window(duplicates.period, occurred_on)
    period = "ever" if bounds is None else f"{duplicates.period.value}:{bounds[0].isoformat()}"
    return f"{_WHO[duplicates.per]}:{subject.hex}", period


def _check_evidence(rule: CompiledRule, evidence: Sequence[dict[str, Any]]) -> None:
    given = {str(item.get("kind")) for item in evidence}
    missing = [kind.value for kind in rule.document.evidence if kind.value not in given]
    if missing:
        raise errors.EvidenceMissing(
            f"rule {rule.id} needs evidence: {', '.join(missing)}",
            detail_zh=f"规则 {rule.id} 需要佐证：{'、'.join(missing)}",
            rule_id=rule.id,
            missing=missing,
        )


def _check_project(session: Session, village_id: uuid.UUID, project_id: uuid.UUID) -> None:
    found = session.execute(
        select(Project.id).where(Project.id == project_id, Project.village_id == village_id)
    ).scalar_one_or_none()
    if found is None:
        raise errors.ProjectNotInVillage(
            f"project {project_id} is not one of this village's",
            detail_zh=f"项目 {project_id} 不属于本村",
            project_id=str(project_id),
        )


def score(rule: CompiledRule, quantity: Decimal, on: date) -> Score:
    """The rule's score for a quantity, before caps and floors (what-if uses it too)."""
    try:
        return rule.rule_type.evaluate(rule.params, Occurrence(rule.document.label, quantity, on))
    except ValueError as problem:
        raise InvalidQuantity(
            str(problem),
            detail_zh=quantity_refusal_zh(problem, rule.id, quantity),
            rule_id=rule.id,
            quantity=str(quantity),
        ) from None


# --- booking ----------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _cap_statement(per: Holder, by_rule: bool, windowed: bool) -> Any:
    """What a holder already used of one cap, points and records that scored: built once
    per shape, bound per record."""
    holder = Record.member_id if per is Holder.MEMBER else Record.household_id
    # No village filter: the holder implies it, and the holder's own index (holder, day)
    # keeps the cost independent of how many records the village has.
    query = select(func.coalesce(func.sum(Record.awarded_points), 0), func.count()).where(
        Record.status.in_(COUNTED),
        Record.id != bindparam("record_id"),
        Record.awarded_points > 0,
        holder == bindparam("subject"),
        (Record.rule_id if by_rule else Record.category) == bindparam("what"),
    )
    if windowed:
        query = query.where(
            Record.occurred_on >= bindparam("start"), Record.occurred_on < bindparam("end")
        )
    return query


def cap_uses(
    session: Session, row: Record, charter: Charter, rule: CompiledRule
) -> list[policy.CapUse]:
    """Every cap on the record's award, with what its holder already used in the window.
    Counts approved records only: pending, rejected and revoked ones use nothing."""
    caps: list[tuple[Any, str]] = [(cap, "rule") for cap in rule.document.caps]
    caps += [
        (cap, f"category:{cap.category}")
        for cap in charter.document.category_caps
        if cap.category == rule.document.category
    ]
    uses = []
    for cap, scope in caps:
        subject = row.member_id if cap.per is Holder.MEMBER else row.household_id
        if subject is None:
            continue  # a household finding has no member to cap (and vice versa)
        bounds = policy.window(cap.period, row.occurred_on)
        by_rule = scope == "rule"
        params = {
            "record_id": row.id,
            "subject": subject,
            "what": row.rule_id if by_rule else cap.category,
        }
        if bounds is not None:
            params.update(start=bounds[0], end=bounds[1])
        statement = _cap_statement(cap.per, by_rule, bounds is not None)
        used, occurrences = session.connection().execute(statement, params).one()
        uses.append(policy.CapUse(cap, scope, int(used), int(occurrences)))
    return uses


def _book(
    session: Session,
    row: Record,
    charter: Charter,
    rule: CompiledRule,
    *,
    actor: str,
    clock: ledger.Clock,
) -> None:
    """Cap, floor and book the record's points; the caller holds the books lock."""
    settings = charter.document.settings
    explanation = row.explanation
    holder_kind = AccountKind.MEMBER if row.holder == Holder.MEMBER.value else AccountKind.HOUSEHOLD
    owner_id = row.member_id if holder_kind is AccountKind.MEMBER else row.household_id
    assert owner_id is not None  # _subject saw to it
    amounts: dict[Track, int] = {}
    if row.scored_points >= 0:
        decision = policy.apply_caps(row.scored_points, cap_uses(session, row, charter, rule))
        row.awarded_points = decision.points
        if decision.applied is not None:
            applied = decision.applied
            row.cap = {
                "scope": applied.scope,
                "per": applied.cap.per.value,
                "period": applied.cap.period.value,
            }
            if applied.cap.max_points is not None:
                row.cap.update(max_points=applied.cap.max_points, used_points=applied.used_points)
            else:
                row.cap.update(
                    max_occurrences=applied.cap.max_occurrences,
                    used_occurrences=applied.used_occurrences,
                )
            explanation += "；" + decision.explanation
        amounts = {track: decision.points for track in rule.document.moves}
    else:
        row.awarded_points = row.scored_points
        for track in rule.document.moves:
            account_id = _account(session, row.village_id, holder_kind, owner_id, track, clock)
            available = ledger.get_balance(session, account_id).available
            # Merit never goes below zero; spendable points follow the charter.
            floor = settings.deduction_floor if track is Track.POINTS else DeductionFloor.ZERO
            taken = policy.deduct(-row.scored_points, available, floor)
            if taken.explanation:
                label = "积分" if track is Track.POINTS else settings.merit.label
                explanation += f"；{label}{taken.explanation}"
            amounts[track] = -taken.points
    row.explanation = explanation[:1000]
    row.points = amounts.get(Track.POINTS, 0)
    row.merit_points = amounts.get(Track.MERIT, 0)
    row.decided_at = clock.now
    if not any(amounts.values()):
        row.status = CAPPED if row.cap is not None else APPROVED
        session.add(row)
        session.flush()
        _emit(session, row, events.EventType.RECORD_APPROVED, clock.now)
        return
    postings: list[ledger.PostingInput] = []
    for track, amount in amounts.items():
        if amount == 0:
            continue
        issuance_category = "general" if track is Track.POINTS else MERIT_CATEGORY
        account_id = _account(session, row.village_id, holder_kind, owner_id, track, clock)
        source_id = _issuance(session, row.village_id, issuance_category, clock)
        postings += [
            ledger.PostingInput(account_id, amount),
            ledger.PostingInput(source_id, -amount),
        ]
    is_deduction = row.scored_points < 0
    code = (charters.deduction_code if is_deduction else charters.award_code)(row.category)
    view = ledger.book(
        session,
        village_id=row.village_id,
        code=code,
        postings=postings,
        actor=actor,
        clock=clock,
        memo=row.explanation[:500],
        details={
            "record_id": str(row.id),
            "charter_version_id": str(row.charter_version_id),
            "charter_version": row.charter_version,
            "rule_id": row.rule_id,
            "member_id": str(row.member_id) if row.member_id else None,
            "household_id": str(row.household_id) if row.household_id else None,
            "quantity": row.quantity,
            "explanation": row.explanation,
            "cap": row.cap,
        },
        occurred_at=row.occurred_at,
        allow_below_floor=is_deduction
        and row.points < 0
        and settings.deduction_floor is DeductionFloor.NEGATIVE,
        # A `before` notice list holds the points until it closes (先公示后生效).
        is_pending=notice.is_pending_under(charter, row.category),
    )
    row.entry_id = view.entry.id
    row.status = APPROVED
    session.add(row)
    session.flush()
    notice.join(session, record=row, charter=charter, entry_id=view.entry.id, clock=clock)
    _emit(session, row, events.EventType.RECORD_APPROVED, clock.now)


def _account(
    session: Session,
    village_id: uuid.UUID,
    kind: AccountKind,
    owner_id: uuid.UUID,
    track: Track,
    clock: ledger.Clock,
) -> uuid.UUID:
    category = "main" if track is Track.POINTS else MERIT_CATEGORY
    found = ledger.find_account_id(
        session, village_id=village_id, kind=kind, owner_id=owner_id, category=category
    )
    if found is not None:
        return found
    # Merit accounts open on first use; the spendable one opens with its owner.
    return ledger.open_account(
        session,
        village_id=village_id,
        kind=kind,
        category=category,
        member_id=owner_id if kind is AccountKind.MEMBER else None,
        household_id=owner_id if kind is AccountKind.HOUSEHOLD else None,
        now=clock.now,
    ).id


def _issuance(
    session: Session, village_id: uuid.UUID, category: str, clock: ledger.Clock
) -> uuid.UUID:
    found = ledger.find_account_id(
        session, village_id=village_id, kind=AccountKind.ISSUANCE, category=category
    )
    if found is not None:
        return found
    return ledger.open_account(
        session,
        village_id=village_id,
        kind=AccountKind.ISSUANCE,
        asset=Asset.POINTS,
        category=category,
        name="荣誉积分发放" if category == MERIT_CATEGORY else None,
        now=clock.now,
    ).id


# --- review and revocation --------------------------------------------------------------


def review(
    session: Session,
    *,
    record_id: uuid.UUID,
    approve: bool,
    reason: str,
    reviewer: Recorder,
    clock: ledger.Clock,
) -> Record:
    """Decide the record's next review stage (初审, 复核, ...)."""
    row = get_record(session, record_id)
    writer.lock_books(session, row.village_id)
    session.refresh(row)
    if row.status != PENDING or not row.stages_pending:
        raise errors.RecordNotPending(
            f"record {row.id} is {row.status}",
            detail_zh=f"记录 {row.id} 的状态为「{_STATUS_ZH.get(row.status, row.status)}」",
            record_id=str(row.id),
            record_status=row.status,
        )
    version = session.get(CharterVersion, row.charter_version_id)
    assert version is not None  # a foreign key
    charter = charters.compiled(version)
    stage = charter.stage(row.stages_pending[0])
    allowed = reviewer.roles & (set(stage.roles) | SENIOR_ROLES)
    if not allowed:
        raise errors.ReviewerNotAllowed(
            f"stage {stage.label} is decided by {', '.join(stage.roles)}",
            detail_zh=f"审核环节「{stage.label}」由 {'、'.join(stage.roles)} 审核",
            stage=stage.id,
            roles=list(stage.roles),
        )
    earlier = set(
        session.execute(select(RecordReview.reviewer).where(RecordReview.record_id == row.id))
        .scalars()
        .all()
    )
    if reviewer.actor == row.recorder or reviewer.actor in earlier:
        raise errors.ReviewBySameActor(
            f"{reviewer.actor} recorded or already reviewed record {row.id}",
            detail_zh=f"{reviewer.actor} 是记录 {row.id} 的记录人或已审核过该记录",
            record_id=str(row.id),
        )
    session.add(
        RecordReview(
            id=new_id(),
            record_id=row.id,
            stage=stage.id,
            decision="approve" if approve else "reject",
            reason=reason,
            reviewer=reviewer.actor,
            reviewer_role=sorted(allowed)[0],
            created_at=clock.now,
        )
    )
    if not approve:
        row.status = REJECTED
        row.dedupe_key = None
        row.decided_at = clock.now
        session.flush()
        _emit(session, row, events.EventType.RECORD_REJECTED, clock.now, reason=reason)
        return row
    row.stages_pending = row.stages_pending[1:]
    if row.stages_pending:
        session.flush()
        return row
    rule = charter.rule(row.rule_id)
    assert rule is not None  # the version's document never changes
    _book(session, row, charter, rule, actor=reviewer.actor, clock=clock)
    return row


def revoke(
    session: Session, *, record_id: uuid.UUID, reason: str, actor: str, clock: ledger.Clock
) -> Record:
    """Withdraw an approved record: its entry is reversed, dated now."""
    row = get_record(session, record_id)
    writer.lock_books(session, row.village_id)
    session.refresh(row)
    if row.status not in COUNTED:
        raise errors.RecordNotRevocable(
            f"record {row.id} is {row.status}",
            detail_zh=f"记录 {row.id} 的状态为「{_STATUS_ZH.get(row.status, row.status)}」",
            record_id=str(row.id),
            record_status=row.status,
        )
    if row.entry_id is not None and ledger.get_entry(session, row.entry_id).status == "pending":
        # Still held by a `before` notice list: release the hold, nothing ever counted.
        view = ledger.void_pending(
            session, entry_id=row.entry_id, actor=actor, clock=clock, reason=f"撤回：{reason}"
        )
        row.reversal_entry_id = view.entry.id
    elif row.entry_id is not None:
        view = ledger.reverse(
            session,
            entry_id=row.entry_id,
            actor=actor,
            clock=clock,
            reason=f"撤回：{reason}",
            details={"record_id": str(row.id), "rule_id": row.rule_id},
            for_record=True,
        )
        row.reversal_entry_id = view.entry.id
    row.status = REVOKED
    row.dedupe_key = None
    row.revoked_at = clock.now
    row.revoked_by = actor
    row.revoke_reason = reason
    session.flush()
    _emit(session, row, events.EventType.RECORD_REVOKED, clock.now, reason=reason)
    return row


# --- amendment (更正) -------------------------------------------------------------------


@dataclass(frozen=True)
class Amender:
    """Who amends, and what their roles let them do: `recorder` records the correction
    (its actor and roles), `may_amend_own` holds when they recorded the record or review
    the village's records, `may_revoke` when they hold the revoking role there."""

    recorder: Recorder
    may_amend_own: bool
    may_revoke: bool


@dataclass(frozen=True)
class Correction:
    """What an amendment changes; None keeps the record's value. Naming a member or a
    household replaces the record's subject."""

    quantity: Decimal | None = None
    member_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    rule_id: str | None = None


def amend(
    session: Session,
    *,
    record_id: uuid.UUID,
    correction: Correction,
    reason: str,
    amender: Amender,
    clock: ledger.Clock,
) -> Record:
    """Correct a record in one step; returns the correction (the new record).

    Within the charter's window (counted from when the first record of a chain of
    corrections was made) and while the record's notice list has not closed, its recorder
    or a reviewer of the village may amend it; otherwise only the revoking role."""
    old = get_record(session, record_id)
    writer.lock_books(session, old.village_id)
    session.refresh(old)
    if old.status not in AMENDABLE:
        raise errors.RecordNotAmendable(
            f"record {old.id} is {old.status}",
            detail_zh=f"记录 {old.id} 的状态为「{_STATUS_ZH.get(old.status, old.status)}」",
            record_id=str(old.id),
            record_status=old.status,
        )
    subject_named = correction.member_id is not None or correction.household_id is not None
    if (
        (correction.quantity is None or Decimal(old.quantity) == correction.quantity)
        and (correction.rule_id is None or correction.rule_id == old.rule_id)
        and (
            not subject_named
            or (correction.member_id, correction.household_id)
            in ((old.member_id, old.household_id), (old.member_id, None))
        )
    ):
        raise errors.AmendmentChangesNothing(
            f"the amendment leaves record {old.id} as it is",
            detail_zh=f"该更正没有改变记录 {old.id} 的任何内容",
            record_id=str(old.id),
        )
    if not amender.may_revoke:
        _check_recorder_may_amend(session, old, amender, clock)
    objection = session.execute(
        select(NoticeObjection.id)
        .join(NoticeListItem, NoticeListItem.id == NoticeObjection.item_id)
        .where(NoticeListItem.record_id == old.id, NoticeObjection.state == "open")
    ).scalar_one_or_none()
    if objection is not None:
        raise errors.RecordUnderObjection(
            f"objection {objection} to record {old.id} waits for a decision",
            detail_zh=f"对记录 {old.id} 的异议 {objection} 尚待处理",
            record_id=str(old.id),
            objection_id=str(objection),
        )
    memo = f"更正：{reason}"
    if old.entry_id is not None and ledger.get_entry(session, old.entry_id).status == "pending":
        # Held by a `before` notice list: release the hold, nothing ever counted.
        view = ledger.void_pending(
            session, entry_id=old.entry_id, actor=amender.recorder.actor, clock=clock, reason=memo
        )
        old.reversal_entry_id = view.entry.id
    elif old.entry_id is not None:
        view = ledger.reverse(
            session,
            entry_id=old.entry_id,
            actor=amender.recorder.actor,
            clock=clock,
            reason=memo,
            details={"record_id": str(old.id), "rule_id": old.rule_id, "amendment": True},
            for_record=True,
        )
        old.reversal_entry_id = view.entry.id
    old.status = AMENDED
    old.dedupe_key = None
    old.amended_at = clock.now
    old.amended_by = amender.recorder.actor
    old.amend_reason = reason
    session.flush()
    if subject_named:
        member_id, household_id = correction.member_id, correction.household_id
    else:
        # The household of a member's record is derived again from the member.
        member_id = old.member_id
        household_id = old.household_id if old.member_id is None else None
    new = record(
        session,
        RecordRequest(
            village_id=old.village_id,
            rule_id=correction.rule_id or old.rule_id,
            member_id=member_id,
            household_id=household_id,
            quantity=Decimal(old.quantity) if correction.quantity is None else correction.quantity,
            occurred_at=old.occurred_at,
            occurrence=old.occurrence,
            project_id=old.project_id,
            activity_id=old.activity_id,
            place=old.place,
            evidence=old.evidence,
            note=old.note,
        ),
        recorder=amender.recorder,
        clock=clock,
    )
    new.amends_record_id = old.id
    old.amended_by_record_id = new.id
    session.flush()
    _emit(
        session,
        old,
        events.EventType.RECORD_AMENDED,
        clock.now,
        reason=reason,
        amended_by_record_id=str(new.id),
        corrected_status=new.status,
        corrected_points=new.points,
        corrected_merit_points=new.merit_points,
    )
    return new


def _check_recorder_may_amend(
    session: Session, old: Record, amender: Amender, clock: ledger.Clock
) -> None:
    """A recorder's own amendment: their record (or a reviewer's), within the window,
    before the notice list closed."""
    if not amender.may_amend_own and amender.recorder.actor != old.recorder:
        raise errors.AmendmentNotOwnRecord(
            f"record {old.id} was recorded by {old.recorder}",
            detail_zh=f"记录 {old.id} 由 {old.recorder} 记录",
            record_id=str(old.id),
            recorder=old.recorder,
        )
    version = session.get(CharterVersion, old.charter_version_id)
    assert version is not None  # a foreign key
    window_days = charters.compiled(version).document.settings.amendments.window_days
    started_at = _chain_started_at(session, old)
    ends_at = started_at + timedelta(days=window_days)
    if window_days == 0 or clock.now >= ends_at:
        raise errors.AmendmentWindowClosed(
            f"record {old.id} could be amended by its recorder for {window_days} days "
            f"(until {ends_at.isoformat()}); it now takes the revoking role (records:revoke)",
            detail_zh=f"记录人可在 {window_days} 天内（至 {ends_at.isoformat()}）更正记录 "
            f"{old.id}；现须由有撤回权限（records:revoke）的人更正",
            record_id=str(old.id),
            window_days=window_days,
            window_ended_at=ends_at.isoformat(),
        )
    closed = session.execute(
        select(NoticeList.id, NoticeList.closes_on)
        .join(NoticeListItem, NoticeListItem.list_id == NoticeList.id)
        .where(NoticeListItem.record_id == old.id, NoticeList.state == "closed")
    ).first()
    if closed is not None:
        raise errors.NoticeClosed(
            f"notice list {closed.id} showing record {old.id} closed on {closed.closes_on}; "
            "it now takes the revoking role (records:revoke)",
            detail_zh=f"列有记录 {old.id} 的公示名单 {closed.id} 已于 {closed.closes_on} 结束；"
            "现须由有撤回权限（records:revoke）的人更正",
            record_id=str(old.id),
            list_id=str(closed.id),
            closed_on=closed.closes_on.isoformat(),
        )


def _chain_started_at(session: Session, row: Record) -> datetime:
    """When the first record of a chain of corrections was made: correcting a correction
    does not restart the window."""
    started_at = row.created_at
    previous = row.amends_record_id
    for _ in range(AMENDMENT_CHAIN_MAX):
        if previous is None:
            break
        found = session.execute(
            select(Record.created_at, Record.amends_record_id).where(Record.id == previous)
        ).one()
        started_at, previous = found.created_at, found.amends_record_id
    return started_at


# --- reading ----------------------------------------------------------------------------


def get_record(session: Session, record_id: uuid.UUID) -> Record:
    row = session.get(Record, record_id)
    if row is None:
        raise NotFound("record", record_id)
    return row


def reviews_of(
    session: Session, record_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RecordReview]]:
    found: dict[uuid.UUID, list[RecordReview]] = {rid: [] for rid in record_ids}
    if record_ids:
        rows = session.execute(
            select(RecordReview)
            .where(RecordReview.record_id.in_(list(record_ids)))
            .order_by(RecordReview.created_at, RecordReview.id)
        ).scalars()
        for review_row in rows:
            found[review_row.record_id].append(review_row)
    return found


def list_records(
    session: Session,
    *,
    village_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    status: str | None = None,
    rule_id: str | None = None,
    project_id: uuid.UUID | None = None,
    activity_id: uuid.UUID | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
    limit: int,
    cursor: str | None,
) -> Page[Record]:
    """Records, newest first, filtered by any of the given fields."""
    query = select(Record)
    for column, value in (
        (Record.village_id, village_id),
        (Record.member_id, member_id),
        (Record.household_id, household_id),
        (Record.status, status),
        (Record.rule_id, rule_id),
        (Record.project_id, project_id),
        (Record.activity_id, activity_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if occurred_from is not None:
        query = query.where(Record.occurred_on >= occurred_from)
    if occurred_to is not None:
        query = query.where(Record.occurred_on <= occurred_to)
    return page_by_id(session, query, Record, limit, cursor, newest_first=True)


def _emit(
    session: Session, row: Record, event_type: events.EventType, now: datetime, **extra: Any
) -> None:
    events.emit(
        session,
        event_type=event_type,
        township_id=row.township_id,
        village_id=row.village_id,
        member_id=row.member_id,
        household_id=row.household_id,
        data={
            "record_id": str(row.id),
            "rule_id": row.rule_id,
            "status": row.status,
            "points": row.points,
            "merit_points": row.merit_points,
            "explanation": row.explanation,
            "occurred_on": row.occurred_on.isoformat(),
            **extra,
        },
        now=now,
    )
