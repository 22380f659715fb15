"""The till in a real browser (Debian's chromium, driven by Playwright) against a real
server and database: a whole sale, by phone and by card; refunds of a line and of a whole
receipt; a short-stock refusal; the basket surviving a reload; and the network dropping in
the middle of a sale — the page offline, or the answer lost after the server booked —
with exactly one booking in the end.

Time in the page is Playwright's clock where a test must tell the retry timer apart from
the other ways a pending sale goes again (the online event, a reload); no test sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Request, Route, expect

from jifen.access.cards import member_number
from jifen.config import Settings
from jifen.db import Database
from jifen.models import Village
from tests.factories import make_member
from tests.web.shop import (
    RICE_BARCODE,
    Goods,
    Shop,
    points,
    refunds_of,
    sales_by,
    seed_shop,
    sell_elsewhere,
    stock,
)
from tests.web.support import StaffUser, sign_in

pytestmark = pytest.mark.e2e

SCAN = "扫码或输入：积分卡、手机号、编号、商品条码"
STORE_PREFIX = "jifen.till.v1."


@pytest.fixture
def shop(settings: Settings, db: Database, cashier: StaffUser) -> Shop:
    return seed_shop(db, settings, cashier.village_id)


def open_till(page: Page, cashier: StaffUser) -> None:
    sign_in(page, cashier, next_path="/web/till")
    expect(page.locator("#catalog button.goods")).to_have_count(3)
    expect(page.get_by_label(SCAN, exact=True)).to_be_focused()


def find_by_phone(page: Page, phone: str) -> None:
    page.get_by_label(SCAN, exact=True).fill(phone)
    page.get_by_role("button", name="查找", exact=True).click()
    expect(page.locator("#member-name")).to_have_text("张*明")


def tap(page: Page, goods: Goods, times: int = 1) -> None:
    button = page.get_by_role("button", name=f"{goods.name} {goods.price_points}分", exact=True)
    for _ in range(times):
        button.click()


def quantity(page: Page, goods: Goods) -> Locator:
    return page.get_by_label(f"{goods.name} 数量", exact=True)


def basket_key(page: Page, cashier: StaffUser, shop: Shop) -> str:
    key: str = page.evaluate(
        "name => JSON.parse(localStorage.getItem(name)).basket.key",
        f"{STORE_PREFIX}{cashier.id}.{shop.village_id}",
    )
    return key


def is_sale_post(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/sales")


def test_a_whole_sale_found_by_phone(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    open_till(page, cashier)
    expect(page.locator("#till-place")).to_have_text(f"{shop.village_name} · 积分超市")
    find_by_phone(page, "138-0000-1234")
    # The screen faces the queue: the name is masked until the cashier asks for it.
    expect(page.locator("#member-household")).to_have_text("张建国户")
    expect(page.locator("#points-label")).to_have_text("可用积分")
    expect(page.locator("#member-points")).to_have_text("200 分")
    page.get_by_role("button", name="显示姓名", exact=True).click()
    expect(page.locator("#member-name")).to_have_text("张小明")
    page.get_by_role("button", name="隐藏姓名", exact=True).click()
    expect(page.locator("#member-name")).to_have_text("张*明")

    tap(page, shop.rice, 2)
    tap(page, shop.oil)
    tap(page, shop.towel)
    page.get_by_role("button", name="增加 毛巾", exact=True).click()
    expect(quantity(page, shop.towel)).to_have_value("2")
    expect(page.locator("#total")).to_have_text("140 分")
    page.get_by_role("button", name="移除 毛巾", exact=True).click()
    expect(quantity(page, shop.towel)).to_have_count(0)
    expect(quantity(page, shop.rice)).to_have_value("2")
    expect(page.locator("#total")).to_have_text("110 分")
    expect(page.locator("#remaining")).to_have_text("90 分")

    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功：小票 ")
    [sale] = sales_by(db, shop, cashier.id)
    expect(page.locator("#receipt-status")).to_have_text(f"兑换成功：小票 {sale.seq}")
    receipt = page.locator("#receipt")
    expect(receipt.locator("h3")).to_have_text(f"{shop.village_name} 积分超市")
    expect(page.locator("#receipt-no")).to_have_text(str(sale.seq))
    expect(page.locator("#receipt-cashier")).to_have_text("赵收银")
    expect(page.locator("#receipt-member")).to_have_text("张*明")
    sold_at = sale.created_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    expect(page.locator("#receipt-time")).to_have_text(sold_at.strftime("%Y/%m/%d %H:%M:%S"))
    expect(receipt.locator("tbody tr")).to_have_text(["大米2袋3060", "食用油1瓶5050"])
    expect(page.locator("#receipt-total")).to_have_text("110 分")
    expect(page.locator("#receipt-left")).to_have_text("90 分")
    expect(page.locator("#receipt-seq")).to_have_text(str(sale.seq))
    expect(page.locator("#receipt-hash")).to_have_text(sale.entry_hash[:12])
    assert points(db, shop.member.points_account_id) == 90
    assert (stock(db, shop.rice), stock(db, shop.oil), stock(db, shop.towel)) == (8, 1, 5)

    # Printed, the page is the receipt alone.
    page.emulate_media(media="print")
    expect(receipt).to_be_visible()
    for chrome in (".bar", ".tabs", ".receipt-actions", "#refund", "#receipt-status"):
        expect(page.locator(chrome)).to_be_hidden()
    page.emulate_media(media="screen")

    page.get_by_role("button", name="返回收银", exact=True).click()
    expect(page.locator("#member-empty")).to_be_visible()
    expect(page.locator("#basket li")).to_have_count(0)
    expect(page.locator("#last-sale")).to_contain_text(f"上一笔：小票 {sale.seq}，110 分")
    assert page_errors == []


def test_a_sale_by_card_from_a_household_that_pools_points(
    page: Page, page_errors: list[str], db: Database, settings: Settings, cashier: StaffUser
) -> None:
    shop = seed_shop(db, settings, cashier.village_id, pooled=True)
    open_till(page, cashier)
    # A USB scanner types what the card's QR code holds into the focused box, then Enter.
    page.keyboard.type(shop.member.card_token)
    page.keyboard.press("Enter")
    expect(page.locator("#member-name")).to_have_text("张*明")
    expect(page.locator("#points-label")).to_have_text("本户可用积分")
    expect(page.locator("#member-points")).to_have_text("200 分")
    # Goods by their barcode, the same way: twice is two bags.
    expect(page.get_by_label(SCAN, exact=True)).to_be_focused()
    page.keyboard.type(RICE_BARCODE)
    page.keyboard.press("Enter")
    expect(quantity(page, shop.rice)).to_have_value("1")
    # A good tapped takes the focus; the scanner's next code still lands in the basket.
    tap(page, shop.towel)
    expect(page.get_by_label(SCAN, exact=True)).not_to_be_focused()
    page.keyboard.type(RICE_BARCODE)
    page.keyboard.press("Enter")
    expect(quantity(page, shop.rice)).to_have_value("2")
    expect(quantity(page, shop.towel)).to_have_value("1")
    page.get_by_role("button", name="移除 毛巾", exact=True).click()
    expect(page.locator("#remaining")).to_have_text("140 分")
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功")
    expect(page.locator("#receipt-left")).to_have_text("140 分")
    expect(page.locator("#receipt")).to_contain_text("兑换后本户剩余")
    [sale] = sales_by(db, shop, cashier.id)
    assert (sale.holder_kind, sale.total_points) == ("household", 60)
    assert points(db, shop.member.points_account_id) == 140
    assert page_errors == []


def test_refund_one_line_then_the_whole_receipt(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.rice, 2)
    tap(page, shop.towel)
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功")
    [sale] = sales_by(db, shop, cashier.id)
    assert points(db, shop.member.points_account_id) == 125
    page.get_by_role("button", name="返回收银", exact=True).click()

    # Today's list has the receipt; open it from there and take one bag of rice back.
    page.get_by_role("button", name="今日兑换", exact=True).click()
    expect(page.locator("#day-sales-count")).to_have_text("1")
    expect(page.locator("#day-points")).to_have_text("75")
    page.get_by_role("button", name=f"查看小票 {sale.seq}", exact=True).click()
    expect(page.locator("#receipt-no")).to_have_text(str(sale.seq))
    page.get_by_label("大米 退货数量（最多 2袋）", exact=True).fill("1")
    page.get_by_label("退货原因（可不填）", exact=True).fill("包装破损")
    page.get_by_role("button", name="退所选商品", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("已退货：退回 30 分")
    expect(page.locator("#receipt tbody tr").first).to_contain_text("（已退 1袋）")
    expect(page.locator("#receipt-refunded")).to_have_text("30 分")
    expect(page.get_by_label("大米 退货数量（最多 1袋）", exact=True)).to_be_visible()
    assert refunds_of(db, sale.id) == 1
    assert points(db, shop.member.points_account_id) == 155
    assert (stock(db, shop.rice), stock(db, shop.towel)) == (9, 4)

    # Later: the receipt by its number, and everything left on it refunded in one step.
    page.get_by_role("button", name="今日兑换", exact=True).click()
    expect(page.locator("#day-refunds-count")).to_have_text("1")
    page.get_by_label("按小票号打开", exact=True).fill(str(sale.seq))
    page.get_by_role("button", name="打开小票", exact=True).click()
    expect(page.locator("#receipt-no")).to_have_text(str(sale.seq))
    page.get_by_role("button", name="整单退货", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("已退货：退回 45 分")
    expect(page.locator("#refund-done")).to_be_visible()
    expect(page.get_by_role("button", name="整单退货", exact=True)).to_be_hidden()
    expect(page.locator("#receipt-refunded")).to_have_text("75 分")
    expect(page.locator("#receipt-refunds p")).to_have_count(2)
    assert refunds_of(db, sale.id) == 2
    assert points(db, shop.member.points_account_id) == 200
    assert (stock(db, shop.rice), stock(db, shop.towel)) == (10, 5)
    assert page_errors == []


def test_short_stock_is_refused_naming_the_good_and_nothing_is_booked(
    page: Page,
    page_errors: list[str],
    db: Database,
    settings: Settings,
    shop: Shop,
    cashier: StaffUser,
) -> None:
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.towel, 3)
    tap(page, shop.rice)
    expect(page.get_by_role("button", name="兑换", exact=True)).to_be_enabled()
    # Meanwhile another till sells four of the five towels.
    sell_elsewhere(db, settings, shop, shop.towel, 4)
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#message")).to_have_text(
        "毛巾库存不足：货架上只剩 1条，本单要 3条。未扣积分，请调整数量后再兑换。"
    )
    assert sales_by(db, shop, cashier.id) == []
    assert points(db, shop.member.points_account_id) == 200
    assert stock(db, shop.towel) == 1
    # The basket is the cashier's again, with the shelf as it is now.
    expect(page.get_by_role("button", name=f"毛巾 {shop.towel.price_points}分")).to_contain_text(
        "库存 1条"
    )
    expect(page.locator("#basket li").first).to_contain_text("库存只有 1条")
    expect(page.locator("#basket-warn")).to_have_text("不能兑换：毛巾库存只有 1条。")
    expect(page.get_by_role("button", name="兑换", exact=True)).to_be_disabled()
    quantity(page, shop.towel).fill("1")
    quantity(page, shop.towel).press("Tab")
    expect(page.locator("#total")).to_have_text("45 分")
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功")
    [sale] = sales_by(db, shop, cashier.id)
    assert sale.total_points == 45
    assert stock(db, shop.towel) == 0
    assert page_errors == []


def test_a_reload_keeps_the_member_the_basket_and_its_key(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.rice)
    tap(page, shop.oil)
    page.get_by_role("button", name="增加 食用油", exact=True).click()
    expect(page.locator("#total")).to_have_text("130 分")
    key = basket_key(page, cashier, shop)
    page.reload()
    expect(page.locator("#member-name")).to_have_text("张*明")
    expect(page.locator("#member-points")).to_have_text("200 分")
    expect(quantity(page, shop.rice)).to_have_value("1")
    expect(quantity(page, shop.oil)).to_have_value("2")
    expect(page.locator("#total")).to_have_text("130 分")
    assert basket_key(page, cashier, shop) == key
    assert sales_by(db, shop, cashier.id) == []
    assert page_errors == []


def test_offline_at_submit_the_till_resubmits_when_the_network_returns(
    context: BrowserContext,
    page: Page,
    page_errors: list[str],
    db: Database,
    shop: Shop,
    cashier: StaffUser,
) -> None:
    page.clock.install()
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.rice)
    tap(page, shop.towel)
    key = basket_key(page, cashier, shop)
    # From here on no timer of the page fires: only the online event can send it again.
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    posted: list[Request] = []
    page.on("request", lambda request: posted.append(request) if is_sale_post(request) else None)

    context.set_offline(True)
    expect(page.locator("#net")).to_have_text("离线")
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#pending")).to_contain_text("待确认")
    expect(page.locator("#pending-text")).to_contain_text("已提交 1 次")
    expect(page.get_by_role("button", name="提交中…", exact=True)).to_be_disabled()
    assert sales_by(db, shop, cashier.id) == []

    context.set_offline(False)
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功")
    expect(page.locator("#net")).to_have_text("在线")
    [sale] = sales_by(db, shop, cashier.id)
    expect(page.locator("#receipt-no")).to_have_text(str(sale.seq))
    assert sale.total_points == 45
    assert points(db, shop.member.points_account_id) == 155
    assert [r.header_value("idempotency-key") for r in posted] == [key, key]
    assert page_errors == []


def test_an_answer_lost_after_booking_is_retried_with_the_same_key(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    page.clock.install()
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.oil)
    key = basket_key(page, cashier, shop)
    keys: list[str | None] = []
    booked: list[int] = []

    def drop_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            # The server books the sale; the answer never reaches the page.
            booked.append(route.fetch().status)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/sales", drop_the_first_answer)
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#pending")).to_contain_text("待确认")
    expect(page.locator("#pending-text")).to_contain_text("已提交 1 次")
    assert booked == [201]
    [sale] = sales_by(db, shop, cashier.id)
    assert points(db, shop.member.points_account_id) == 150

    # The retry timer sends the same basket with the same key; the server answers with
    # the sale it booked, and books nothing new.
    page.clock.run_for(1_000)
    expect(page.locator("#receipt-status")).to_have_text(
        f"兑换成功：小票 {sale.seq}（网络中断后已确认，只入账一次）"
    )
    expect(page.locator("#receipt-total")).to_have_text("50 分")
    expect(page.locator("#receipt-left")).to_have_text("150 分")
    assert keys == [key, key]
    assert [s.id for s in sales_by(db, shop, cashier.id)] == [sale.id]
    assert points(db, shop.member.points_account_id) == 150
    assert stock(db, shop.oil) == 1
    assert page_errors == []


def test_a_pending_sale_survives_a_reload_and_goes_again(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    open_till(page, cashier)
    find_by_phone(page, shop.member.phone)
    tap(page, shop.rice, 3)
    key = basket_key(page, cashier, shop)
    unreachable = [True]
    keys: list[str | None] = []

    def server_unreachable(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.header_value("idempotency-key"))
        if unreachable[0]:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/sales", server_unreachable)
    page.get_by_role("button", name="兑换", exact=True).click()
    expect(page.locator("#pending")).to_contain_text("待确认")
    # Loaded again, the page shows the unconfirmed sale and sends it at once.
    with page.expect_request(is_sale_post):
        page.reload()
    expect(page.locator("#pending")).to_contain_text("待确认")
    expect(quantity(page, shop.rice)).to_have_value("3")
    expect(quantity(page, shop.rice)).to_be_disabled()
    expect(page.locator("#member-name")).to_have_text("张*明")
    assert sales_by(db, shop, cashier.id) == []

    unreachable[0] = False
    expect(page.locator("#receipt-status")).to_contain_text("兑换成功")
    [sale] = sales_by(db, shop, cashier.id)
    assert sale.total_points == 90
    assert set(keys) == {key} and len(keys) >= 3
    assert points(db, shop.member.points_account_id) == 110
    assert page_errors == []


def test_a_shared_phone_asks_which_member_and_a_member_number_finds_one(
    page: Page, page_errors: list[str], db: Database, shop: Shop, cashier: StaffUser
) -> None:
    with db.unit_of_work() as session:
        village = session.get(Village, shop.village_id)
        assert village is not None
        make_member(session, village, name="张小红", phone=shop.member.phone)
    open_till(page, cashier)
    page.get_by_label(SCAN, exact=True).fill(shop.member.phone)
    page.get_by_label(SCAN, exact=True).press("Enter")
    candidates = page.locator("#candidates")
    expect(candidates).to_contain_text("多位村民使用这个号码，请选择")
    expect(candidates.get_by_role("button")).to_have_text(["张*明", "张*红"])
    candidates.get_by_role("button", name="张*红", exact=True).click()
    expect(page.locator("#member-name")).to_have_text("张*红")
    expect(page.locator("#member-points")).to_have_text("0 分")
    expect(candidates).to_be_hidden()
    # The number printed on the card finds the member without asking.
    page.get_by_label(SCAN, exact=True).fill(member_number(shop.member.id))
    page.get_by_label(SCAN, exact=True).press("Enter")
    expect(page.locator("#member-name")).to_have_text("张*明")
    expect(page.locator("#member-points")).to_have_text("200 分")
    # A code that names nobody and no good says so.
    page.get_by_label(SCAN, exact=True).fill("13999999999")
    page.get_by_label(SCAN, exact=True).press("Enter")
    expect(page.locator("#scan-message")).to_contain_text("找不到")
    expect(page.locator("#member-name")).to_have_text("张*明")
    assert page_errors == []
