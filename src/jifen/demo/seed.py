"""Seed a realistic demo: 中子镇 with 清泉村 (household points, 一户一档) and 新华村
(individual points), their households and members, and a few weeks of entries:
labor, waste sorting, a redemption at the points supermarket, a duplicate corrected by a
reversal, a red-list award waiting out its public notice (公示), and the village's
points-exchange fund. Runs through the services, like every other write. Idempotent:
a second run sees the township and stops."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.permissions import ClientScope
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Household, Member, Township, Village
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


@dataclass(frozen=True)
class Person:
    member: Member
    household: Household


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
        echo(f"[1/5] township {township.name}")

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
        echo(f"[2/5] villages {qingquan.name}, {xinhua.name}")

        people: dict[str, Person] = {}
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
                    people[name] = Person(member, household)
        household_count = len(QINGQUAN_HOUSEHOLDS) + len(XINHUA_HOUSEHOLDS)
        echo(f"[3/5] {len(people)} members in {household_count} households")

        history = _History(session, clock)
        history.book_qingquan(qingquan, people)
        history.book_xinhua(xinhua, people)
        echo(f"[4/5] {history.count} entries booked")

        echo("[5/5] staff, keys and a mini-program client (shown only now; keep them):")
        for line in _staff(session, township, qingquan, people, now):
            echo("      " + line)


def _staff(
    session: Session, township: Township, village: Village, people: dict[str, Person], now: datetime
) -> list[str]:
    """A user with an API key for each built-in staff role, and a third-party client."""
    lines = []
    staff = (
        ("township_admin", "中子镇管理员", None),
        ("township_finance", "中子镇财政所", None),
        ("auditor", "中子镇纪委", None),
        ("village_clerk", "清泉村文书", village),
        ("supermarket_cashier", "清泉村积分超市", village),
    )
    for role_code, name, at in staff:
        user = access.create_user(
            session,
            name=name,
            township_id=township.id,
            village_id=at.id if at else None,
            created_by="seed-demo",
            now=now,
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=access.builtin_role(session, role_code).id,
            village_id=at.id if at else None,
            created_by="seed-demo",
            now=now,
        )
        _key, token = access.create_api_key(
            session, user_id=user.id, name=name, created_by="seed-demo", now=now
        )
        lines.append(f"{role_code:<20} {name}: {token}")
    client, secret = access.register_client(
        session,
        township_id=township.id,
        name="中子镇积分小程序",
        scopes=list(ClientScope),
        created_by="seed-demo",
        now=now,
    )
    lines.append(f"client_id {client.client.client_id}  client_secret {secret}")
    member = next(iter(people.values())).member
    _credential, code = access.issue_member_credential(
        session,
        member_id=member.id,
        kind="code",
        ttl_seconds=7 * 86400,
        created_by="seed-demo",
        now=now,
    )
    lines.append(f"binding code for {member.name} (valid 7 days): {code}")
    return lines


class _History:
    """A few weeks of a village's life, booked through the ledger service."""

    def __init__(self, session: Session, clock: ledger.Clock) -> None:
        self.session = session
        self.clock = clock
        self.count = 0

    def account(
        self,
        village: Village,
        kind: AccountKind,
        owner_id: uuid.UUID | None = None,
        asset: Asset = Asset.POINTS,
    ) -> uuid.UUID:
        category = "general" if kind is AccountKind.ISSUANCE else "main"
        account = ledger.find_account(
            self.session,
            village_id=village.id,
            kind=kind,
            owner_id=owner_id,
            asset=asset,
            category=category,
        )
        assert account is not None, "standard accounts are opened with the village"
        return account.id

    def book(
        self,
        village: Village,
        code: str,
        lines: list[tuple[uuid.UUID, int]],
        memo: str,
        days_ago: int,
        details: dict[str, Any] | None = None,
        is_pending: bool = False,
    ) -> ledger.EntryView:
        self.count += 1
        return ledger.book(
            self.session,
            village_id=village.id,
            code=code,
            postings=[ledger.PostingInput(account_id, n) for account_id, n in lines],
            actor=ACTOR,
            clock=self.clock,
            memo=memo,
            details=details,
            occurred_at=self.clock.now - timedelta(days=days_ago),
            is_pending=is_pending,
        )

    def book_qingquan(self, village: Village, people: dict[str, Person]) -> None:
        """清泉村 keeps household points (一户一档); metadata names the member who acted."""
        issue = self.account(village, AccountKind.ISSUANCE)
        shop = self.account(village, AccountKind.SUPERMARKET)
        fund = self.account(village, AccountKind.FUND, asset=Asset.CNY)
        funding = self.account(village, AccountKind.FUNDING, asset=Asset.CNY)

        def household(name: str) -> uuid.UUID:
            return self.account(village, AccountKind.HOUSEHOLD, people[name].household.id)

        self.book(
            village,
            "fund_deposit",
            [(funding, -200_000), (fund, 200_000)],
            "村集体经济收入注资积分兑换基金 2000 元",
            30,
        )
        for name, hours in (("王建国", 3), ("刘长春", 4), ("杨树林", 2), ("王小明", 3)):
            points = hours * 2
            self.book(
                village,
                "labor_award",
                [(issue, -points), (household(name), points)],
                f"义务劳动 {hours} 小时 × 2 分/小时 = {points} 分",
                20,
                {"member": name, "hours": hours, "project": "村道清扫"},
            )
        for name in ("李秀兰", "陈桂英", "赵凤霞", "周玉梅", "吴桂芳"):
            self.book(
                village,
                "waste_sorting_award",
                [(issue, -1), (household(name), 1)],
                "垃圾分类检查合格 +1",
                14,
                {"member": name},
            )
        duplicate = self.book(
            village,
            "waste_sorting_award",
            [(issue, -1), (household("吴桂芳"), 1)],
            "垃圾分类检查合格 +1",
            14,
            {"member": "吴桂芳"},
        )
        ledger.reverse(
            self.session,
            entry_id=duplicate.entry.id,
            actor=ACTOR,
            clock=self.clock,
            reason="网格员重复录入",
        )
        self.count += 1
        self.book(
            village,
            "redemption",
            [(household("王建国"), -5), (shop, 5)],
            "积分超市兑换: 卫生纸 ×1 (5 分)",
            7,
            {"goods": [["卫生纸", 1, 5]]},
        )
        self.book(
            village,
            "redemption",
            [(household("刘长春"), -8), (shop, 8)],
            "积分超市兑换: 洗衣粉 ×1 (8 分)",
            5,
            {"goods": [["洗衣粉", 1, 8]]},
        )
        self.book(
            village,
            "red_board_award",
            [(issue, -10), (household("杨树林"), 10)],
            "环境卫生红榜 (公示中, 7 天)",
            2,
            {"board": "环境卫生红黑榜"},
            is_pending=True,
        )

    def book_xinhua(self, village: Village, people: dict[str, Person]) -> None:
        """新华村 keeps individual points."""
        issue = self.account(village, AccountKind.ISSUANCE)
        shop = self.account(village, AccountKind.SUPERMARKET)

        def member(name: str) -> uuid.UUID:
            return self.account(village, AccountKind.MEMBER, people[name].member.id)

        for name in ("孙永红", "胡文斌", "林小燕", "高淑芬"):
            self.book(
                village, "activity_award", [(issue, -5), (member(name), 5)], "参加村议事活动 +5", 10
            )
        self.book(
            village,
            "volunteer_award",
            [(issue, -10), (member("胡文斌"), 10)],
            "参加志愿服务活动 +10",
            6,
        )
        self.book(
            village,
            "redemption",
            [(member("胡文斌"), -5), (shop, 5)],
            "积分超市兑换: 肥皂 ×1 (5 分)",
            3,
            {"goods": [["肥皂", 1, 5]]},
        )
