"""The public display (公示栏), read-only and without sign-in: JSON under /public and one
page per village at /p/{township_code}/{village_code} for a village's screen or a phone.

Every answer is rate-limited per client address (Settings.public_rate_limit) and carries
only masked names (see jifen.boards.public).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from jifen.access.errors import RateLimited
from jifen.access.guard import public
from jifen.access.ratelimit import RateLimiter
from jifen.api.deps import SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.boards import errors
from jifen.boards import public as reads
from jifen.boards.schemas import (
    PublicBoardDetailRead,
    PublicBoardsRead,
    PublicChainCheckRead,
    PublicNoticeListDetailRead,
    PublicNoticeListsRead,
)
from jifen.db import Database
from jifen.problems import NotFound, problem_responses

PAGE_BOARDS = 3  # boards shown whole on the page, newest first
PAGE_LISTS = 3  # notice lists shown whole on the page, newest first

TownshipCode = Annotated[str, Path(min_length=1, max_length=64)]
VillageCode = Annotated[str, Path(min_length=1, max_length=64)]

_templates = Environment(
    loader=PackageLoader("jifen.web", "templates"), autoescape=True, undefined=StrictUndefined
)
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=60",
}


def hit_public_limit(request: Request) -> None:
    """Count one public request for the client's address, or refuse it (429)."""
    limiter: RateLimiter = request.app.state.public_limiter
    address = request.client.host if request.client else "unknown"
    limiter.hit(f"public:{address}")


Limited = Depends(hit_public_limit)
router = APIRouter(
    prefix="/public/townships/{township_code}/villages/{village_code}",
    route_class=UnitOfWorkRoute,
    dependencies=[Limited],
    tags=["public"],
)
_REFUSALS = problem_responses(errors.PublicVillageNotFound, RateLimited)


@router.get(
    "/boards",
    summary="A village's published boards (公示栏, no sign-in)",
    responses=_REFUSALS,
)
@public
def list_public_boards(
    township_code: TownshipCode, village_code: VillageCode, session: SessionDep
) -> PublicBoardsRead:
    return reads.list_boards(session, reads.find_village(session, township_code, village_code))


@router.get(
    "/boards/{board_id}",
    summary="A published board with its entries, names masked (张*明, 王*国户)",
    responses=problem_responses(errors.PublicVillageNotFound, RateLimited, NotFound),
)
@public
def get_public_board(
    township_code: TownshipCode, village_code: VillageCode, board_id: uuid.UUID, session: SessionDep
) -> PublicBoardDetailRead:
    place = reads.find_village(session, township_code, village_code)
    return reads.get_board(session, place, board_id)


@router.get(
    "/notice-lists",
    summary="A village's opened notice lists (公示名单), with the chain head of closed ones",
    responses=_REFUSALS,
)
@public
def list_public_notice_lists(
    township_code: TownshipCode, village_code: VillageCode, session: SessionDep
) -> PublicNoticeListsRead:
    place = reads.find_village(session, township_code, village_code)
    return reads.list_notice_lists(session, place)


@router.get(
    "/notice-lists/{list_id}",
    summary="A notice list's items (names masked) and its objections' outcomes",
    responses=problem_responses(errors.PublicVillageNotFound, RateLimited, NotFound),
)
@public
def get_public_notice_list(
    township_code: TownshipCode, village_code: VillageCode, list_id: uuid.UUID, session: SessionDep
) -> PublicNoticeListDetailRead:
    place = reads.find_village(session, township_code, village_code)
    return reads.get_notice_list(session, place, list_id)


ChainHash = Annotated[
    str | None,
    Query(
        alias="hash",
        pattern="^[0-9a-fA-F]{64}$",
        description="the hash printed beside 第 N 笔 (64 hex digits): the answer then says "
        "whether it `matches` entry N's",
    ),
]


@router.get(
    "/chain/{seq}",
    summary="Check a printed list's chain head: entry N of the village's books and "
    "whether the chain through it is intact",
    description="A closed notice list or board prints the village books' chain head at "
    "its closing (`head_seq`, `head_hash`: 第 N 笔 and a hash). Anyone holding the paper "
    "can check it here without signing in: `hash` is entry N's hash as stored, `intact` "
    "says whether every entry from the first through N links to the one before and "
    "matches its hash (recomputed now), and with `?hash=` `matches` says whether the "
    "printed hash is entry N's. Hashes and numbers only. Not found for N below 1 or "
    "beyond the books' newest entry (`current_seq`).",
    responses=problem_responses(errors.PublicVillageNotFound, RateLimited, NotFound),
)
@public
def check_public_chain(
    township_code: TownshipCode,
    village_code: VillageCode,
    seq: int,
    session: SessionDep,
    hash_: ChainHash = None,
) -> PublicChainCheckRead:
    place = reads.find_village(session, township_code, village_code)
    return reads.check_chain(session, place, seq=seq, hash_=hash_)


PAGE_PATH = "/p/{township_code}/{village_code}"

_SIDE_LABELS = {"red": "红榜", "black": "黑榜"}
_STATE_LABELS = {
    "counted": "已计入",
    "pending": "公示中",
    "posted": "已计入",
    "voided": "已撤销",
    "reversed": "已冲正",
    "awaiting_review": "待审核",
    "revoked": "已撤回",
    "none": "不计分",
    "open": "公示中",
    "closed": "已结束",
    "scheduled": "未开始",
    "upheld": "异议成立",
    "rejected": "异议不成立",
}
_KIND_LABELS = {"objection": "异议", "late_appeal": "逾期申诉"}


def village_page(request: Request) -> Response:
    """The village's 公示栏 as one page: its newest boards and notice lists, in large type."""
    hit_public_limit(request)
    township_code = str(request.path_params["township_code"])[:64]
    village_code = str(request.path_params["village_code"])[:64]
    database: Database = request.app.state.db
    with database.unit_of_work(write=False) as session:
        try:
            place = reads.find_village(session, township_code, village_code)
        except errors.PublicVillageNotFound:
            html = _templates.get_template("public_missing.html").render()
            return HTMLResponse(html, status_code=404, headers=_PAGE_HEADERS)
        board_list = reads.list_boards(session, place)
        boards = [reads.get_board(session, place, b.id) for b in board_list.boards[:PAGE_BOARDS]]
        notice = reads.list_notice_lists(session, place)
        lists = [reads.get_notice_list(session, place, n.id) for n in notice.lists[:PAGE_LISTS]]
    html = _templates.get_template("public_village.html").render(
        village=board_list.village,
        boards=boards,
        lists=lists,
        sides=_SIDE_LABELS,
        states=_STATE_LABELS,
        kinds=_KIND_LABELS,
    )
    return HTMLResponse(html, headers=_PAGE_HEADERS)
