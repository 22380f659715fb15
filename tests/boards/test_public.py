"""The public display (公示栏) without sign-in: boards and notice lists as JSON and as a
page, every personal name masked, no phone or ID number anywhere (SQLite and PostgreSQL).

The leak test walks every route the app serves under /public and /p, discovered from the
app itself, so a route added later is walked too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from jifen.models import NoticeListItem
from jifen.notice import service as notice
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

PUBLIC_PREFIXES = ("/public/", "/p/")


@pytest.fixture
def bw(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> BoardWorld:
    """A published board under a `before` notice list with one objection (raised by
    李四, naming 王建国 and his phone), a stars board, and a draft board."""
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = draft_board(bw)
    with db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    publish(bw, board_id)
    stars = draft_board(
        bw, title="2026 五星级文明户", kind="stars", red_rule_id="star_family", black_rule_id=None
    )
    with db.unit_of_work() as session:
        boards.add_entries(
            session,
            board_id=stars,
            entries=[
                boards.EntryInput("member", bw.w2, "red", "欧阳娜娜孝老爱亲", stars=5),
                boards.EntryInput("organisation", bw.organisation, "red", "志愿服务", stars=4),
            ],
            now=NOW,
        )
    draft_board(bw, title="未发布的榜")
    # A board without rules (display only), a name in its title, an organisation on it.
    garden = draft_board(
        bw, title="最美庭院 2026 Q4 王建国户", red_rule_id=None, black_rule_id=None
    )
    with db.unit_of_work() as session:
        boards.add_entries(
            session,
            board_id=garden,
            entries=[
                boards.EntryInput("member", bw.w2, "red", "欧阳娜娜家庭院整洁"),
                boards.EntryInput("organisation", bw.organisation, "red", "认领绿地养护好"),
            ],
            now=NOW,
        )
    publish(bw, garden)
    with db.unit_of_work() as session:
        item = session.query(NoticeListItem).first()
        assert item is not None
        notice.raise_objection(
            session,
            list_id=item.list_id,
            entry_id=item.entry_id,
            raised_by=f"李四 {PHONES[2]}",
            reason=f"王建国 {PHONES[0]} 没有打扫，身份证尾号 {ID_TAILS[0]}",
            recorded_by=CLERK.actor,
            clock=bw.clock(at(2026, 11, 28)),
        )
    return bw


@pytest.fixture
def public_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """No credentials at all."""
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def _public_routes() -> list[str]:
    app = create_app()
    paths: set[str] = set()

    def walk(routes: object) -> None:
        for route in routes:  # type: ignore[attr-defined]
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif isinstance(route, Route) and route.path.startswith(PUBLIC_PREFIXES):
                paths.add(route.path)

    walk(app.routes)
    return sorted(paths)


def _forbidden(text: str) -> list[str]:
    found = [name for name in PERSONAL_NAMES if name in text]
    found += [phone for phone in PHONES if phone in text]
    found += [tail for tail in ID_TAILS if tail in text]
    # Any run of 11 digits or more (a phone, an ID number) is a leak too; ids and hashes
    # are hexadecimal and may hold such runs by chance: they are taken out first.
    plain = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", text)
    plain = re.sub(r"\b[0-9a-f]{64}\b", "", plain)
    found += re.findall(r"\d{11,}", plain)
    return found


def test_no_public_route_lets_out_a_name_phone_or_id_number(
    bw: BoardWorld, public_client: TestClient
) -> None:
    root = bw.public_root
    boards_seen = public_client.get(f"{root}/boards").json()["boards"]
    lists_seen = public_client.get(f"{root}/notice-lists").json()["lists"]
    # Drafts hidden; a name in a title masked.
    assert {b["title"] for b in boards_seen} == {
        "2026-10 环境卫生红黑榜",
        "最美庭院 2026 Q4 王**户",
    }
    assert len(lists_seen) == 1
    values = {
        "township_code": [bw.township_code],
        "village_code": [bw.village_code],
        "board_id": [b["id"] for b in boards_seen],
        "list_id": [n["id"] for n in lists_seen],
        "seq": ["1"],
    }
    routes = _public_routes()
    assert len(routes) >= 6, routes
    walked = 0
    for path in routes:
        params = re.findall(r"{(\w+)}", path)
        assert set(params) <= set(values), f"{path}: no values for {params}"
        combos: list[dict[str, str]] = [{}]
        for param in params:
            combos = [c | {param: v} for c in combos for v in values[param]]
        for combo in combos:
            answer = public_client.get(path.format(**combo))
            assert answer.status_code == 200, (path, answer.text)
            leaks = _forbidden(answer.text)
            assert not leaks, f"{path}: {leaks}"
            walked += 1
    assert walked >= len(routes)


def test_the_public_board_shows_masked_names_and_outcomes(
    bw: BoardWorld, public_client: TestClient
) -> None:
    root = bw.public_root
    listed = public_client.get(f"{root}/boards").json()["boards"]
    board_id = next(b["id"] for b in listed if b["title"] == "2026-10 环境卫生红黑榜")
    garden_id = next(b["id"] for b in listed if b["title"] != "2026-10 环境卫生红黑榜")
    garden = public_client.get(f"{root}/boards/{garden_id}").json()
    assert [(e["name"], e["points"], e["points_state"]) for e in garden["entries"]] == [
        ("欧**娜", None, None),
        ("清泉志愿队", None, None),  # an organisation's name is not personal
    ]
    board = public_client.get(f"{root}/boards/{board_id}").json()
    assert board["village"]["village_name"] == "清泉村"
    shown = [
        (e["name"], e["side"], e["rank"], e["points"], e["points_state"]) for e in board["entries"]
    ]
    # 李家 holds 4 and the black −5 is floored: −4, and under `before` it is pending too.
    assert shown == [
        ("王*国户", "red", 1, 10, "pending"),
        ("张*", "red", 2, 10, "pending"),
        ("李*", "black", 1, -4, "pending"),
    ]
    assert "李*（***********）" in board["entries"][2]["reason"]
    assert "****" in board["entries"][2]["reason"]
    lists = public_client.get(f"{root}/notice-lists").json()["lists"]
    detail = public_client.get(f"{root}/notice-lists/{lists[0]['id']}").json()
    assert detail["state"] == "open"
    objections = [o for item in detail["items"] for o in item["objections"]]
    assert objections == [
        {"kind": "objection", "state": "open", "raised_on": "2026-11-28", "decided_on": None}
    ]
    page = public_client.get(f"/p/{bw.township_code}/{bw.village_code}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "王*国户" in page.text and "红黑榜" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_what_is_not_public_is_not_found(bw: BoardWorld, public_client: TestClient) -> None:
    root = bw.public_root
    for path in (
        f"/public/townships/{bw.township_code}/villages/nope/boards",
        f"/public/townships/nope/villages/{bw.village_code}/notice-lists",
    ):
        answer = public_client.get(path)
        assert answer.status_code == 404
        assert answer.json()["code"] == "public_village_not_found"
    with bw.db.unit_of_work(write=False) as session:
        draft = [
            b
            for b in boards.list_boards(
                session, village_id=bw.world.village_id, limit=10, cursor=None
            ).items
            if b.status == "draft"
        ]
    for board in draft:
        assert public_client.get(f"{root}/boards/{board.id}").status_code == 404
    assert public_client.get(f"{root}/boards/{uuid.uuid4()}").status_code == 404
    assert public_client.get(f"{root}/notice-lists/{uuid.uuid4()}").status_code == 404
    assert public_client.get(f"{root}/boards/not-a-uuid").status_code == 422
    missing = public_client.get(f"/p/{bw.township_code}/nope")
    assert missing.status_code == 404
    assert "没有这个村" in missing.text


def test_the_public_display_is_rate_limited(
    bw: BoardWorld, database_url: str, db: Database
) -> None:
    limited = Settings(database_url=database_url, public_rate_limit="3/minute")
    with TestClient(create_app(limited, db), raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.get(f"{bw.public_root}/boards").status_code == 200
        refused = client.get(f"{bw.public_root}/notice-lists")
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "retry-after" in refused.headers
        page = client.get(f"/p/{bw.township_code}/{bw.village_code}")
        assert page.status_code == 429
