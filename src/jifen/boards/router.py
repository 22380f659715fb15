"""/v1 boards endpoints (红黑榜): create, fill, generate from the books, publish."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access.guard import Caller, Scope, requires, resolver
from jifen.access.permissions import Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.boards import errors, service
from jifen.boards.schemas import (
    BoardCreate,
    BoardDetailRead,
    BoardEntriesCreate,
    BoardEntryRead,
    BoardGenerate,
    BoardRead,
)
from jifen.charters.document import Holder
from jifen.kit.schemas import PageRead
from jifen.models import Board
from jifen.problems import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    problem_responses,
)
from jifen.records import errors as record_errors
from jifen.records import service as records

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

_ENTRY_REFUSALS = (
    NotFound,
    IdempotencyKeyReused,
    errors.BoardAlreadyPublished,
    errors.BoardEntryHolderInvalid,
    errors.BoardEntryDuplicate,
    errors.BoardEntriesTooMany,
    errors.BoardEntryNotScorable,
)


@resolver("board_id", "board")
def _board(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Board.township_id, Board.village_id).where(Board.id == id_)
    ).first()
    return None if row is None else Scope("board", id_, row[0], row[1])


def _detail(session: Session, board: Board) -> BoardDetailRead:
    entries = service.entries_of(session, board.id)
    found = service.records_of(session, entries)
    return BoardDetailRead(
        **BoardRead.of(board).model_dump(),
        entries=[
            BoardEntryRead.of(e, found.get(e.record_id) if e.record_id else None) for e in entries
        ],
    )


@router.post(
    "/boards",
    status_code=status.HTTP_201_CREATED,
    tags=["boards"],
    summary="Create a board (红黑榜) of a village for a period",
    description="A draft board: `evaluation` boards are filled with a committee's list "
    "(typed in or uploaded as CSV), `books` boards from the booked points of a rule "
    "category. `red_rule_id` / `black_rule_id` name the charter's `board` rules that score "
    "each side when the board is published; a side without a rule earns nothing.",
    responses=problem_responses(NotFound, AlreadyExists, IdempotencyKeyReused, errors.BoardInvalid),
)
@requires(Permission.BOARDS_WRITE, in_request="body.village_id")
def create_board(
    body: BoardCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> BoardRead:
    guard.require(session, caller, Permission.BOARDS_WRITE, "village_id", body.village_id)
    board = service.create_board(
        session,
        village_id=body.village_id,
        title=body.title,
        kind=body.kind.value,
        source=body.source.value,
        period_start_on=body.period_start_on,
        period_end_on=body.period_end_on,
        red_rule_id=body.red_rule_id,
        black_rule_id=body.black_rule_id,
        actor=caller.actor,
        now=clock.now,
    )
    return BoardRead.of(board)


@router.get(
    "/boards",
    tags=["boards"],
    summary="List boards, newest first",
    responses=problem_responses(InvalidCursor),
)
@requires(Permission.RANKINGS_READ, in_request="query village_id")
def list_boards(
    session: SessionDep,
    caller: CallerDep,
    village_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[BoardRead]:
    guard.require_most_specific(
        session, caller, Permission.RANKINGS_READ, {"village_id": village_id}
    )
    page = service.list_boards(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[BoardRead](
        items=[BoardRead.of(b) for b in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/boards/{board_id}",
    tags=["boards"],
    summary="A board with its entries (names unmasked: staff only)",
    responses=problem_responses(NotFound),
)
@requires(Permission.RANKINGS_READ, on="board_id")
def get_board(board_id: uuid.UUID, session: SessionDep) -> BoardDetailRead:
    return _detail(session, service.get_board(session, board_id))


@router.post(
    "/boards/{board_id}/entries",
    status_code=status.HTTP_201_CREATED,
    tags=["boards"],
    summary="Add entries to a draft board",
    responses=problem_responses(*_ENTRY_REFUSALS),
)
@requires(Permission.BOARDS_WRITE, on="board_id")
def create_board_entries(
    board_id: uuid.UUID, body: BoardEntriesCreate, session: SessionDep, clock: ClockDep
) -> BoardDetailRead:
    service.add_entries(
        session,
        board_id=board_id,
        entries=[
            service.EntryInput(
                holder_kind=e.holder_kind.value,
                holder_id=e.holder_id,
                side=e.side.value,
                reason=e.reason,
                rank=e.rank,
                stars=e.stars,
            )
            for e in body.entries
        ],
        now=clock.now,
    )
    return _detail(session, service.get_board(session, board_id))


async def _csv_body(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type != "text/csv":
        raise errors.BoardCsvInvalid(
            f"{media_type or 'no content type'} is not text/csv",
            detail_zh="请以 text/csv 上传名单",
        )
    raw = await request.body()
    if len(raw) > service.CSV_BYTES_MAX:
        raise errors.BoardCsvInvalid(
            f"the file is larger than {service.CSV_BYTES_MAX} bytes",
            detail_zh=f"文件超过 {service.CSV_BYTES_MAX} 字节",
        )
    return raw


@router.post(
    "/boards/{board_id}/entry-uploads",
    status_code=status.HTTP_201_CREATED,
    tags=["boards"],
    summary="Upload a committee's list as CSV (户号, 姓名, 红黑, 理由; 名次, 星级 optional)",
    description="`Content-Type: text/csv`, UTF-8 (with or without BOM) or GB18030 as "
    "Excel saves it. Each row names a household by its number (户号); 姓名 must be the "
    "household's name or one of its members'; 红黑 is 红 or 黑. The whole file is "
    "refused if any row is wrong (board_csv_invalid names the line and column).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "户号,姓名,红黑,理由\n3-12,王建国,红,门前屋后干净整洁\n",
                }
            },
        }
    },
    responses=problem_responses(*_ENTRY_REFUSALS, errors.BoardCsvInvalid),
)
@requires(Permission.BOARDS_WRITE, on="board_id")
def upload_board_entries(
    board_id: uuid.UUID,
    data: Annotated[bytes, Depends(_csv_body)],
    session: SessionDep,
    clock: ClockDep,
) -> BoardDetailRead:
    found = service.entries_from_csv(session, board_id=board_id, data=data)
    service.add_entries(session, board_id=board_id, entries=found, now=clock.now)
    return _detail(session, service.get_board(session, board_id))


@router.post(
    "/boards/{board_id}/generations",
    status_code=status.HTTP_201_CREATED,
    tags=["boards"],
    summary="Fill a `books` board from the booked points of a rule category",
    description="The holders' counted points under `category` in the board's period: the "
    "top `red_count` go on the red side, the bottom `black_count` (not already red) on "
    "the black side.",
    responses=problem_responses(*_ENTRY_REFUSALS),
)
@requires(Permission.BOARDS_WRITE, on="board_id")
def generate_board_entries(
    board_id: uuid.UUID, body: BoardGenerate, session: SessionDep, clock: ClockDep
) -> BoardDetailRead:
    service.generate_from_books(
        session,
        board_id=board_id,
        category=body.category,
        holder=Holder(body.holder.value),
        red_count=body.red_count,
        black_count=body.black_count,
        now=clock.now,
    )
    return _detail(session, service.get_board(session, board_id))


@router.post(
    "/boards/{board_id}/publications",
    status_code=status.HTTP_201_CREATED,
    tags=["boards"],
    summary="Publish a board: its points follow the charter (公示, review, caps)",
    description="Each entry of a side with a board rule becomes one record of that rule "
    "(dated midday of the period's last day, or now if earlier), so the charter's caps, "
    "review and public notice apply: under a `before` notice list the points are pending "
    "until the list closes. A published board is refused a second time "
    "(board_already_published): its points are booked once. Emits board.published. The "
    "board closes (status `closed`, with the village books' chain head, emitting "
    "board.finalized) when every notice list its records joined has closed and none "
    "awaits review: at once if none is under a notice list, otherwise in `jifen tick`.",
    responses=problem_responses(
        NotFound,
        IdempotencyKeyReused,
        errors.BoardAlreadyPublished,
        errors.BoardRuleInvalid,
        errors.BoardEntryNotScorable,
        errors.BoardPeriodNotOver,
        record_errors.RecorderNotAllowed,
        record_errors.SubjectInvalid,
    ),
)
@requires(Permission.BOARDS_WRITE, on="board_id")
def publish_board(
    board_id: uuid.UUID, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> BoardDetailRead:
    board = service.get_board(session, board_id)
    recorder = records.Recorder(
        caller.actor,
        guard.roles_over(caller, township_id=board.township_id, village_id=board.village_id),
    )
    published, _booked = service.publish(session, board_id=board_id, recorder=recorder, clock=clock)
    return _detail(session, published)
