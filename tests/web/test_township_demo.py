"""`jifen seed-demo`'s 以奖代补: a third village, projects with labor, money and donations,
共评 scores and 共谋 meetings, a published scheme and the quarter's draft settlement; the
printed summary names the dashboard and a sign-in that opens it, in the browser. Seeding
again changes nothing."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from jifen.config import Settings
from jifen.db import Database
from jifen.demo.seed import seed
from jifen.models import SchemeVersion, Settlement
from tests.web.support import LiveServer

PROJECTOR = {"width": 1920, "height": 1080}


def test_the_demo_township_is_settled_and_its_dashboard_opens(
    page: Page, live_server: LiveServer, db: Database, settings: Settings
) -> None:
    printed: list[str] = []
    seed(db, settings, echo=printed.append)
    with db.unit_of_work(write=False) as session:
        settlement = session.execute(select(Settlement)).scalar_one()
        result = json.loads(settlement.result)
    villages = {v["code"]: v for v in result["villages"]}
    # 石门村, all of it the seed's: 4 of 5 households take part (0.8 ≥ the 0.7 target: 40);
    # 28 hours = 3.5 工日 × 120 = 420 yuan, with 400 raised and 1,200 donated, is 2,020 of a
    # 60,000-yuan project: 0.033667 ÷ 0.3 × 30 = 3.37; scores 90, 85, 95: 90 (20); two
    # meetings (10). 73.37 ≥ 70: 二等奖, 20,000 yuan (the cap is half of 60,000).
    shimen = villages["shimen"]
    assert shimen["facts"]["households_participating"] == 4
    assert shimen["facts"]["person_days"] == "3.500000"
    assert (shimen["score"], shimen["tier_label"], shimen["award_fen"]) == (
        "73.366690",
        "二等奖",
        2_000_000,
    )
    # 新华村: 2 of 4 households (0.714286 × 40 = 28.57), 1,300 of 150,000 yuan (0.87), a
    # mean score of 77.5 (17.22), one meeting (5): 51.66, 三等奖, 10,000 yuan.
    assert (villages["xinhua"]["score"], villages["xinhua"]["award_fen"]) == (
        "51.660360",
        1_000_000,
    )
    # 清泉村's labor includes the demo's road, dated from today: its score moves a little,
    # its tier does not (40 + 20 + 10 and its input's few points: under 85, over 70).
    assert (villages["qingquan"]["tier_label"], villages["qingquan"]["award_fen"]) == (
        "二等奖",
        2_000_000,
    )
    assert settlement.total_fen == 5_000_000

    summary = next(line for line in printed if line.startswith("以奖代补看板"))
    found = re.search(r"(/web/township\?quarter=\d{4}Q[1-4]) — sign in as (\S+) / (\S+)", summary)
    assert found, summary
    path, username, password = found.groups()

    again: list[str] = []
    seed(db, settings, echo=again.append)
    assert "以奖代补 of 中子镇 is seeded already" in again
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(func.count()).select_from(Settlement)).scalar_one() == 1
        count = session.execute(select(func.count()).select_from(SchemeVersion)).scalar_one()
        assert count == 1

    page.set_viewport_size(PROJECTOR)
    page.goto("/web/login?next=" + path.replace("?", "%3F").replace("=", "%3D"))
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#board-title")).to_have_text("中子镇 以奖代补看板")
    rows = page.locator("#chart-awards tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#chart-awards")).to_contain_text("石门村（二等奖）")
    expect(page.locator("#chart-awards")).to_contain_text("20,000.00元")
    expect(page.locator("#chart-awards")).to_contain_text("新华村（三等奖）")
    expect(page.locator("#settlement-total")).to_have_text("50,000.00 元")
