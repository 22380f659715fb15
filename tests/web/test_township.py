"""The township's 以奖代补 dashboard in a real browser at projector size: township finance
signs in and sees each chart with the villages' names and figures of a seeded township
(participation, person-days, points issued and redeemed per month, the scheme's
indicators, the draft settlement's awards); a village clerk and an auditor are refused.

The township is the one tests/subsidies/test_settlement.py settles (清泉村, 新华村, 石门村),
plus points issued in January and redeemed in March, worked out by hand below."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger.policy import AccountKind
from jifen.market import service as market
from jifen.models import Village
from jifen.subsidies import service as subsidies
from tests.factories import account_of, award, clock, make_goods, make_member
from tests.subsidies.test_settlement import SCHEME, _township
from tests.web.support import LiveServer, make_staff_user, sign_in

PROJECTOR = {"width": 1920, "height": 1080}
# 2026-01-14 23:30 in Beijing is still January there, and January in UTC too; 2026-03-31
# 17:00 UTC is 1 April in Beijing: a local month, not a UTC one.
JANUARY = datetime(2026, 1, 14, 15, 30, tzinfo=UTC)
MARCH = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
APRIL_IN_BEIJING = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)


def _seed(db: Database, settings: Settings) -> dict[str, object]:
    world = _township(db, settings)
    township_id = uuid.UUID(str(world["township_id"]))
    villages = world["villages"]
    assert isinstance(villages, dict)
    with db.unit_of_work() as session:
        v1 = session.get(Village, villages["v1"])
        assert v1 is not None
        buyer = make_member(session, v1, name="王秀兰")
        account = account_of(session, v1, AccountKind.MEMBER, buyer.id)
        award(session, settings, v1, account, 300, clock=clock(settings, JANUARY))
        rice = make_goods(session, settings, v1, stock=10, name="大米", price_points=30)
        for when, bags in ((MARCH, 2), (APRIL_IN_BEIJING, 1)):
            market.sell(
                session,
                village_id=v1.id,
                member_id=buyer.id,
                lines=[market.BasketLine(rice.id, bags)],
                expected_total_points=30 * bags,
                cashier="test",
                clock=clock(settings, when),
                idempotency_key=None,
            )
        subsidies.create_scheme_version(
            session, township_id=township_id, data=SCHEME, actor="finance", now=utc_now()
        )
        first, last = subsidies.quarter("2026Q1")
        subsidies.draft(
            session, township_id=township_id, first=first, last=last, actor="finance", now=utc_now()
        )
    return {"township_id": township_id, "v1": villages["v1"]}


def _chart_svg(page: Page, chart_id: str) -> str:
    src = page.locator(f"#chart-{chart_id} img").get_attribute("src")
    assert src is not None and src.startswith("data:image/svg+xml;base64,"), src
    return base64.b64decode(src.split(",", 1)[1]).decode("utf-8")


def _rows(page: Page, chart_id: str) -> dict[str, str]:
    rows = page.locator(f"#chart-{chart_id} tr")
    found = {}
    for n in range(rows.count()):
        row = rows.nth(n)
        found[row.locator("th").inner_text()] = row.locator("td").inner_text()
    return found


def test_finance_sees_the_township_on_a_projector(
    page: Page, live_server: LiveServer, db: Database, settings: Settings
) -> None:
    world = _seed(db, settings)
    finance = make_staff_user(
        db,
        role="township_finance",
        username="wang.caizheng",
        name="王财政",
        village_id=world["v1"],  # type: ignore[arg-type]
    )
    page.set_viewport_size(PROJECTOR)
    sign_in(page, finance, next_path="/web/township")
    expect(page.locator("#board-title")).to_contain_text("以奖代补看板")
    expect(page.locator("#board-period")).to_have_text("2026Q1（2026-01-01 至 2026-03-31）")

    # 清泉村: all 4 households (the two workers', the one that raised money, the one that
    # scored; 王秀兰 belongs to none); 新华村: the donor, 1 of 4; 石门村: both.
    participation = _rows(page, "participation")
    assert participation == {"清泉村": "100.00%", "新华村": "25.00%", "石门村": "100.00%"}
    svg = _chart_svg(page, "participation")
    for name in ("清泉村", "新华村", "石门村", "100.00%", "25.00%", "各村农户参与率"):
        assert name in svg, name
    assert _rows(page, "person-days") == {"清泉村": "3.00", "新华村": "0.00", "石门村": "1.00"}

    # Issued: 300 in January; in February the three labor records, each cut by the charter's
    # 5-points-a-day cap: 5 + 5 + 5 = 15. Redeemed: 2 bags of rice, 60 points, in March;
    # the third bag was sold on 1 April, Beijing time: not in March.
    assert _rows(page, "points-issued") == {
        "2026-01": "300.00",
        "2026-02": "15.00",
        "2026-03": "0.00",
    }
    assert _rows(page, "points-redeemed") == {
        "2026-01": "0.00",
        "2026-02": "0.00",
        "2026-03": "60.00",
    }
    assert "2026-03" in _chart_svg(page, "points-redeemed")

    # The scheme's indicators, raw: the household shares again (the target 0.8); residents'
    # input (500 + 360) / 2,000 yuan = 0.43 for 清泉村, 200 / 10,000 = 0.02
    # for 新华村, 120 / 600 = 0.2 for 石门村.
    expect(page.locator("#chart-indicator-participation-title")).to_contain_text("目标 0.8")
    assert _rows(page, "indicator-participation") == {
        "清泉村": "1.00",
        "新华村": "0.25",
        "石门村": "1.00",
    }
    assert _rows(page, "indicator-input") == {"清泉村": "0.43", "新华村": "0.02", "石门村": "0.20"}

    # The draft, worked out in test_settlement: a 1,000-yuan pool split 93 : 70 between
    # 清泉村 (570 yuan) and 石门村 (429.44… capped at half its 600-yuan investment, 300);
    # 新华村 fails the 30% participation gate.
    awards = _rows(page, "awards")
    assert awards == {"清泉村": "570.00元", "新华村": "0.00元", "石门村": "300.00元"}
    assert "570.00元" in _chart_svg(page, "awards")
    expect(page.locator("#settlement-summary")).to_contain_text("草案（待审批）")
    expect(page.locator("#settlement-total")).to_have_text("870.00 元")
    expect(page.locator("#settlement-unallocated")).to_have_text("130.00 元")

    # Large type: the headings are readable from the back of the hall.
    size = page.locator("#board-title").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 40, size
    chart = page.locator("#chart-participation img")
    width = chart.evaluate("e => e.getBoundingClientRect().width")
    assert width >= 700, width

    # Another quarter: no settlement yet, months of that quarter's year; not a quarter: 422.
    township_id = world["township_id"]
    page.goto(f"/web/township?township_id={township_id}&quarter=2026Q2")
    expect(page.locator("#board-period")).to_have_text("2026Q2（2026-04-01 至 2026-06-30）")
    expect(page.locator("#no-settlement")).to_be_visible()
    expect(page.locator("#chart-awards")).to_have_count(0)
    assert _rows(page, "points-redeemed")["2026-04"] == "30.00"  # the bag sold on 1 April
    response = page.goto(f"/web/township?township_id={township_id}&quarter=2026Q5")
    assert response is not None and response.status == 422


def test_a_village_clerk_and_an_auditor_are_refused(
    page: Page, live_server: LiveServer, db: Database, settings: Settings
) -> None:
    world = _seed(db, settings)
    township_id = world["township_id"]
    clerk = make_staff_user(db, village_id=world["v1"])  # type: ignore[arg-type]
    sign_in(page, clerk, next_path="/web/")
    for path in ("/web/township", f"/web/township?township_id={township_id}"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading")).to_have_text("无法打开以奖代补看板")
        expect(page.locator("#board-title")).to_have_count(0)
    page.context.clear_cookies()
    auditor = make_staff_user(
        db,
        role="auditor",
        username="zhou.shenji",
        name="周审计",
        village_id=world["v1"],  # type: ignore[arg-type]
    )
    sign_in(page, auditor, next_path="/web/")
    response = page.goto(f"/web/township?township_id={township_id}")
    assert response is not None and response.status == 403
    # A township that is not there.
    response = page.goto(f"/web/township?township_id={uuid.uuid4()}")
    assert response is not None and response.status == 404
