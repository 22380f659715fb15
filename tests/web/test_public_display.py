"""The public display page (公示栏, /p/{township}/{village}) in headless chromium, at a
phone's size and a village screen's: no sign-in, masked names, both sides of the board,
the notice list with its objection, and nothing unmasked on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.models import NoticeListItem
from jifen.notice import service as notice
from tests.boards.world import (
    CLERK,
    ID_TAILS,
    NOW,
    PERSONAL_NAMES,
    PHONES,
    board_world,
    draft_board,
    evaluation_entries,
    publish,
)
from tests.records.world import at
from tests.web.support import LiveServer

PHONE = {"width": 390, "height": 844}
SCREEN = {"width": 1920, "height": 1080}


@pytest.mark.parametrize("viewport", [PHONE, SCREEN], ids=["phone", "screen"])
def test_the_public_page_shows_the_board_and_the_notice_list_masked(
    page: Page,
    page_errors: list[str],
    live_server: LiveServer,
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    viewport: dict[str, int],
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = draft_board(bw)
    with db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    publish(bw, board_id)
    with db.unit_of_work() as session:
        item = session.query(NoticeListItem).first()
        assert item is not None
        notice.raise_objection(
            session,
            list_id=item.list_id,
            entry_id=item.entry_id,
            raised_by="李四",
            reason=f"王建国 {PHONES[0]}",
            recorded_by=CLERK.actor,
            clock=bw.clock(at(2026, 11, 28)),
        )
    page.set_viewport_size(viewport)
    response = page.goto(f"/p/{bw.township_code}/{bw.village_code}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("清泉村 公示栏")
    board = page.locator("article.board")
    expect(board.get_by_role("heading", name="2026-10 环境卫生红黑榜")).to_be_visible()
    expect(board.locator(".red tbody tr")).to_have_count(2)
    expect(board.locator(".black tbody tr")).to_have_count(1)
    expect(board.locator(".red tbody tr").first).to_contain_text("王*国户")
    expect(board.locator(".red tbody tr").first).to_contain_text("+10")
    expect(board.locator(".black tbody tr").first).to_contain_text("李*")
    expect(board.locator(".black tbody tr").first).to_contain_text("-4")
    listed = page.locator("article.notice-list")
    expect(listed).to_have_count(1)
    expect(listed.locator("h3")).to_contain_text("公示中")
    expect(listed).to_contain_text("异议：处理中")
    # Large type: readable from across a room, and on a phone without zooming.
    size = page.locator("body").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 20
    # Nothing runs off the side: no sideways scrolling on a phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, overflow
    content = page.content()
    for secret in (*PERSONAL_NAMES, *PHONES, *ID_TAILS):
        assert secret not in content, secret
    assert page_errors == []
