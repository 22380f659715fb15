"""Boards through the API and the service (SQLite and PostgreSQL): created, filled (typed,
CSV, from the books), published once, its points following the charter.

October's sanitation before any board (tests.boards.world): 张家 9, 王建国户 6, 李家 4.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.boards import errors
from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import BoardEntry, NoticeList, NoticeListItem, OutboxEvent, Record
from jifen.notice import service as notice
from tests.boards.world import (
    CLERK,
    NOW,
    OCTOBER,
    BoardWorld,
    board_world,
    draft_board,
    evaluation_entries,
    publish,
)
from tests.records.world import at


@pytest.fixture
def bw(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> BoardWorld:
    return board_world(db, settings, monkeypatch, notice_before=False)


def _create(client: TestClient, bw: BoardWorld, **overrides: Any) -> dict[str, Any]:
    body = {
        "village_id": str(bw.world.village_id),
        "title": "2026-10 环境卫生红黑榜",
        "period_start_on": OCTOBER[0].isoformat(),
        "period_end_on": OCTOBER[1].isoformat(),
        "red_rule_id": "hygiene_red",
        "black_rule_id": "hygiene_black",
        **overrides,
    }
    answer = client.post("/v1/boards", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _points(bw: BoardWorld) -> tuple[int, int, int]:
    """(王建国户, 张家, 李家) posted points."""
    w = bw.world
    return (
        w.household_points(bw.household_w),
        w.household_points(w.household_a),
        w.household_points(w.household_b),
    )


def _board_records(bw: BoardWorld) -> int:
    with bw.db.unit_of_work(write=False) as session:
        return int(
            session.execute(
                select(func.count()).select_from(Record).where(Record.category == "board")
            ).scalar_one()
        )


def test_an_evaluation_board_books_its_points_once(client: TestClient, bw: BoardWorld) -> None:
    assert _points(bw) == (6, 9, 4)
    board = _create(client, bw)
    assert board["status"] == "draft"
    w = bw.world
    answer = client.post(
        f"/v1/boards/{board['id']}/entries",
        json={
            "entries": [
                {
                    "holder_kind": "household",
                    "holder_id": str(bw.household_w),
                    "side": "red",
                    "reason": "门前屋后干净整洁",
                },
                {
                    "holder_kind": "household",
                    "holder_id": str(w.household_a),
                    "side": "red",
                    "reason": "庭院绿化好",
                },
                {
                    "holder_kind": "household",
                    "holder_id": str(w.household_b),
                    "side": "black",
                    "reason": "门前堆放柴草",
                },
            ]
        },
    )
    assert answer.status_code == 201, answer.text
    assert [(e["side"], e["rank"]) for e in answer.json()["entries"]] == [
        ("red", 1),
        ("red", 2),
        ("black", 1),
    ]
    published = client.post(f"/v1/boards/{board['id']}/publications")
    assert published.status_code == 201, published.text
    body = published.json()
    # No public notice in this charter: nothing waits, the board closes as it publishes.
    assert body["status"] == "closed"
    assert body["closed_at"] is not None and body["head_seq"] is not None
    # Red: +10 each (first 2). Black: −5, but 李家 holds 4 and the floor is zero: −4.
    assert [(e["record_status"], e["points"]) for e in body["entries"]] == [
        ("approved", 10),
        ("approved", 10),
        ("approved", -4),
    ]
    assert _points(bw) == (6 + 10, 9 + 10, 4 - 4)
    # Publishing again is refused, and books nothing.
    again = client.post(f"/v1/boards/{board['id']}/publications")
    assert again.status_code == 409
    assert again.json()["code"] == "board_already_published"
    more = client.post(
        f"/v1/boards/{board['id']}/entries",
        json={
            "entries": [
                {
                    "holder_kind": "member",
                    "holder_id": str(w.loner),
                    "side": "red",
                    "reason": "补登",
                }
            ]
        },
    )
    assert more.status_code == 409
    assert _points(bw) == (16, 19, 0)
    assert _board_records(bw) == 3
    with bw.db.unit_of_work(write=False) as session:
        published_events = [
            e.payload
            for e in session.execute(
                select(OutboxEvent).where(OutboxEvent.type == "board.published")
            ).scalars()
        ]
    assert len(published_events) == 1
    assert published_events[0]["board"]["id"] == board["id"]
    assert len(published_events[0]["record_ids"]) == 3
    assert published_events[0]["red_count"] == 2 and published_events[0]["black_count"] == 1


def test_a_rank_beyond_top_n_earns_nothing_and_a_side_without_rule_nothing(
    bw: BoardWorld,
) -> None:
    board_id = draft_board(bw, black_rule_id=None)
    w = bw.world
    with bw.db.unit_of_work() as session:
        boards.add_entries(
            session,
            board_id=board_id,
            entries=[
                boards.EntryInput("household", w.household_a, "red", "好", rank=1),
                boards.EntryInput("household", bw.household_w, "red", "好", rank=3),
                boards.EntryInput("household", w.household_b, "black", "差"),
            ],
            now=NOW,
        )
    booked = publish(bw, board_id)
    assert len(booked) == 2  # the black side has no rule: no record
    # 张家 first: +10; 王建国户 third of a top-2 rule: a record of 0 points, no entry.
    assert _points(bw) == (6, 19, 4)
    with bw.db.unit_of_work(write=False) as session:
        third = session.get(Record, booked[1])
        assert third is not None
        assert (third.points, third.entry_id) == (0, None)
        assert "未在前 2 名" in third.explanation


def test_a_books_board_is_generated_from_the_month_of_a_category(
    client: TestClient, bw: BoardWorld
) -> None:
    board = _create(client, bw, title="2026-10 环境卫生红黑榜（账目）", source="books")
    answer = client.post(
        f"/v1/boards/{board['id']}/generations",
        json={"category": "sanitation", "holder": "household", "red_count": 2, "black_count": 1},
    )
    assert answer.status_code == 201, answer.text
    w = bw.world
    got = [
        (e["household_id"], e["side"], e["rank"], e["points_in_period"])
        for e in answer.json()["entries"]
    ]
    assert got == [
        (str(w.household_a), "red", 1, 9),
        (str(bw.household_w), "red", 2, 6),
        (str(w.household_b), "black", 1, 4),
    ]
    again = client.post(
        f"/v1/boards/{board['id']}/generations",
        json={"category": "sanitation", "red_count": 1, "black_count": 0},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "board_entry_duplicate"
    # An evaluation board is not generated from the books.
    typed = _create(client, bw, title="另一个榜")
    refused = client.post(
        f"/v1/boards/{typed['id']}/generations",
        json={"category": "sanitation", "red_count": 1, "black_count": 0},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "board_entry_not_scorable"
    nothing = client.post(
        f"/v1/boards/{board['id']}/generations",
        json={"category": "sanitation", "red_count": 0, "black_count": 0},
    )
    assert nothing.status_code == 422


def test_a_committee_list_is_uploaded_as_csv(client: TestClient, bw: BoardWorld) -> None:
    board = _create(client, bw)
    text = (
        "户号,姓名,红黑,理由,名次\n3-07,王建国,红,门前屋后干净整洁,1\n3-02,李家,黑,门前堆放柴草,\n"
    )
    answer = client.post(
        f"/v1/boards/{board['id']}/entry-uploads",
        content=text.encode("gb18030"),
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 201, answer.text
    w = bw.world
    assert [(e["household_id"], e["side"], e["rank"]) for e in answer.json()["entries"]] == [
        (str(bw.household_w), "red", 1),
        (str(w.household_b), "black", 1),
    ]
    for bad, line, column in [
        ("户号,姓名,红黑,理由\n3-01,张三,红,好\n3-99,某某,红,好\n", 3, "户号"),
        ("户号,姓名,红黑,理由\n3-01,李四,红,好\n", 2, "姓名"),
        ("户号,姓名,红黑,理由\n3-01,张三,白,好\n", 2, "红黑"),
        ("户号,姓名,红黑,理由\n3-01,张三,红,\n", 2, "理由"),
        ("户号,姓名,红黑,理由,名次\n3-01,张三,红,好,第一\n", 2, "名次"),
    ]:
        refused = client.post(
            f"/v1/boards/{board['id']}/entry-uploads",
            content=bad.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "board_csv_invalid"
        assert (refused.json()["line"], refused.json()["column"]) == (line, column)
    missing = client.post(
        f"/v1/boards/{board['id']}/entry-uploads",
        content="户号,姓名\n3-01,张三\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert missing.status_code == 422
    assert missing.json()["missing"] == ["红黑", "理由"]
    json_body = client.post(f"/v1/boards/{board['id']}/entry-uploads", json={"a": 1})
    assert json_body.status_code == 422
    assert json_body.json()["code"] == "board_csv_invalid"
    # Nothing of the refused files was kept.
    kept = client.get(f"/v1/boards/{board['id']}").json()["entries"]
    assert len(kept) == 2


def test_entries_and_publications_are_refused_with_reasons(
    client: TestClient, bw: BoardWorld
) -> None:
    board = _create(client, bw)
    url = f"/v1/boards/{board['id']}/entries"

    def entry(kind: str, holder: uuid.UUID, side: str = "red", **more: Any) -> dict[str, Any]:
        return {
            "entries": [
                {"holder_kind": kind, "holder_id": str(holder), "side": side, "reason": "理由"}
                | more
            ]
        }

    outsider = client.post(url, json=entry("household", bw.other_village_household))
    assert outsider.status_code == 422
    assert outsider.json()["code"] == "board_entry_holder_invalid"
    assert client.post(url, json=entry("household", bw.household_w)).status_code == 201
    twice = client.post(url, json=entry("household", bw.household_w, "black"))
    assert twice.status_code == 409
    assert twice.json()["code"] == "board_entry_duplicate"
    starred = client.post(url, json=entry("household", bw.world.household_a, stars=5))
    assert starred.status_code == 422
    assert starred.json()["code"] == "board_entry_not_scorable"
    # An organisation holds no points: on a scored side, publishing refuses it.
    assert client.post(url, json=entry("organisation", bw.organisation)).status_code == 201
    refused = client.post(f"/v1/boards/{board['id']}/publications")
    assert refused.status_code == 422
    assert refused.json()["code"] == "board_entry_not_scorable"
    # A rule of the wrong side (or no board rule at all) is refused at publishing.
    for red_rule in ("hygiene_black", "yard_clean", "no_such_rule"):
        wrong = _create(client, bw, title=f"榜 {red_rule}", red_rule_id=red_rule)
        answer = client.post(f"/v1/boards/{wrong['id']}/publications")
        assert answer.status_code == 422, red_rule
        assert answer.json()["code"] == "board_rule_invalid"
    assert _board_records(bw) == 0
    duplicate_title = client.post(
        "/v1/boards",
        json={
            "village_id": str(bw.world.village_id),
            "title": board["title"],
            "period_start_on": "2026-10-01",
            "period_end_on": "2026-10-31",
        },
    )
    assert duplicate_title.status_code == 409
    backwards = client.post(
        "/v1/boards",
        json={
            "village_id": str(bw.world.village_id),
            "title": "倒序",
            "period_start_on": "2026-10-31",
            "period_end_on": "2026-10-01",
        },
    )
    assert backwards.status_code == 422


def test_a_stars_board_scores_by_bands(bw: BoardWorld) -> None:
    board_id = draft_board(
        bw, title="2026 五星级文明户", kind="stars", red_rule_id="star_family", black_rule_id=None
    )
    w = bw.world
    with bw.db.unit_of_work() as session, pytest.raises(errors.BoardEntryNotScorable):
        boards.add_entries(
            session,
            board_id=board_id,
            entries=[boards.EntryInput("household", w.household_a, "red", "无星级")],
            now=NOW,
        )
    with bw.db.unit_of_work() as session:
        boards.add_entries(
            session,
            board_id=board_id,
            entries=[
                boards.EntryInput("household", w.household_a, "red", "五星", stars=5),
                boards.EntryInput("household", bw.household_w, "red", "三星", stars=3),
                boards.EntryInput("household", w.household_b, "red", "二星", stars=2),
            ],
            now=NOW,
        )
    publish(bw, board_id)
    # 5 stars +20, 3 stars +10, 2 stars below the first band: 0.
    assert _points(bw) == (6 + 10, 9 + 20, 4)


def test_publishing_under_a_before_notice_leaves_the_points_pending(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = draft_board(bw)
    with bw.db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    booked = publish(bw, board_id)
    assert len(booked) == 3
    w = bw.world

    def balance(household_id: uuid.UUID) -> tuple[int, int]:
        account_id = w.account_id(AccountKind.HOUSEHOLD, household_id)
        assert account_id is not None
        with db.unit_of_work(write=False) as session:
            found = ledger.get_balance(session, account_id)
        return found.posted, found.pending_credits

    # The red +10s wait under notice; posted balances are October's own.
    assert balance(bw.household_w) == (6, 10)
    assert balance(w.household_a) == (9, 10)
    with db.unit_of_work(write=False) as session:
        lists = list(session.execute(select(NoticeList)).scalars())
        assert [(x.state, x.period_start_on, x.mode) for x in lists] == [
            ("open", OCTOBER[0], "before")
        ]
        items = session.execute(
            select(NoticeListItem.record_id).where(NoticeListItem.list_id == lists[0].id)
        ).scalars()
        assert set(items) >= set(booked[:2])
        linked = session.execute(
            select(BoardEntry.record_id).where(BoardEntry.board_id == board_id)
        ).scalars()
        assert set(linked) == set(booked)
    # When the list closes (2 Dec), the points post.
    notice.tick(db, now=at(2026, 12, 2, 1))
    assert balance(bw.household_w) == (16, 0)
    assert balance(w.household_a) == (19, 0)


def test_a_board_is_not_published_before_its_period_starts(bw: BoardWorld) -> None:
    board_id = draft_board(bw)
    with pytest.raises(errors.BoardPeriodNotOver), bw.db.unit_of_work() as session:
        boards.publish(session, board_id=board_id, recorder=CLERK, clock=bw.clock(at(2026, 9, 30)))


def test_two_publications_at_once_book_once(
    bw: BoardWorld, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: real concurrency. Both publications read the draft board before
    either takes the books lock (a barrier holds them there); the second, once the first
    has committed, reads the board again under the lock and is refused."""
    if db.dialect != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    board_id = draft_board(bw)
    with db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    barrier = threading.Barrier(2, timeout=2)
    seen = threading.local()
    read = boards.get_board

    def read_then_meet(session: Any, board_id: uuid.UUID) -> Any:
        board = read(session, board_id)
        if not getattr(seen, "met", False):
            seen.met = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return board

    monkeypatch.setattr(boards, "get_board", read_then_meet)

    def attempt(_: int) -> str:
        try:
            publish(bw, board_id)
            return "published"
        except errors.BoardAlreadyPublished:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, [1, 2], timeout=30))
    assert sorted(outcomes) == ["published", "refused"]
    assert _board_records(bw) == 3
    assert _points(bw) == (16, 19, 0)
