"""/v1 public notice (公示) endpoints: a village's notice lists, objections, decisions."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access import service as access
from jifen.access.guard import Caller, Scope, requires, resolver
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import errors as charter_errors
from jifen.kit.schemas import PageRead
from jifen.models import NoticeList, NoticeObjection
from jifen.notice import errors, service
from jifen.notice.schemas import (
    BoundObjectionCreate,
    NoticeListDetailRead,
    NoticeListRead,
    ObjectionCreate,
    ObjectionDecisionCreate,
    ObjectionRead,
)
from jifen.problems import InvalidCursor, NotFound, problem_responses
from jifen.records import errors as record_errors

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

_RAISING = (
    NotFound,
    errors.EntryNotOnList,
    errors.NoticeListNotOpen,
    errors.AppealWindowClosed,
    errors.EntryNotObjectable,
    errors.ObjectionAlreadyOpen,
)
_DECIDING = (
    NotFound,
    errors.ObjectionAlreadyDecided,
    errors.ObjectionDeciderNotAllowed,
    charter_errors.CharterUnavailable,
    record_errors.RecordNotRevocable,
)

Period = Annotated[
    str | None,
    Query(
        pattern=r"^2\d{3}-(0[1-9]|1[0-2])$",
        description="the month whose records the list shows (YYYY-MM)",
        examples=["2026-10"],
    ),
]


@resolver("notice_list_id", "notice list")
def _notice_list(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(NoticeList.township_id, NoticeList.village_id).where(NoticeList.id == id_)
    ).first()
    return None if row is None else Scope("notice list", id_, row[0], row[1])


@resolver("notice_objection_id", "objection")
def _notice_objection(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(NoticeList.township_id, NoticeList.village_id)
        .join(NoticeObjection, NoticeObjection.list_id == NoticeList.id)
        .where(NoticeObjection.id == id_)
    ).first()
    return None if row is None else Scope("objection", id_, row[0], row[1])


@router.get(
    "/villages/{village_id}/notice-lists",
    tags=["notice"],
    summary="A village's notice lists (公示名单), newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.NOTICE_READ, on="village_id")
def list_notice_lists(
    village_id: uuid.UUID,
    session: SessionDep,
    state: Literal["scheduled", "open", "closed"] | None = None,
    period: Period = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[NoticeListRead]:
    page = service.list_lists(
        session,
        village_id=village_id,
        state=state,
        period_start_on=date.fromisoformat(f"{period}-01") if period else None,
        limit=limit,
        cursor=cursor,
    )
    return PageRead[NoticeListRead](
        items=[NoticeListRead.of(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/notice-lists/{notice_list_id}",
    tags=["notice"],
    summary="A notice list with its entries and objections",
    description="Each item says where its points are: `pending` (held until the list "
    "closes), `posted`, `voided`, `reversed`, or `under_objection` while an objection "
    "waits for a decision.",
    responses=problem_responses(NotFound),
)
@requires(Permission.NOTICE_READ, on="notice_list_id")
def get_notice_list(notice_list_id: uuid.UUID, session: SessionDep) -> NoticeListDetailRead:
    return NoticeListDetailRead.of_view(service.get_list_view(session, notice_list_id))


@router.post(
    "/notice-lists/{notice_list_id}/objections",
    status_code=status.HTTP_201_CREATED,
    tags=["notice"],
    summary="Record a resident's objection (异议) or late appeal (逾期申诉) to one entry",
    description="While the list is open an objection; after it closes, within the "
    "charter's appeal window, a late appeal. It holds back only the entry it names.",
    responses=problem_responses(*_RAISING),
)
@requires(Permission.NOTICE_OBJECT, on="notice_list_id")
def create_objection(
    notice_list_id: uuid.UUID,
    body: ObjectionCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ObjectionRead:
    row = service.object_for_member(
        session,
        list_id=notice_list_id,
        entry_id=body.entry_id,
        member_id=body.raised_by_member_id,
        reason=body.reason,
        recorded_by=caller.actor,
        clock=clock,
    )
    return ObjectionRead.of(row)


@router.post(
    "/notice-objections/{notice_objection_id}/decisions",
    tags=["notice"],
    summary="Decide an objection or late appeal",
    description="Only a holder of the role the charter's notice setting names "
    "(`deciding_role`, e.g. the village supervision committee) decides. Upheld: a held "
    "entry is voided, a counted one reversed, dated today; rejected: a held entry posts "
    "(today if the list has closed, else when it closes).",
    responses=problem_responses(*_DECIDING),
)
@requires(Permission.NOTICE_DECIDE, on="notice_objection_id")
def decide_notice_objection(
    notice_objection_id: uuid.UUID,
    body: ObjectionDecisionCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ObjectionRead:
    notice_list = service.get_list(
        session, service.get_objection(session, notice_objection_id).list_id
    )
    roles = guard.roles_over(
        caller, township_id=notice_list.township_id, village_id=notice_list.village_id
    )
    row = service.decide_objection(
        session,
        objection_id=notice_objection_id,
        upheld=body.upheld,
        reason=body.reason,
        decider=caller.actor,
        roles=roles,
        clock=clock,
    )
    return ObjectionRead.of(row)


@router.post(
    "/bindings/{binding_id}/objections",
    status_code=status.HTTP_201_CREATED,
    tags=["bindings"],
    summary="The bound resident's own objection to one entry of a notice list",
    responses=problem_responses(*_RAISING),
)
@requires(None, on="binding_id", client_scope=ClientScope.NOTICE_OBJECT, staff=False)
def create_bound_objection(
    binding_id: uuid.UUID,
    body: BoundObjectionCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ObjectionRead:
    binding = access.get_binding(session, binding_id)
    notice_list = session.get(NoticeList, body.notice_list_id)
    if notice_list is None or notice_list.village_id != binding.village_id:
        raise NotFound("notice list", body.notice_list_id)
    row = service.object_for_member(
        session,
        list_id=notice_list.id,
        entry_id=body.entry_id,
        member_id=binding.member_id,
        reason=body.reason,
        recorded_by=caller.actor,
        clock=clock,
    )
    return ObjectionRead.of(row)
