"""Seed a realistic demo: 中子镇 with 清泉村 (household points, 一户一档) and 新华村
(individual points), their households and members, and a few weeks of entries:
labor, waste sorting, a redemption at the points supermarket, a duplicate corrected by a
reversal, a red-list award waiting out its public notice (公示), and the village's
points-exchange fund. Runs through the services, like every other write. Idempotent:
a second run sees the township and stops."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Township, Village
from jifen.tenancy import service as tenancy

TOWNSHIP_CODE = "zhongzi"
ACTOR = "seed-demo"

# (number, household name, [(member name, is head)])
QINGQUAN_HOUSEHOLDS = [
    ("1-01", "王建国户", [("王建国", True), ("李秀兰", False), ("王小明", False)]),
    ("1-02", "张德福户", [("张德福", True), ("陈桂英", False)]),
    ("1-03", "刘长春户", [("刘长春", True), ("赵凤霞", False), ("刘洋", False), ("刘婷", False)]),
    ("2-01", "杨树林户", [("杨树林", True), ("周玉梅", False)]),
    ("2-02", "黄志强户", [("黄志强", True)]),
    ("2-03", "吴桂芳户", [("吴桂芳", True), ("郑大山", False)]),
]
XINHUA_HOUSEHOLDS = [
    ("01", "孙永红户", [("孙永红", True), ("马秀珍", False)]),
    ("02", "胡文斌户", [("胡文斌", True), ("林小燕", False), ("胡子涵", False)]),
    ("03", "朱国庆户", [("朱国庆", True)]),
    ("04", "高淑芬户", [("高淑芬", True), ("罗建军", False)]),
]


def seed(database: Database, settings: Settings, *, echo: Callable[[str], None] = print) -> None:
    with database.unit_of_work() as session:
        existing = session.execute(
            select(Township).where(Township.code == TOWNSHIP_CODE)
        ).scalar_one_or_none()
        if existing is not None:
            echo(f"demo township {existing.name} is already there; nothing to do")
            return
        now = utc_now()
        clock = ledger.Clock(now=now, settings=settings)
        today = clock.local_date(now)
        township = tenancy.create_township(session, code=TOWNSHIP_CODE, name="中子镇", now=now)
        echo(f"[1/4] township {township.name}")

        qingquan = tenancy.create_village(
            session,
            township_id=township.id,
            code="qingquan",
            name="清泉村",
            allow_below_floor_codes=["conduct_penalty"],
            now=now,
        )
        xinhua = tenancy.create_village(
            session, township_id=township.id, code="xinhua", name="新华村", now=now
        )
        echo(f"[2/4] villages {qingquan.name}, {xinhua.name}")

        people: dict[str, dict[str, object]] = {}
        for village, households in ((qingquan, QINGQUAN_HOUSEHOLDS), (xinhua, XINHUA_HOUSEHOLDS)):
            for number, household_name, members in households:
                household = tenancy.create_household(
                    session, village_id=village.id, number=number, name=household_name, now=now
                )
                for name, is_head in members:
                    member = tenancy.create_member(
                        session,
                        village_id=village.id,
                        name=name,
                        household_id=household.id,
                        joined_on=today - timedelta(days=365),
                        is_head=is_head,
                        now=now,
                        today=today,
                    )
                    people[name] = {"member": member, "household": household, "village": village}
        household_count = len(QINGQUAN_HOUSEHOLDS) + len(XINHUA_HOUSEHOLDS)
        echo(f"[3/4] {len(people)} members in {household_count} households")

        entries = _book_history(session, clock, qingquan, xinhua, people)
        echo(f"[4/4] {entries} entries booked")


def _account(
    session,
    village: Village,
    kind: AccountKind,
    owner=None,
    asset=Asset.POINTS,  # type: ignore[no-untyped-def]
    category: str = "main",
):
    account = ledger.find_account(
        session,
        village_id=village.id,
        kind=kind,
        owner_id=owner.id if owner else None,
        asset=asset,
        category=category,
    )
    assert account is not None
    return account.id


def _book_history(
    session,
    clock: ledger.Clock,
    qingquan: Village,
    xinhua: Village,  # type: ignore[no-untyped-def]
    people: dict[str, dict[str, object]],
) -> int:
    count = 0
    days_ago = lambda n: clock.now - timedelta(days=n)  # noqa: E731

    def book(
        village: Village,
        code: str,
        lines: list[tuple[object, int]],
        memo: str,
        days: int,
        **kwargs: object,
    ) -> ledger.EntryView:
        nonlocal count
        count += 1
        return ledger.book(
            session,
            village_id=village.id,
            code=code,
            postings=[ledger.PostingInput(a, n) for a, n in lines],  # type: ignore[arg-type]
            actor=ACTOR,
            clock=clock,
            memo=memo,
            occurred_at=days_ago(days),
            **kwargs,  # type: ignore[arg-type]
        )

    # 清泉村: household points (一户一档); the member who acted is recorded in metadata.
    q_issue = _account(session, qingquan, AccountKind.ISSUANCE, category="general")
    q_shop = _account(session, qingquan, AccountKind.SUPERMARKET)
    q_fund = _account(session, qingquan, AccountKind.FUND, asset=Asset.CNY)
    q_funding = _account(session, qingquan, AccountKind.FUNDING, asset=Asset.CNY)

    def household_of(name: str):  # type: ignore[no-untyped-def]
        return _account(session, qingquan, AccountKind.HOUSEHOLD, people[name]["household"])

    book(
        qingquan,
        "fund_deposit",
        [(q_funding, -200_000), (q_fund, 200_000)],
        "村集体经济收入注资积分兑换基金 2000 元",
        30,
    )
    for name, hours in (("王建国", 3), ("刘长春", 4), ("杨树林", 2), ("王小明", 3)):
        points = hours * 2
        book(
            qingquan,
            "labor_award",
            [(q_issue, -points), (household_of(name), points)],
            f"义务劳动 {hours} 小时 × 2 分/小时 = {points} 分",
            20,
            details={"member": name, "hours": hours, "project": "村道清扫"},
        )
    for name in ("李秀兰", "陈桂英", "赵凤霞", "周玉梅", "吴桂芳"):
        book(
            qingquan,
            "waste_sorting_award",
            [(q_issue, -1), (household_of(name), 1)],
            "垃圾分类检查合格 +1",
            14,
            details={"member": name},
        )
    duplicate = book(
        qingquan,
        "waste_sorting_award",
        [(q_issue, -1), (household_of("吴桂芳"), 1)],
        "垃圾分类检查合格 +1",
        14,
        details={"member": "吴桂芳"},
    )
    ledger.reverse(
        session, entry_id=duplicate.entry.id, actor=ACTOR, clock=clock, reason="网格员重复录入"
    )
    count += 1
    book(
        qingquan,
        "redemption",
        [(household_of("王建国"), -5), (q_shop, 5)],
        "积分超市兑换: 卫生纸 ×1 (5 分)",
        7,
        details={"goods": [["卫生纸", 1, 5]]},
    )
    book(
        qingquan,
        "redemption",
        [(household_of("刘长春"), -8), (q_shop, 8)],
        "积分超市兑换: 洗衣粉 ×1 (8 分)",
        5,
        details={"goods": [["洗衣粉", 1, 8]]},
    )
    book(
        qingquan,
        "red_board_award",
        [(q_issue, -10), (household_of("杨树林"), 10)],
        "环境卫生红榜 (公示中, 7 天)",
        2,
        is_pending=True,
        details={"board": "环境卫生红黑榜"},
    )

    # 新华村: individual points.
    x_issue = _account(session, xinhua, AccountKind.ISSUANCE, category="general")
    x_shop = _account(session, xinhua, AccountKind.SUPERMARKET)

    def member_of(name: str):  # type: ignore[no-untyped-def]
        return _account(session, xinhua, AccountKind.MEMBER, people[name]["member"])

    for name in ("孙永红", "胡文斌", "林小燕", "高淑芬"):
        book(
            xinhua, "activity_award", [(x_issue, -5), (member_of(name), 5)], "参加村议事活动 +5", 10
        )
    book(
        xinhua,
        "volunteer_award",
        [(x_issue, -10), (member_of("胡文斌"), 10)],
        "参加志愿服务活动 +10",
        6,
    )
    book(
        xinhua,
        "redemption",
        [(member_of("胡文斌"), -5), (x_shop, 5)],
        "积分超市兑换: 肥皂 ×1 (5 分)",
        3,
        details={"goods": [["肥皂", 1, 5]]},
    )
    return count
