"""Village projects, activities, their signed check-in codes, and check-ins.

A check-in is a record like any other: it goes through the records service, which scores
it under the charter in force, applies the charter's review rule and caps, books through
the ledger and emits the events. This module only decides whether the check-in may
happen (the code, the window, one per member per activity).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import jwt
import segno
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.access import credentials
from jifen.access import service as access
from jifen.charters import service as charters
from jifen.charters.document import RECORDER_CHECK_IN, CompiledRule
from jifen.charters.errors import InvalidQuantity, UnknownRule
from jifen.charters.rules.builtin import UNIT_LABELS, Unit
from jifen.charters.rules.protocol import format_quantity
from jifen.kit.clock import as_utc
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.labor import errors
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.models import Activity, Household, Member, Project, Record
from jifen.problems import NotFound
from jifen.records import errors as record_errors
from jifen.records import service as records
from jifen.tenancy import service as tenancy

# An activity lasts at most this long (a clean-up day, a week of tree planting).
ACTIVITY_LENGTH_MAX = timedelta(days=7)
# Residents arrive early: check-in opens this long before the activity starts.
CHECK_IN_EARLY = timedelta(minutes=30)
# A code outlives its activity by this much, so that a late scan is told the activity
# ended rather than that the code is bad.
CHECK_IN_CODE_GRACE = timedelta(minutes=10)
CHECK_IN_AUDIENCE = "jifen:check-in"
CHECK_IN_ISSUER = "jifen"
CHECK_IN_CODE_LENGTH_MAX = 2048
# The unit of a rule whose parameters name none (a fixed rule counts occurrences).
DEFAULT_UNIT = "time"


# --- projects ---------------------------------------------------------------------------


def create_project(
    session: Session,
    *,
    village_id: uuid.UUID,
    code: str,
    name: str,
    description: str,
    starts_on: date | None,
    ends_on: date | None,
    actor: str,
    now: datetime,
    category: str = "other",
    planned_investment_fen: int = 0,
    status: str = "planned",
) -> Project:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise errors.ProjectDatesInvalid(
            f"ends_on {ends_on} is before starts_on {starts_on}",
            detail_zh=f"结束日期 {ends_on} 早于开始日期 {starts_on}",
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat(),
        )
    village = tenancy.get_village(session, village_id)
    project = Project(
        id=new_id(),
        township_id=village.township_id,
        village_id=village.id,
        code=code,
        name=name,
        description=description,
        starts_on=starts_on,
        ends_on=ends_on,
        category=category,
        planned_investment_fen=planned_investment_fen,
        status=status,
        created_at=now,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(project)
    except IntegrityError:
        raise errors.ProjectCodeTaken(
            f"the village already has a project {code!r}",
            detail_zh=f"本村已有编号为 {code} 的项目",
            project_code=code,
        ) from None
    return project


def get_project(session: Session, project_id: uuid.UUID) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    return project


def list_projects(
    session: Session, *, village_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[Project]:
    tenancy.get_village(session, village_id)
    query = select(Project).where(Project.village_id == village_id)
    return page_by_id(session, query, Project, limit, cursor)


@dataclass(frozen=True)
class Quantity:
    unit: str
    quantity: Decimal

    @property
    def unit_label(self) -> str:
        try:
            return UNIT_LABELS[Unit(self.unit)]
        except ValueError:
            return self.unit

    @property
    def text(self) -> str:
        return format_quantity(self.quantity)


@dataclass(frozen=True)
class Contributor:
    """A member who gave labor (or a household, for a record naming no member)."""

    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    name: str
    quantities: list[Quantity]
    records: int
    awarded_points: int


@dataclass(frozen=True)
class ProjectLabor:
    project: Project
    totals: list[Quantity]
    records: int
    members: int
    households: int
    awarded_points: int
    pending_records: int
    contributors: list[Contributor]


def project_labor(session: Session, *, project_id: uuid.UUID) -> ProjectLabor:
    """What residents gave a project, from its counted records (approved, or capped: the
    labor was given even when a cap cut its points). Pending records are only counted."""
    project = get_project(session, project_id)
    groups = session.execute(
        select(
            Record.member_id,
            Record.household_id,
            Record.charter_version_id,
            Record.rule_id,
            Record.quantity,
            func.count(Record.id),
            func.coalesce(func.sum(Record.awarded_points), 0),
        )
        .where(
            Record.village_id == project.village_id,
            Record.project_id == project.id,
            Record.status.in_(records.COUNTED),
        )
        .group_by(
            Record.member_id,
            Record.household_id,
            Record.charter_version_id,
            Record.rule_id,
            Record.quantity,
        )
    ).all()
    pending = session.execute(
        select(func.count(Record.id)).where(
            Record.village_id == project.village_id,
            Record.project_id == project.id,
            Record.status == records.PENDING,
        )
    ).scalar_one()
    units = _units(session, {(g[2], g[3]) for g in groups})
    totals: dict[str, Decimal] = {}
    by_person: dict[tuple[uuid.UUID | None, uuid.UUID | None], dict[str, Any]] = {}
    members: set[uuid.UUID] = set()
    households: set[uuid.UUID] = set()
    for member_id, household_id, version_id, rule_id, quantity, count, points in groups:
        unit = units[(version_id, rule_id)]
        amount = Decimal(quantity) * count
        totals[unit] = totals.get(unit, Decimal(0)) + amount
        if member_id is not None:
            members.add(member_id)
        if household_id is not None:
            households.add(household_id)
        # A member is one contributor whatever household they were in; a household
        # finding (no member) is the household's.
        key = (member_id, None if member_id is not None else household_id)
        person = by_person.setdefault(key, {"quantities": {}, "records": 0, "points": 0})
        person["quantities"][unit] = person["quantities"].get(unit, Decimal(0)) + amount
        person["records"] += int(count)
        person["points"] += int(points)
    names = _names(session, members, {k[1] for k in by_person if k[1] is not None})
    contributors = [
        Contributor(
            member_id=member_id,
            household_id=household_id,
            # A record names a member or a household (a CHECK constraint sees to it).
            name=names.get(member_id or household_id or uuid.UUID(int=0), ""),
            quantities=_quantities(person["quantities"]),
            records=person["records"],
            awarded_points=person["points"],
        )
        for (member_id, household_id), person in by_person.items()
    ]
    contributors.sort(key=lambda c: (-c.awarded_points, c.name, str(c.member_id or c.household_id)))
    return ProjectLabor(
        project=project,
        totals=_quantities(totals),
        records=sum(c.records for c in contributors),
        members=len(members),
        households=len(households),
        awarded_points=sum(c.awarded_points for c in contributors),
        pending_records=int(pending),
        contributors=contributors,
    )


def _quantities(by_unit: dict[str, Decimal]) -> list[Quantity]:
    return [Quantity(unit, by_unit[unit]) for unit in sorted(by_unit)]


def _units(session: Session, rules: set[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], str]:
    """The unit each (charter version, rule) counts quantities in."""
    versions = charters.versions_named(session, sorted({version for version, _ in rules}))
    units = {}
    for version_id, rule_id in rules:
        rule = charters.compiled(versions[version_id]).rule(rule_id)
        units[(version_id, rule_id)] = unit_of(rule) if rule is not None else DEFAULT_UNIT
    return units


def unit_of(rule: CompiledRule) -> str:
    """The unit of a rule's quantities: its parameters' `unit`, else occurrences."""
    unit = rule.document.params.get("unit")
    return str(unit) if unit else DEFAULT_UNIT


def _names(
    session: Session, member_ids: set[uuid.UUID], household_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    names: dict[uuid.UUID, str] = {}
    if member_ids:
        rows = session.execute(select(Member.id, Member.name).where(Member.id.in_(member_ids)))
        names.update({row[0]: row[1] for row in rows})
    if household_ids:
        rows = session.execute(
            select(Household.id, Household.name).where(Household.id.in_(household_ids))
        )
        names.update({row[0]: row[1] for row in rows})
    return names


# --- activities -------------------------------------------------------------------------


class ActivityState(StrEnum):
    SCHEDULED = "scheduled"  # check-in not open yet
    OPEN = "open"
    ENDED = "ended"
    CLOSED = "closed"  # closed early by a clerk


def activity_state(activity: Activity, now: datetime) -> ActivityState:
    """Where the activity stands at `now`: check-in is open only while OPEN."""
    if activity.closed_at is not None and as_utc(activity.closed_at) <= now:
        return ActivityState.CLOSED
    if now >= as_utc(activity.ends_at):
        return ActivityState.ENDED
    if now < as_utc(activity.starts_at) - CHECK_IN_EARLY:
        return ActivityState.SCHEDULED
    return ActivityState.OPEN


def _refuse_unless_open(activity: Activity, now: datetime, *, scheduled_ok: bool) -> None:
    state = activity_state(activity, now)
    if state is ActivityState.CLOSED:
        assert activity.closed_at is not None
        raise errors.ActivityClosed(
            f"activity {activity.id} was closed at {as_utc(activity.closed_at).isoformat()}",
            detail_zh=f"活动 {activity.id} 已于 {as_utc(activity.closed_at).isoformat()} 关闭",
            activity_id=str(activity.id),
            closed_at=as_utc(activity.closed_at).isoformat(),
        )
    if state is ActivityState.ENDED:
        raise errors.ActivityEnded(
            f"activity {activity.id} ended at {as_utc(activity.ends_at).isoformat()}",
            detail_zh=f"活动 {activity.id} 已于 {as_utc(activity.ends_at).isoformat()} 结束",
            activity_id=str(activity.id),
            ends_at=as_utc(activity.ends_at).isoformat(),
        )
    if state is ActivityState.SCHEDULED and not scheduled_ok:
        opens_at = as_utc(activity.starts_at) - CHECK_IN_EARLY
        raise errors.ActivityNotStarted(
            f"check-in to activity {activity.id} opens at {opens_at.isoformat()}",
            detail_zh=f"活动 {activity.id} 的签到于 {opens_at.isoformat()} 开始",
            activity_id=str(activity.id),
            opens_at=opens_at.isoformat(),
        )


def create_activity(
    session: Session,
    *,
    village_id: uuid.UUID,
    rule_id: str,
    title: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    quantity: Decimal,
    project_id: uuid.UUID | None,
    actor: str,
    clock: ledger.Clock,
) -> Activity:
    """Open an activity for a charter rule that residents may check in to."""
    starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
    _check_window(starts_at, ends_at, clock.now)
    village = tenancy.get_village(session, village_id)
    starts_on = clock.local_date(starts_at)
    version = charters.in_force(session, village_id, starts_on)
    rule = charters.compiled(version).rule(rule_id)
    if rule is None:
        raise UnknownRule(
            f"charter version {version.version} (in force on {starts_on}) has no rule {rule_id!r}",
            detail_zh=f"{starts_on} 生效的第 {version.version} 版章程中没有规则 {rule_id}",
            rule_id=rule_id,
            charter_version=version.version,
        )
    _check_rule(rule)
    if not Decimal(0) < quantity <= records.QUANTITY_MAX:
        raise InvalidQuantity(
            f"quantity must be above 0 and at most {records.QUANTITY_MAX}",
            detail_zh=f"数量须大于 0 且不超过 {records.QUANTITY_MAX}",
            quantity=str(quantity),
        )
    # Scoring once now refuses a quantity the rule cannot take (half a fixed occurrence).
    records.score(rule, quantity, starts_on)
    if project_id is not None:
        found = session.execute(
            select(Project.id).where(Project.id == project_id, Project.village_id == village_id)
        ).scalar_one_or_none()
        if found is None:
            raise record_errors.ProjectNotInVillage(
                f"project {project_id} is not one of this village's",
                detail_zh=f"项目 {project_id} 不属于本村",
                project_id=str(project_id),
            )
    activity = Activity(
        id=new_id(),
        township_id=village.township_id,
        village_id=village.id,
        rule_id=rule.id,
        title=title,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        quantity=format_quantity(quantity),
        project_id=project_id,
        created_at=clock.now,
        created_by=actor,
        closed_at=None,
    )
    session.add(activity)
    session.flush()
    # Made here, in a write, if it does not exist yet: reading a code then only reads.
    credentials.signing_key(session, clock.now)
    return activity


def _check_window(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    reason = reason_zh = None
    if ends_at <= starts_at:
        reason, reason_zh = "ends_at must be after starts_at", "结束时间须晚于开始时间"
    elif ends_at - starts_at > ACTIVITY_LENGTH_MAX:
        reason = f"an activity lasts at most {ACTIVITY_LENGTH_MAX.days} days"
        reason_zh = f"活动最长 {ACTIVITY_LENGTH_MAX.days} 天"
    elif ends_at <= now:
        reason, reason_zh = "ends_at has passed already", "结束时间已经过去"
    if reason is not None:
        raise errors.ActivityWindowInvalid(
            reason,
            detail_zh=reason_zh,
            starts_at=starts_at.isoformat(),
            ends_at=ends_at.isoformat(),
            length_days_max=ACTIVITY_LENGTH_MAX.days,
        )


def _check_rule(rule: CompiledRule) -> None:
    document = rule.document
    if RECORDER_CHECK_IN not in document.recorders:
        raise errors.RuleNotForCheckIn(
            f"rule {rule.id} is recorded by {', '.join(document.recorders)}, not check_in",
            detail_zh=f"规则 {rule.id} 由 {'、'.join(document.recorders)} 记录，不能通过签到"
            "（check_in）记录",
            rule_id=rule.id,
            recorders=list(document.recorders),
        )
    if rule.is_deduction:
        raise errors.RuleNotForCheckIn(
            f"rule {rule.id} is a deduction; nobody checks in to lose points",
            detail_zh=f"规则 {rule.id} 是扣分规则，不能通过签到扣分",
            rule_id=rule.id,
        )
    if document.evidence:
        raise errors.RuleNeedsEvidence(
            f"rule {rule.id} needs evidence ({', '.join(e.value for e in document.evidence)}); "
            "a check-in is its own evidence and carries no other",
            detail_zh=f"规则 {rule.id} 需要佐证"
            f"（{'、'.join(e.value for e in document.evidence)}）；"
            "签到本身即是凭证，无法附带其他佐证",
            rule_id=rule.id,
            evidence=[e.value for e in document.evidence],
        )


def get_activity(session: Session, activity_id: uuid.UUID) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity", activity_id)
    return activity


def list_activities(
    session: Session,
    *,
    village_id: uuid.UUID,
    project_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Activity]:
    """A village's activities, newest first."""
    tenancy.get_village(session, village_id)
    query = select(Activity).where(Activity.village_id == village_id)
    if project_id is not None:
        query = query.where(Activity.project_id == project_id)
    return page_by_id(session, query, Activity, limit, cursor, newest_first=True)


