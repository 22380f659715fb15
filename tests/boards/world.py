"""A village with a board charter, residents with names, phones and ID numbers, and the
helpers the boards tests share.

清泉村 (tests.records.world) holds points per household: 张家 (3-01: 张三, 张小梅), 李家
(3-02: 李四), and here 王建国户 (3-07: 王建国, 欧阳娜娜), every new resident with a phone
and an ID card tail. The charter scores sanitation (庭院整洁 +3, 乱堆乱放 −2) and has
board rules: 环境卫生红榜 (the first 2 red +10), 环境卫生黑榜 (black −5), 星级文明户
(3 stars +10, 5 stars +20).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest

from jifen.boards import service as boards
from jifen.charters import document as charter_document
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.models import Member, Township, Village
from jifen.records.service import Recorder
from tests.factories import make_household, make_member, make_organisation, make_village
from tests.records.world import JOINED, World, at, make_world

CLERK = Recorder("村会计 张建国", frozenset({"village_clerk"}))
NOW = at(2026, 11, 27, 10)  # the lists of October are open (25 Nov - 1 Dec)
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))

# What must never leave through a public route.
PHONES = ("13912345678", "13698765432", "15800001111")
ID_TAILS = ("731X", "582X", "904X")
PERSONAL_NAMES = ("张三", "张小梅", "李四", "王五", "王建国", "欧阳娜娜", "王建国户")


def charter(*, notice_before: bool, clerk_reviewed: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "title": "清泉村环境卫生红黑榜积分办法",
        "effective_on": "2026-01-01",
        "settings": {"points_holder": "household", "deduction_floor": "zero"},
        "rules": [
            {
                "id": "yard_clean",
                "category": "sanitation",
                "label": "庭院整洁",
                "type": "fixed",
                "params": {"points": 3},
                "allow_repeats": True,
            },
            {
                "id": "clutter",
                "category": "sanitation",
                "label": "乱堆乱放",
                "type": "deduction",
                "params": {"points": 2},
                "allow_repeats": True,
            },
            {
                "id": "hygiene_red",
                "category": "board",
                "label": "环境卫生红榜",
                "type": "board",
                "params": {"side": "red", "points": 10, "top_n": 2},
            },
            {
                "id": "hygiene_black",
                "category": "board",
                "label": "环境卫生黑榜",
                "type": "board",
                "params": {"side": "black", "points": 5},
            },
            {
                "id": "star_family",
                "category": "board",
                "label": "星级文明户",
                "type": "board",
                "params": {
                    "side": "red",
                    "bands": [{"min_stars": 3, "points": 10}, {"min_stars": 5, "points": 20}],
                },
            },
        ],
    }
    if clerk_reviewed:
        # A clerk's records wait for a second clerk's 复核.
        document["settings"]["review"] = {
            "stages": [{"id": "final_review", "label": "复核", "roles": ["village_clerk"]}],
            "required": {"village_clerk": ["final_review"]},
        }
    if notice_before:
        document["settings"]["public_notice"] = {
            "lists": [
                {
                    "categories": ["board"],
                    "mode": "before",
                    "period": "monthly",
                    "opens_on_day": 25,
                    "days": 7,
                    "appeal_days": 30,
                    "deciding_role": "village_clerk",
                }
            ]
        }
    return document


@dataclass
class BoardWorld:
    world: World
    township_code: str
    village_code: str
    household_w: uuid.UUID  # 王建国户
    w1: uuid.UUID  # 王建国
    w2: uuid.UUID  # 欧阳娜娜
    organisation: uuid.UUID  # 清泉志愿队
    other_village_household: uuid.UUID

    @property
    def db(self) -> Database:
        return self.world.db

    @property
    def public_root(self) -> str:
        return f"/public/townships/{self.township_code}/villages/{self.village_code}"

    def clock(self, now: datetime = NOW) -> ledger.Clock:
        return self.world.clock(now)


def board_world(
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    *,
    notice_before: bool,
    clerk_reviewed: bool = False,
) -> BoardWorld:
    # Notice lists are refused in charters until their API lands; the boards follow them.
    monkeypatch.setattr(charter_document, "NOTICE_LISTS_APPLIED", True, raising=False)
    world = make_world(db, settings, None)
    world.publish(
        charter(notice_before=notice_before, clerk_reviewed=clerk_reviewed),
        now=at(2026, 1, 1, 0),
    )
    with db.unit_of_work() as session:
        village = session.get(Village, world.village_id)
        assert village is not None
        township = session.get(Township, village.township_id)
        assert township is not None
        household = make_household(session, village, number="3-07", name="王建国户")
        w1 = make_member(
            session,
            village,
            name="王建国",
            phone=PHONES[0],
            id_number_tail=ID_TAILS[0],
            household_id=household.id,
            joined_on=JOINED,
            is_head=True,
        )
        w2 = make_member(
            session,
            village,
            name="欧阳娜娜",
            phone=PHONES[1],
            id_number_tail=ID_TAILS[1],
            household_id=household.id,
            joined_on=JOINED,
        )
        # 王五 (no household) gets a phone too: it must not leak either.
        loner = session.get(Member, world.loner)
        assert loner is not None
        loner.phone, loner.id_number_tail = PHONES[2], ID_TAILS[2]
        organisation = make_organisation(session, township.id, name="清泉志愿队")
        other = make_household(session, make_village(session, township), name="外村户")
        codes = (township.code, village.code)
    bw = BoardWorld(
        world=world,
        township_code=codes[0],
        village_code=codes[1],
        household_w=household.id,
        w1=w1.id,
        w2=w2.id,
        organisation=organisation.id,
        other_village_household=other.id,
    )
    # October's sanitation: 张家 9 (3 × +3), 王建国户 6 (2 × +3), 李家 4 (2 × +3, −2).
    for member, days in ((world.a1, (3, 10, 17)), (bw.w1, (5, 12)), (world.b1, (6, 7))):
        for day in days:
            world.record("yard_clean", member, occurred_at=at(2026, 10, day), now=at(2026, 10, day))
    world.record("clutter", world.b1, occurred_at=at(2026, 10, 20), now=at(2026, 10, 20))
    return bw


def draft_board(bw: BoardWorld, **overrides: Any) -> uuid.UUID:
    fields: dict[str, Any] = {
        "village_id": bw.world.village_id,
        "title": "2026-10 环境卫生红黑榜",
        "kind": boards.RED_BLACK,
        "source": boards.EVALUATION,
        "period_start_on": OCTOBER[0],
        "period_end_on": OCTOBER[1],
        "red_rule_id": "hygiene_red",
        "black_rule_id": "hygiene_black",
        "actor": CLERK.actor,
        "now": NOW,
    }
    fields.update(overrides)
    with bw.db.unit_of_work() as session:
        return boards.create_board(session, **fields).id


def evaluation_entries(bw: BoardWorld) -> list[boards.EntryInput]:
    """The committee's list: 王建国户 and 张家 red, 李家 black (the reason names him)."""
    return [
        boards.EntryInput("household", bw.household_w, "red", "王建国户门前屋后干净整洁"),
        boards.EntryInput("household", bw.world.household_a, "red", "张三家庭院绿化好"),
        boards.EntryInput(
            "household",
            bw.world.household_b,
            "black",
            f"李四（{PHONES[0]}）门前堆放柴草，身份证尾号 {ID_TAILS[2]}",
        ),
    ]


def publish(bw: BoardWorld, board_id: uuid.UUID, now: datetime = NOW) -> list[Any]:
    with bw.db.unit_of_work() as session:
        _board, booked = boards.publish(
            session, board_id=board_id, recorder=CLERK, clock=bw.clock(now)
        )
        return [row.id for row in booked]
