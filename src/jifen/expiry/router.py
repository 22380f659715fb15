"""/v1 expiring points: what expires (or clears) soon, per holder."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from jifen.access import service as access
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import errors as charter_errors
from jifen.expiry import service
from jifen.expiry.schemas import HolderExpiringRead
from jifen.expiry.service import WITHIN_DAYS_MAX
from jifen.kit.schemas import PageRead
from jifen.problems import InvalidCursor, NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

WithinDays = Annotated[
    int | None,
    Query(
        ge=0,
        le=WITHIN_DAYS_MAX,
        description="Points whose last day is at most this many days from today (and any "
        "already past, which the next tick takes). Default: the notice the charter in "
        "force gives (`settings.expiry.notice_days`, 30 if unset).",
    ),
]
_DESCRIPTION = (
    "Computed from the holders' postings as they stand now: the oldest points are spent "
    "first, so spending or earning before the day changes what expires. Held points "
    "(pending) are not counted; a balance below zero has nothing to expire."
)


@router.get(
    "/villages/{village_id}/expiring",
    tags=["accounts"],
    summary="Holders of the village with points expiring soon",
    description=_DESCRIPTION + " Only holders with something expiring are listed, by account.",
    responses=problem_responses(NotFound, InvalidCursor, charter_errors.CharterUnavailable),
)
@requires(Permission.BALANCES_READ, on="village_id")
def get_village_expiring(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    within_days: WithinDays = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[HolderExpiringRead]:
    page = service.list_expiring(
        session,
        village_id=village_id,
        clock=clock,
        within_days=within_days,
        limit=limit,
        cursor=cursor,
    )
    return PageRead[HolderExpiringRead](
        items=[HolderExpiringRead.of(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/members/{member_id}/expiring",
    tags=["accounts"],
    summary="A member's points expiring soon, and their household's",
    description=_DESCRIPTION,
    responses=problem_responses(NotFound, charter_errors.CharterUnavailable),
)
@requires(Permission.BALANCES_READ, on="member_id")
def get_member_expiring(
    member_id: uuid.UUID, session: SessionDep, clock: ClockDep, within_days: WithinDays = None
) -> list[HolderExpiringRead]:
    found = service.member_expiring(
        session, member_id=member_id, clock=clock, within_days=within_days
    )
    return [HolderExpiringRead.of(item) for item in found]


@router.get(
    "/bindings/{binding_id}/expiring",
    tags=["bindings"],
    summary="The bound member's points expiring soon, and their household's",
    description=_DESCRIPTION,
    responses=problem_responses(NotFound, charter_errors.CharterUnavailable),
)
@requires(None, on="binding_id", client_scope=ClientScope.BALANCES_READ, staff=False)
def get_bound_expiring(
    binding_id: uuid.UUID, session: SessionDep, clock: ClockDep, within_days: WithinDays = None
) -> list[HolderExpiringRead]:
    binding = access.get_binding(session, binding_id)
    found = service.member_expiring(
        session, member_id=binding.member_id, clock=clock, within_days=within_days
    )
    return [HolderExpiringRead.of(item) for item in found]