def close_activity(session: Session, *, activity_id: uuid.UUID, now: datetime) -> Activity:
    """End check-in before the activity's end time."""
    activity = get_activity(session, activity_id)
    _refuse_unless_open(activity, now, scheduled_ok=True)
    activity.closed_at = now
    session.flush()
    return activity


# --- check-in codes ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInCode:
    activity: Activity
    token: str
    expires_at: datetime


def check_in_code(session: Session, *, activity_id: uuid.UUID, now: datetime) -> CheckInCode:
    """The activity's signed code. It carries no issue time, so it is the same every time
    it is asked for (a clerk may print it ahead of the day)."""
    activity = get_activity(session, activity_id)
    _refuse_unless_open(activity, now, scheduled_ok=True)
    expires_at = as_utc(activity.ends_at) + CHECK_IN_CODE_GRACE
    exp = int(expires_at.timestamp())
    claims = {
        "iss": CHECK_IN_ISSUER,
        "aud": CHECK_IN_AUDIENCE,
        "sub": str(activity.id),
        "village": str(activity.village_id),
        "exp": exp,
    }
    token = jwt.encode(claims, credentials.signing_key(session, now), algorithm="HS256")
    return CheckInCode(activity, token, datetime.fromtimestamp(exp, UTC))


def qr_svg(token: str, *, title: str = "") -> str:
    """The token as a QR code, an SVG document."""
    out = io.BytesIO()
    segno.make(token, error="m", micro=False).save(
        out, kind="svg", scale=6, border=4, light="white", xmldecl=True, title=title or None
    )
    return out.getvalue().decode()


