"""/v1 boards (红黑榜) and notice lists (公示名单) read by a mini-program through a binding.

What the bound resident sees is what the public display shows (jifen.boards.public:
names masked, numbers starred out, objections by outcome only), and no more: their own
entries are marked `mine`, and each notice-list item carries the entry a resident may
object to through POST /v1/bindings/{binding_id}/objections.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope
from jifen.api.deps import Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.boards import public as reads
from jifen.boards import service as boards
from jifen.boards.schemas import (
    BoundBoardDetailRead,
    BoundBoardEntryRead,
    BoundNoticeItemRead,
    BoundNoticeListDetailRead,
    PublicBoardRead,
    PublicNoticeListRead,
)
from jifen.kit.pagination import page_by_id
from jifen.kit.schemas import PageRead
from jifen.models import Board, MemberBinding, NoticeList, Record
from jifen.problems import InvalidCursor, NotFound, problem_responses
from jifen.tenancy import service as tenancy

router = APIRouter(prefix="/v1/bindings/{binding_id}", route_class=UnitOfWorkRoute)

_SCOPE_NOTE = (
    " Needs the client scope `boards:read` (there is no separate scope for reading notice "
    "lists: `boards:read` covers the boards and the notice lists alike). A binding of "
    "another client, or a revoked one, is not found."
)


def _household_of(session: Session, binding: MemberBinding) -> uuid.UUID | None:
    membership = tenancy.current_membership(session, binding.member_id)
    return membership.household_id if membership is not None else None


@router.get(
    "/boards",
    tags=["bindings"],
    summary="The published boards (红黑榜) of the bound member's village, newest first",
    description="The boards the village's public display shows, titles scrubbed of "
    "personal names and numbers." + _SCOPE_NOTE,
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(None, on="binding_id", client_scope=ClientScope.BOARDS_READ, staff=False)
def list_bound_boards(
    binding_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[PublicBoardRead]:
    binding = access.get_binding(session, binding_id)
    place = reads.village_of(session, binding.village_id)
    page = page_by_id(
        session, reads.shown_boards(binding.village_id), Board, limit, cursor, newest_first=True
    )
    return PageRead[PublicBoardRead](
        items=reads.board_reads(session, place, page.items), next_cursor=page.next_cursor
    )


@router.get(
    "/boards/{board_id}",
    tags=["bindings"],
    summary="A published board of the bound member's village, their own entries marked",
    description="The board as the public display shows it (names masked: 张*明, 王*国户), "
    "each entry with `mine`: the bound member's own, or their household's." + _SCOPE_NOTE,
    responses=problem_responses(NotFound),
)
@requires(None, on="binding_id", client_scope=ClientScope.BOARDS_READ, staff=False)
def get_bound_board(
    binding_id: uuid.UUID, board_id: uuid.UUID, session: SessionDep
) -> BoundBoardDetailRead:
    binding = access.get_binding(session, binding_id)
    place = reads.village_of(session, binding.village_id)
    shown = reads.get_board(session, place, board_id)
    household_id = _household_of(session, binding)
    # The same entries, in the order the public read lists them.
    entries = boards.entries_of(session, board_id)
    assert len(entries) == len(shown.entries)
    marked = [
        BoundBoardEntryRead(
            **read.model_dump(),
            mine=(entry.member_id is not None and entry.member_id == binding.member_id)
            or (entry.household_id is not None and entry.household_id == household_id),
        )
        for read, entry in zip(shown.entries, entries, strict=True)
    ]
    return BoundBoardDetailRead(**shown.model_dump(exclude={"entries"}), entries=marked)


@router.get(
    "/notice-lists",
    tags=["bindings"],
    summary="The opened notice lists (公示名单) of the bound member's village, newest first",
    description="Open and closed lists (scheduled ones are not public yet), each with its "
    "number of items and, once closed, the village books' chain head." + _SCOPE_NOTE,
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(None, on="binding_id", client_scope=ClientScope.BOARDS_READ, staff=False)
def list_bound_notice_lists(
    binding_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[PublicNoticeListRead]:
    binding = access.get_binding(session, binding_id)
    page = page_by_id(
        session,
        reads.shown_lists(binding.village_id),
        NoticeList,
        limit,
        cursor,
        newest_first=True,
    )
    return PageRead[PublicNoticeListRead](
        items=reads.notice_list_reads(session, page.items), next_cursor=page.next_cursor
    )


@router.get(
    "/notice-lists/{notice_list_id}",
    tags=["bindings"],
    summary="A notice list of the bound member's village: items, objections' outcomes",
    description="The list as the public display shows it (names masked, objections by "
    "outcome only). Each item carries `entry_id`, what POST "
    "/v1/bindings/{binding_id}/objections names (with this list's id) for the resident's "
    "objection, and `mine`: the bound member's points, or their household's where the "
    "charter holds points per household." + _SCOPE_NOTE,
    responses=problem_responses(NotFound),
)
@requires(None, on="binding_id", client_scope=ClientScope.BOARDS_READ, staff=False)
def get_bound_notice_list(
    binding_id: uuid.UUID, notice_list_id: uuid.UUID, session: SessionDep
) -> BoundNoticeListDetailRead:
    binding = access.get_binding(session, binding_id)
    place = reads.village_of(session, binding.village_id)
    shown = reads.get_notice_list(session, place, notice_list_id)
    # The same items, in the order the public read lists them.
    items = reads.notice_items(session, notice_list_id)
    assert len(items) == len(shown.items)
    found = {
        row.id: row
        for row in session.execute(
            select(Record).where(Record.id.in_([item.record_id for item in items]))
        ).scalars()
    }
    household_id = _household_of(session, binding)
    marked = []
    for read, item in zip(shown.items, items, strict=True):
        record = found[item.record_id]
        if record.holder == "household":
            mine = record.household_id is not None and record.household_id == household_id
        else:
            mine = record.member_id == binding.member_id
        marked.append(BoundNoticeItemRead(**read.model_dump(), entry_id=item.entry_id, mine=mine))
    return BoundNoticeListDetailRead(**shown.model_dump(exclude={"items"}), items=marked)
