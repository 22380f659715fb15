"""/v1 village projects, activities, their check-in codes, and check-ins."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from jifen.access import guard
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters.document import RECORDER_CHECK_IN
from jifen.charters.errors import InvalidQuantity, NoCharterInForce, UnknownRule
from jifen.kit.schemas import PageRead
from jifen.labor import errors
from jifen.labor import service as labor
from jifen.labor.schemas import (
    ActivityCreate,
    ActivityRead,
    CheckInCodeRead,
    CheckInRead,
    CodeCheckInCreate,
    MemberCheckInCreate,
    ProjectCreate,
    ProjectLaborRead,
    ProjectRead,
)
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.models import Activity
from jifen.problems import InvalidCursor, NotFound, problem_responses
from jifen.records import errors as record_errors
from jifen.records import service as records

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

# The codes are bearer secrets for the length of an activity: never kept by a cache.
_NO_STORE = {"Cache-Control": "no-store"}

_CHECK_IN_PROBLEMS = (
    NotFound,
    errors.ActivityNotStarted,
    errors.ActivityEnded,
    errors.ActivityClosed,
    record_errors.DuplicateRecord,
    record_errors.RecorderNotAllowed,
    record_errors.SubjectInvalid,
    ledger_errors.MemberInactive,
    NoCharterInForce,
    UnknownRule,
    InvalidQuantity,
)


# --- projects ---------------------------------------------------------------------------


@router.post(
    "/villages/{village_id}/projects",
    status_code=status.HTTP_201_CREATED,
    tags=["labor"],
    summary="Open a village project (投工投劳)",
    responses=problem_responses(NotFound, errors.ProjectCodeTaken, errors.ProjectDatesInvalid),
)
@requires(Permission.ACTIVITIES_MANAGE, on="village_id")
def create_project(
    village_id: uuid.UUID,
    body: ProjectCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ProjectRead:
    project = labor.create_project(
        session,
        village_id=village_id,
        code=body.code,
        name=body.name,
        description=body.description,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        actor=caller.actor,
        now=clock.now,
        category=body.category,
        planned_investment_fen=body.planned_investment_fen,
        status=body.status,
    )
    return ProjectRead.model_validate(project)


@router.get(
    "/villages/{village_id}/projects",
    tags=["labor"],
    summary="A village's projects",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.CHARTERS_READ, on="village_id")
def list_projects(
    village_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[ProjectRead]:
    page = labor.list_projects(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[ProjectRead](
        items=[ProjectRead.model_validate(p) for p in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/projects/{project_id}",
    tags=["labor"],
    summary="Get a project",
    responses=problem_responses(NotFound),
)
@requires(Permission.CHARTERS_READ, on="project_id")
def get_project(project_id: uuid.UUID, session: SessionDep) -> ProjectRead:
    return ProjectRead.model_validate(labor.get_project(session, project_id))


@router.get(
    "/projects/{project_id}/labor",
    tags=["labor"],
    summary="The labor residents gave a project",
    description="Totals per unit, members, households and points, from the project's "
    "approved and capped records; records waiting for review are only counted.",
    responses=problem_responses(NotFound),
)
@requires(Permission.CHARTERS_READ, on="project_id")
def get_project_labor(project_id: uuid.UUID, session: SessionDep) -> ProjectLaborRead:
    return ProjectLaborRead.of(labor.project_labor(session, project_id=project_id))


# --- activities -------------------------------------------------------------------------


def _activity_read(activity: Activity, clock: ledger.Clock) -> ActivityRead:
    return ActivityRead.model_validate(
        {
            **{k: getattr(activity, k) for k in ActivityRead.model_fields if k != "state"},
            "state": labor.activity_state(activity, clock.now),
        }
    )


@router.post(
    "/villages/{village_id}/activities",
    status_code=status.HTTP_201_CREATED,
    tags=["labor"],
    summary="Open an activity residents check in to",
    description="The rule must be in the charter version in force on the start date and "
    "list `check_in` among its recorders; it may ask for no evidence (a check-in is its "
    "own). Each check-in records `quantity` of the rule's unit.",
    responses=problem_responses(
        NotFound,
        errors.ActivityWindowInvalid,
        errors.RuleNotForCheckIn,
        errors.RuleNeedsEvidence,
        NoCharterInForce,
        UnknownRule,
        InvalidQuantity,
        record_errors.ProjectNotInVillage,
    ),
)
@requires(Permission.ACTIVITIES_MANAGE, on="village_id")
def create_activity(
    village_id: uuid.UUID,
    body: ActivityCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ActivityRead:
    activity = labor.create_activity(
        session,
        village_id=village_id,
        rule_id=body.rule_id,
        title=body.title,
        place=body.place,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        quantity=body.quantity,
        project_id=body.project_id,
        actor=caller.actor,
        clock=clock,
    )
    return _activity_read(activity, clock)


@router.get(
    "/villages/{village_id}/activities",
    tags=["labor"],
    summary="A village's activities, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.CHARTERS_READ, on="village_id")
def list_activities(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    project_id: uuid.UUID | None = None,
) -> PageRead[ActivityRead]:
    page = labor.list_activities(
        session, village_id=village_id, project_id=project_id, limit=limit, cursor=cursor
    )
    return PageRead[ActivityRead](
        items=[_activity_read(a, clock) for a in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/activities/{activity_id}",
    tags=["labor"],
    summary="Get an activity",
    responses=problem_responses(NotFound),
)
@requires(Permission.CHARTERS_READ, on="activity_id")
def get_activity(activity_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> ActivityRead:
    return _activity_read(labor.get_activity(session, activity_id), clock)


@router.post(
    "/activities/{activity_id}/closure",
    tags=["labor"],
    summary="Close an activity early",
    description="Check-in stops at once; the records already made stay.",
    responses=problem_responses(NotFound, errors.ActivityClosed, errors.ActivityEnded),
)
@requires(Permission.ACTIVITIES_MANAGE, on="activity_id")
def close_activity(activity_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> ActivityRead:
    activity = labor.close_activity(session, activity_id=activity_id, now=clock.now)
    return _activity_read(activity, clock)


@router.get(
    "/activities/{activity_id}/check-in-code",
    tags=["labor"],
    summary="The activity's signed check-in code",
    description="A signed token naming the activity and its village, valid until the "
    "activity ends (and a short grace). The same token every time: print it ahead.",
    response_model=CheckInCodeRead,
    responses=problem_responses(NotFound, errors.ActivityClosed, errors.ActivityEnded),
)
@requires(Permission.ACTIVITIES_MANAGE, on="activity_id")
def get_check_in_code(activity_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> Response:
    code = labor.check_in_code(session, activity_id=activity_id, now=clock.now)
    body = CheckInCodeRead(
        activity_id=code.activity.id,
        token=code.token,
        expires_at=code.expires_at,
        svg_url=f"/v1/activities/{code.activity.id}/qr-code",
    )
    return JSONResponse(body.model_dump(mode="json"), headers=_NO_STORE)


_SVG_EXAMPLE = (
    '<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    'width="222" height="222" class="segno">...</svg>'
)


@router.get(
    "/activities/{activity_id}/qr-code",
    tags=["labor"],
    summary="The activity's check-in code as a QR code (SVG)",
    description="Encodes the token of `GET /v1/activities/{activity_id}/check-in-code`.",
    response_class=Response,
    responses={
        200: {
            "description": "An SVG image",
            "content": {"image/svg+xml": {"schema": {"type": "string"}, "example": _SVG_EXAMPLE}},
        },
        **problem_responses(NotFound, errors.ActivityClosed, errors.ActivityEnded),
    },
)
@requires(Permission.ACTIVITIES_MANAGE, on="activity_id")
def get_qr_code(activity_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> Response:
    code = labor.check_in_code(session, activity_id=activity_id, now=clock.now)
    return Response(
        labor.qr_svg(code.token, title=code.activity.title),
        media_type="image/svg+xml",
        headers=_NO_STORE,
    )


# --- check-ins --------------------------------------------------------------------------


def _check_in_read(check_in: labor.CheckIn) -> CheckInRead:
    row = check_in.record
    assert row.member_id is not None  # a check-in always names its member
    return CheckInRead(
        id=row.id,
        activity_id=check_in.activity.id,
        activity_title=check_in.activity.title,
        member_id=row.member_id,
        household_id=row.household_id,
        status=row.status,
        stages_pending=list(row.stages_pending),
        charter_version=row.charter_version,
        rule_id=row.rule_id,
        quantity=row.quantity,
        points=row.points,
        merit_points=row.merit_points,
        explanation=row.explanation,
        occurred_at=row.occurred_at,
    )


@router.post(
    "/bindings/{binding_id}/check-ins",
    status_code=status.HTTP_201_CREATED,
    tags=["labor"],
    summary="Check the bound member in to an activity (扫码签到)",
    description="The client posts the code its user's phone read from the activity's QR "
    "code. The check-in is recorded as the `check_in` recorder: the charter says whether "
    "it counts at once or waits for review. One check-in per member and activity.",
    responses=problem_responses(
        *_CHECK_IN_PROBLEMS,
        errors.CheckInCodeInvalid,
        errors.CheckInCodeExpired,
        errors.CheckInCodeWrongVillage,
    ),
)
@requires(None, on="binding_id", client_scope=ClientScope.ACTIVITIES_CHECK_IN, staff=False)
def check_in_with_code(
    binding_id: uuid.UUID,
    body: CodeCheckInCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> CheckInRead:
    check_in = labor.check_in_with_code(
        session, binding_id=binding_id, code=body.code, actor=caller.actor, clock=clock
    )
    return _check_in_read(check_in)


@router.post(
    "/activities/{activity_id}/check-ins",
    status_code=status.HTTP_201_CREATED,
    tags=["labor"],
    summary="Check a member in by hand (代签到)",
    description="For residents without a phone. Recorded with the caller's roles over the "
    "village and as `check_in`, whichever the charter lets count with the least review.",
    responses=problem_responses(*_CHECK_IN_PROBLEMS),
)
@requires(Permission.RECORDS_CREATE, on="activity_id")
def check_in_member(
    activity_id: uuid.UUID,
    body: MemberCheckInCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> CheckInRead:
    activity = labor.get_activity(session, activity_id)
    roles = guard.roles_over(
        caller, township_id=activity.township_id, village_id=activity.village_id
    )
    check_in = labor.check_in(
        session,
        activity=activity,
        member_id=body.member_id,
        recorder=records.Recorder(caller.actor, roles | {RECORDER_CHECK_IN}),
        note=f"工作人员代签到：{activity.title}",
        clock=clock,
    )
    return _check_in_read(check_in)