def _read_code(session: Session, code: str, now: datetime) -> Activity:
    """The activity a code names, if the code is ours, intact and not expired."""
    try:
        claims: dict[str, Any] = jwt.decode(
            code,
            credentials.signing_key(session, now),
            algorithms=["HS256"],
            audience=CHECK_IN_AUDIENCE,
            issuer=CHECK_IN_ISSUER,
            # Expiry is checked against the service's clock below, not the machine's.
            options={"require": ["exp", "sub", "aud", "iss"], "verify_exp": False},
        )
        activity_id = uuid.UUID(str(claims["sub"]))
        village_id = uuid.UUID(str(claims.get("village")))
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        raise errors.CheckInCodeInvalid(
            "the code is not a check-in code of this service", detail_zh="这不是本系统的签到码"
        ) from None
    if expires_at <= now:
        raise errors.CheckInCodeExpired(
            f"the code expired at {expires_at.isoformat()}",
            detail_zh=f"签到码已于 {expires_at.isoformat()} 过期",
            expired_at=expires_at.isoformat(),
        )
    activity = session.get(Activity, activity_id)
    if activity is None or activity.village_id != village_id:
        raise errors.CheckInCodeInvalid(
            "the code names no activity of this service",
            detail_zh="签到码所指的活动在本系统中不存在",
        )
    return activity


