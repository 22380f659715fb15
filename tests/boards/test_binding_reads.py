"""Boards (红黑榜) and notice lists (公示名单) read by a mini-program through a binding
(issue #12): what the public display shows, the bound resident's own entries marked, each
notice item with the entry a resident objects to; the scope `boards:read`; another
client's binding and another village's board or list not found (SQLite and PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import service as access
from jifen.access.permissions import ClientScope
from jifen.api.deps import get_clock
from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.main import create_app
from jifen.models import Household, OAuthClient
from tests.api.helpers import ok, problem
from tests.boards.world import (
    CLERK,
    ID_TAILS,
    NOW,
    PERSONAL_NAMES,
    PHONES,
    BoardWorld,
    board_world,
    draft_board,
    evaluation_entries,
    publish,
)
from tests.records.world import at


@dataclass
class Now:
    now: datetime


@dataclass
class Bound:
    """A mini-program's token and its binding of a member."""

    headers: dict[str, str]
    binding_id: str

    def get(self, http: TestClient, path: str, **params: Any) -> Any:
        return http.get(
            f"/v1/bindings/{self.binding_id}{path}", params=params, headers=self.headers
        )


@pytest.fixture
def bw(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> BoardWorld:
    """October's 环境卫生红黑榜 published under a `before` notice list (王建国户 and 张家
    red, 李家 black), a draft board, and a published board of another village."""
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = draft_board(bw)
    with db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    publish(bw, board_id)
    draft_board(bw, title="未发布的榜")
    with db.unit_of_work() as session:
        household = session.get(Household, bw.other_village_household)
        assert household is not None
        elsewhere = boards.create_board(
            session,
            village_id=household.village_id,
            title="外村红黑榜",
            kind=boards.RED_BLACK,
            source=boards.EVALUATION,
            period_start_on=date(2026, 10, 1),
            period_end_on=date(2026, 10, 31),
            red_rule_id=None,
            black_rule_id=None,
            actor=CLERK.actor,
            now=NOW,
        )
        boards.publish(session, board_id=elsewhere.id, recorder=CLERK, clock=bw.clock())
    return bw


@pytest.fixture
def now() -> Now:
    return Now(NOW)


@pytest.fixture
def http(settings: Settings, db: Database, now: Now) -> Iterator[TestClient]:
    app = create_app(settings, db)
    app.dependency_overrides[get_clock] = lambda: ledger.Clock(now=now.now, settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _bind(
    http: TestClient, bw: BoardWorld, now: Now, scopes: list[ClientScope], member: uuid.UUID
) -> Bound:
    """A mini-program of the township with these scopes, bound to `member`."""
    with bw.db.unit_of_work() as session:
        view, secret = access.register_client(
            session,
            township_id=bw.world.township_id,
            name="村务小程序",
            scopes=scopes,
            created_by="test",
            now=utc_now(),
        )
        client = session.execute(
            select(OAuthClient).where(OAuthClient.principal_id == view.client.principal_id)
        ).scalar_one()
        _credential, code = access.issue_member_credential(
            session,
            member_id=member,
            kind="code",
            ttl_seconds=600,
            created_by="test",
            now=utc_now(),
        )
        binding, _ = access.bind_member(
            session,
            client_principal_id=client.principal_id,
            township_id=bw.world.township_id,
            user_ref=f"openid-{uuid.uuid4().hex[:8]}",
            card_token=None,
            code=code,
            now=utc_now(),
        )
        client_id, binding_id = client.client_id, str(binding.id)
    # Tokens are checked against the wall clock: issue this one on it too.
    test_now, now.now = now.now, utc_now()
    answer = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    now.now = test_now
    assert answer.status_code == 200, answer.text
    return Bound({"Authorization": f"Bearer {answer.json()['access_token']}"}, binding_id)


def _leaks(text: str) -> list[str]:
    return [s for s in (*PERSONAL_NAMES, *PHONES, *ID_TAILS) if s in text]


def test_a_bound_resident_reads_the_villages_boards_masked_with_their_own_marked(
    bw: BoardWorld, http: TestClient, now: Now
) -> None:
    # 王建国 of 王建国户, through a mini-program that may read boards.
    mine = _bind(http, bw, now, [ClientScope.BOARDS_READ], bw.w1)
    listed = ok(mine.get(http, "/boards"))
    # Only this village's published board: not the draft, not the other village's.
    assert [b["title"] for b in listed["items"]] == ["2026-10 环境卫生红黑榜"]
    assert listed["next_cursor"] is None
    board_id = listed["items"][0]["id"]
    answer = mine.get(http, f"/boards/{board_id}")
    board = ok(answer)
    assert not _leaks(answer.text), _leaks(answer.text)
    shown = [
        (e["name"], e["side"], e["points"], e["points_state"], e["mine"]) for e in board["entries"]
    ]
    assert shown == [
        ("王*国户", "red", 10, "pending", True),  # his own household's
        ("张*", "red", 10, "pending", False),
        ("李*", "black", -4, "pending", False),
    ]
    # The same masking as the public display, field for field (plus `mine`).
    public = http.get(f"{bw.public_root}/boards/{board_id}").json()
    assert [{k: v for k, v in e.items() if k != "mine"} for e in board["entries"]] == public[
        "entries"
    ]
    assert board["title"] == public["title"] and board["village"] == public["village"]

    # 李四 of 李家 sees his own (black) entry marked instead.
    li = _bind(http, bw, now, [ClientScope.BOARDS_READ], bw.world.b1)
    theirs = ok(li.get(http, f"/boards/{board_id}"))
    assert [e["mine"] for e in theirs["entries"]] == [False, False, True]

    # Paged like every list: one board a page.
    assert ok(mine.get(http, "/boards", limit=1))["next_cursor"] is None
    problem(mine.get(http, "/boards", cursor="not-a-cursor"), 422, "invalid_cursor")


def test_a_bound_resident_reads_notice_lists_and_objects_to_an_item(
    bw: BoardWorld, http: TestClient, now: Now
) -> None:
    mine = _bind(
        http, bw, now, [ClientScope.BOARDS_READ, ClientScope.NOTICE_OBJECT], bw.world.a1
    )  # 张三 of 张家
    lists = ok(mine.get(http, "/notice-lists"))["items"]
    assert [(n["state"], n["period_start_on"], n["item_count"]) for n in lists] == [
        ("open", "2026-10-01", 3)
    ]
    list_id = lists[0]["id"]
    answer = mine.get(http, f"/notice-lists/{list_id}")
    detail = ok(answer)
    assert not _leaks(answer.text), _leaks(answer.text)
    items = detail["items"]
    assert [(i["name"], i["points"], i["state"], i["mine"]) for i in items] == [
        ("王*国户", 10, "pending", False),
        ("张*", 10, "pending", True),
        ("李*", -4, "pending", False),
    ]
    public = http.get(f"{bw.public_root}/notice-lists/{list_id}").json()
    assert [{k: v for k, v in i.items() if k not in ("mine", "entry_id")} for i in items] == public[
        "items"
    ]

    # The entry an item carries is what the objection route takes: 张三 objects to 李家's.
    now.now = at(2026, 11, 28)
    body = {"notice_list_id": list_id, "entry_id": items[2]["entry_id"], "reason": "他家没扫"}
    objection = ok(
        http.post(f"/v1/bindings/{mine.binding_id}/objections", json=body, headers=mine.headers),
        201,
    )
    assert objection["entry_id"] == items[2]["entry_id"]
    after = ok(mine.get(http, f"/notice-lists/{list_id}"))["items"]
    assert [i["objections"] for i in after] == [
        [],
        [],
        [{"kind": "objection", "state": "open", "raised_on": "2026-11-28", "decided_on": None}],
    ]


def test_reading_needs_boards_read_and_the_clients_own_binding(
    bw: BoardWorld, http: TestClient, now: Now
) -> None:
    reader = _bind(http, bw, now, [ClientScope.BOARDS_READ], bw.w1)
    board_id = ok(reader.get(http, "/boards"))["items"][0]["id"]
    list_id = ok(reader.get(http, "/notice-lists"))["items"][0]["id"]
    paths = ["/boards", f"/boards/{board_id}", "/notice-lists", f"/notice-lists/{list_id}"]

    # A client without boards:read (only balances) is refused every read.
    balances_only = _bind(http, bw, now, [ClientScope.BALANCES_READ], bw.w1)
    for path in paths:
        problem(balances_only.get(http, path), 403, "forbidden")

    # Another client's binding is not found to exist, for a client with the scope.
    other_reader = _bind(http, bw, now, [ClientScope.BOARDS_READ], bw.w2)
    for path in paths:
        problem(Bound(other_reader.headers, reader.binding_id).get(http, path), 404, "not_found")
    for path in paths:
        problem(Bound(reader.headers, str(uuid.uuid4())).get(http, path), 404, "not_found")

    # Another village's published board, a draft, an unknown list: not found.
    with bw.db.unit_of_work(write=False) as session:
        others = {
            b.title: b.id
            for b in boards.list_boards(session, village_id=None, limit=50, cursor=None).items
        }
    problem(reader.get(http, f"/boards/{others['外村红黑榜']}"), 404, "not_found")
    problem(reader.get(http, f"/boards/{others['未发布的榜']}"), 404, "not_found")
    problem(reader.get(http, f"/notice-lists/{uuid.uuid4()}"), 404, "not_found")