# --- check-ins --------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    activity: Activity
    record: Record


def check_in_with_code(
    session: Session, *, binding_id: uuid.UUID, code: str, actor: str, clock: ledger.Clock
) -> CheckIn:
    """A client's bound member checks in by scanning the activity's code."""
    binding = access.get_binding(session, binding_id)
    activity = _read_code(session, code, clock.now)
    if activity.village_id != binding.village_id:
        raise errors.CheckInCodeWrongVillage(
            f"activity {activity.id} is another village's",
            detail_zh=f"活动 {activity.id} 属于其他村",
            activity_id=str(activity.id),
        )
    return check_in(
        session,
        activity=activity,
        member_id=binding.member_id,
        recorder=records.Recorder(actor=actor, roles=frozenset({RECORDER_CHECK_IN})),
        note=f"扫码签到：{activity.title}",
        clock=clock,
    )


def check_in(
    session: Session,
    *,
    activity: Activity,
    member_id: uuid.UUID,
    recorder: records.Recorder,
    note: str,
    clock: ledger.Clock,
) -> CheckIn:
    """Record the member's check-in, once per activity, while it is open."""
    _refuse_unless_open(activity, clock.now, scheduled_ok=False)
    # Under the books lock (the records service takes it again): two taps at once see
    # each other's check-in.
    writer.lock_books(session, activity.village_id)
    if _allows_repeats(session, activity, clock):
        # The records service lets such a rule repeat an occurrence; an activity does not.
        _refuse_second_check_in(session, activity, member_id)
    row = records.record(
        session,
        records.RecordRequest(
            village_id=activity.village_id,
            rule_id=activity.rule_id,
            member_id=member_id,
            household_id=None,
            quantity=Decimal(activity.quantity),
            occurred_at=clock.now,
            occurrence=f"activity:{activity.id}",
            project_id=activity.project_id,
            activity_id=activity.id,
            place=activity.place,
            note=note,
        ),
        recorder=recorder,
        clock=clock,
    )
    return CheckIn(activity, row)


def _allows_repeats(session: Session, activity: Activity, clock: ledger.Clock) -> bool:
    version = charters.find_in_force(session, activity.village_id, clock.local_date(clock.now))
    rule = charters.compiled(version).rule(activity.rule_id) if version is not None else None
    return rule is not None and rule.document.allow_repeats


def _refuse_second_check_in(session: Session, activity: Activity, member_id: uuid.UUID) -> None:
    existing = session.execute(
        select(Record.id)
        .where(
            Record.village_id == activity.village_id,
            Record.activity_id == activity.id,
            Record.member_id == member_id,
            Record.status.not_in((records.REJECTED, records.REVOKED)),
        )
        .limit(1)
    ).scalar_one_or_none()
    if existing is not None:
        raise record_errors.DuplicateRecord(
            f"record {existing} already records this member's check-in to activity {activity.id}",
            detail_zh=f"记录 {existing} 已记录该村民在活动 {activity.id} 的签到",
            record_id=str(existing),
            rule_id=activity.rule_id,
            occurrence=f"activity:{activity.id}",
        )
