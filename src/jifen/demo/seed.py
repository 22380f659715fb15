"""Seed a realistic demo: 中子镇 with 清泉村 (household points, 一户一档) and 新华村
(individual points), their households and members, each village's charter (清泉村 in two
versions), and a few weeks scored under them: labor for a road project, checks a 组长
recorded and the clerk approved, a duplicate refused, a proxy sign-in revoked, deductions,
records waiting for review, a clean-up residents checked in to by QR code; each village's
points supermarket (a shelf bought with the points-exchange fund, donated goods, a few
days of sales and a refund); and, booked directly, a red-list award waiting out its
public notice (公示) and the funds' deposits. Runs through the services, like
every other write. Idempotent: a second run sees the township and stops."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.permissions import ClientScope, Permission, ScopeKind
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.demo import allied as demo_allied
from jifen.demo import boards as demo_boards
from jifen.demo import market as demo_market
from jifen.demo import spaces as demo_spaces
from jifen.demo import subsidies as demo_subsidies
from jifen.demo.charters import GROUP_LEADER_ROLE
from jifen.demo.charters import qingquan as qingquan_charter
from jifen.demo.charters import xinhua as xinhua_charter
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.market import service as market
from jifen.models import Household, Member, Project, Record, Role, Township, Village
from jifen.records import service as records
from jifen.records.errors import DuplicateRecord
from jifen.tenancy import service as tenancy

TOWNSHIP_CODE = "zhongzi"
GROUP_LEADER_PERMISSIONS = frozenset(
    {
        Permission.TENANCY_READ,
        Permission.ENTRIES_READ,
        Permission.CHARTERS_READ,
        Permission.RANKINGS_READ,
        Permission.RECORDS_CREATE,
        Permission.RECORDS_REVIEW,
    }
)
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


ENV_NAMES = {
    "township_admin": "TOWNSHIP_ADMIN_KEY",
    "township_finance": "FINANCE_KEY",
    "auditor": "AUDITOR_KEY",
    "village_clerk": "CLERK_KEY",
    GROUP_LEADER_ROLE: "GROUP_LEADER_KEY",
    "supermarket_cashier": "CASHIER_KEY",
}


def seed(
    database: Database,
    settings: Settings,
    *,
    echo: Callable[[str], None] = print,
    env: dict[str, str] | None = None,
) -> None:
    """Seed the demo township. `env`, when given, receives what the guides in docs/guides
    use: the staff's keys, the client's credentials, a binding code, the ids."""
    with database.unit_of_work() as session:
        existing = session.execute(
            select(Township).where(Township.code == TOWNSHIP_CODE)
        ).scalar_one_or_none()
        if existing is not None:
            echo(f"demo township {existing.name} is already there; nothing to do")
            # A database seeded before 以奖代补 came gets it now (once).
            demo_subsidies.seed_subsidies(
                session,
                township=existing,
                clock=ledger.Clock(now=utc_now(), settings=settings),
                echo=echo,
            )
            return
        now = utc_now()
        clock = ledger.Clock(now=now, settings=settings)
        today = clock.local_date(now)
        township = tenancy.create_township(session, code=TOWNSHIP_CODE, name="中子镇", now=now)
        echo(f"[1/6] township {township.name}")

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
        echo(f"[2/6] villages {qingquan.name}, {xinhua.name}")

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
        echo(f"[3/6] {len(people)} members in {household_count} households")

        access.create_role(
            session,
            caller=None,
            township_id=township.id,
            village_id=qingquan.id,
            code=GROUP_LEADER_ROLE,
            label="村民小组长",
            scope_kind=ScopeKind.VILLAGE,
            permissions=GROUP_LEADER_PERMISSIONS,
            now=now,
        )
        history = _History(session, clock)
        last_year = str(date(today.year - 1, 1, 1))
        history.publish(qingquan, qingquan_charter(last_year, "2"))
        history.publish(xinhua, xinhua_charter(last_year))
        project = labor.create_project(
            session,
            village_id=qingquan.id,
            code="road-2026",
            name="村道硬化与清扫",
            description="一事一议项目：村道硬化，村民投工投劳",
            starts_on=today - timedelta(days=30),
            ends_on=None,
            actor=ACTOR,
            now=now,
        )
        echo("[4/6] charters: 清泉村 v1 and v2 (labor 2 → 3 分/小时), 新华村 v1; a project")
        history.book_qingquan(qingquan, people, project, today)
        history.book_xinhua(xinhua, people)
        spaces_line = demo_spaces.seed_spaces(
            session, village=qingquan, carer=people["张德福"].member, clock=clock, today=today
        )
        board_households: dict[uuid.UUID, tuple[str, str]] = {}
        for name, side, reason in (
            ("王建国", "red", "门前屋后干净整洁，垃圾分类到位"),
            ("刘长春", "red", "庭院绿化美化好"),
            ("张德福", "black", "房前堆放柴草杂物"),
        ):
            board_households.setdefault(people[name].household.id, (side, reason))
        spaces_line += "; " + demo_boards.seed_board(
            session,
            village=qingquan,
            households=[(h, side, why) for h, (side, why) in board_households.items()],
            objection=demo_boards.Objection(
                member_id=people["张德福"].member.id,
                household_id=people["张德福"].household.id,
                reason="柴草是临时堆放，评比前一天已清理干净",
            ),
            clock=clock,
            today=today,
        )
        echo(
            f"[5/6] {history.records} records under the charters ({history.duplicates} "
            f"duplicate refused), {history.sales} sales at the points supermarkets and "
            f"{history.count} other entries; {spaces_line}"
        )

        echo("[6/6] staff, keys and a mini-program client (shown only now; keep them):")
        found: dict[str, str] = {
            "TOWNSHIP_ID": str(township.id),
            "QINGQUAN_ID": str(qingquan.id),
            "XINHUA_ID": str(xinhua.id),
        }
        for line in _staff(session, township, qingquan, people, now, found):
            echo("      " + line)
        demo_subsidies.seed_subsidies(session, township=township, clock=clock, echo=echo, env=found)
        if env is not None:
            env.update(found)


def _staff(
    session: Session,
    township: Township,
    village: Village,
    people: dict[str, Person],
    now: datetime,
    env: dict[str, str],
) -> list[str]:
    """A user with an API key for each built-in staff role, and a third-party client."""
    lines = []
    staff = (
        ("township_admin", "中子镇管理员", None),
        ("township_finance", "中子镇财政所", None),
        ("auditor", "中子镇纪委", None),
        ("village_clerk", "清泉村文书", village),
        (GROUP_LEADER_ROLE, "清泉村一组组长", village),
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
            role_id=_role_id(session, township, role_code),
            village_id=at.id if at else None,
            created_by="seed-demo",
            now=now,
        )
        _key, token = access.create_api_key(
            session, user_id=user.id, name=name, created_by="seed-demo", now=now
        )
        lines.append(f"{role_code:<20} {name}: {token}")
        env[ENV_NAMES[role_code]] = token
    client, secret = access.register_client(
        session,
        township_id=township.id,
        name="中子镇积分小程序",
        scopes=list(ClientScope),
        created_by="seed-demo",
        now=now,
    )
    lines.append(f"client_id {client.client.client_id}  client_secret {secret}")
    env.update(CLIENT_ID=client.client.client_id, CLIENT_SECRET=secret)
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
    env.update(BINDING_CODE=code, BOUND_MEMBER_ID=str(member.id))
    return lines


def _role_id(session: Session, township: Township, code: str) -> uuid.UUID:
    if code == GROUP_LEADER_ROLE:
        return session.execute(
            select(Role.id).where(Role.township_id == township.id, Role.code == code)
        ).scalar_one()
    return access.builtin_role(session, code).id


class _History:
    """A few weeks of a village's life, booked through the ledger service."""

    def __init__(self, session: Session, clock: ledger.Clock) -> None:
        self.session = session
        self.clock = clock
        self.count = 0
        self.records = 0
        self.duplicates = 0
        self.sales = 0

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

    def record(
        self,
        village: Village,
        rule_id: str,
        who: Person,
        days_ago: int,
        *,
        role: str = "village_clerk",
        quantity: str = "1",
        household_finding: bool = False,
        **extra: Any,
    ) -> Record:
        self.records += 1
        return records.record(
            self.session,
            records.RecordRequest(
                village_id=village.id,
                rule_id=rule_id,
                member_id=None if household_finding else who.member.id,
                household_id=who.household.id if household_finding else None,
                quantity=Decimal(quantity),
                occurred_at=self.clock.now - timedelta(days=days_ago),
                **extra,
            ),
            recorder=records.Recorder(f"{ACTOR}:{role}", frozenset({role})),
            clock=self.clock,
        )

    def book_qingquan(
        self, village: Village, people: dict[str, Person], project: Project, today: date
    ) -> None:
        """清泉村 keeps household points (一户一档): records name the member who acted and
        credit the household. Version 2 of its charter raised labor from 2 to 3 points an
        hour ten days ago; earlier labor keeps the points version 1 gave it."""
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
        photo = [{"kind": "photo", "ref": "demo://photos/village-road.jpg"}]
        for name, hours in (("王建国", "3"), ("刘长春", "4"), ("杨树林", "2"), ("王小明", "3")):
            self.record(
                village,
                "labor_hour",
                people[name],
                20,
                quantity=hours,
                project_id=project.id,
                place="村道",
                evidence=photo,
            )
        # A 组长's checks wait for the clerk's 复核; the clerk approves all but the last.
        checks = [
            self.record(village, "waste_sorting_check", people[name], 14, role=GROUP_LEADER_ROLE)
            for name in ("李秀兰", "陈桂英", "赵凤霞", "周玉梅", "吴桂芳")
        ]
        for check in checks[:-1]:
            records.review(
                self.session,
                record_id=check.id,
                approve=True,
                reason="",
                reviewer=records.Recorder(f"{ACTOR}:village_clerk", frozenset({"village_clerk"})),
                clock=self.clock,
            )
        # Two 网格员 logged the same check: the second is refused as a duplicate.
        try:
            self.record(village, "waste_sorting_check", people["吴桂芳"], 14)
        except DuplicateRecord:
            self.duplicates += 1
        self.record(
            village,
            "volunteer_service",
            people["刘洋"],
            12,
            evidence=[{"kind": "witness", "ref": "村委会主任 王建国"}],
            note="敬老院陪护",
        )
        self.record(
            village,
            "brave_deed",
            people["黄志强"],
            11,
            evidence=[{"kind": "document", "ref": "镇政府表彰通报"}],
            note="救起落水儿童",
        )
        self.publish(village, qingquan_charter(str(today - timedelta(days=10)), "3"))
        for name, hours in (("王建国", "2.5"), ("张德福", "4")):
            self.record(
                village,
                "labor_hour",
                people[name],
                3,
                quantity=hours,
                project_id=project.id,
                place="村道",
                evidence=photo,
            )
        # A proxy sign-in (代签) found later: the township revokes it.
        proxied = self.record(
            village, "labor_hour", people["郑大山"], 2, quantity="3", evidence=photo
        )
        records.revoke(
            self.session,
            record_id=proxied.id,
            reason="经村务监督委员会核实为代签",
            actor=f"{ACTOR}:township_admin",
            clock=self.clock,
        )
        self.record(
            village,
            "lane_rubbish",
            people["黄志强"],
            4,
            household_finding=True,
            quantity="2",
            evidence=[
                {"kind": "photo", "ref": "demo://photos/lane-2-02.jpg"},
                {"kind": "inspector", "ref": "网格员 周玉梅"},
            ],
        )
        # Waiting: a group leader's labor record (复核) and a resident's own report.
        self.record(
            village,
            "labor_hour",
            people["刘婷"],
            1,
            role=GROUP_LEADER_ROLE,
            quantity="2",
            evidence=photo,
        )
        self.record(
            village,
            "volunteer_service",
            people["赵凤霞"],
            1,
            role="resident",
            evidence=[{"kind": "witness", "ref": "邻居 陈桂英"}],
            note="帮五保户打扫院子",
        )
        # The supermarket: a shelf bought with the fund, donated towels, a few days at
        # the till (household points: the household pays), and a refund.
        shelf = demo_market.stock_shelf(self.session, village, self.clock, days_ago=20)
        donor = market.Donor("other", None, "县农商银行")
        demo_market.donate(self.session, shelf["毛巾"], 20, 10_000, donor, self.clock, days_ago=15)
        for name, basket, days_ago in (
            ("王建国", [("卫生纸（10卷）", 1)], 7),
            ("刘长春", [("洗衣粉（1千克）", 1)], 5),
            ("张德福", [("肥皂", 1), ("毛巾", 1)], 3),
        ):
            sale = demo_market.sell(
                self.session,
                village,
                people[name].member,
                [(shelf[g], n) for g, n in basket],
                self.clock,
                days_ago=days_ago,
            )
            self.sales += 1
        demo_market.refund_line(self.session, sale, 1, self.clock, days_ago=2)
        issue = self.account(village, AccountKind.ISSUANCE)
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
        for name in ("孙永红", "胡文斌", "林小燕", "高淑芬"):
            self.record(village, "assembly", people[name], 10)
        self.record(village, "volunteer", people["胡文斌"], 6)
        for days_ago in (9, 8, 7):
            self.record(village, "waste_sorting", people["马秀珍"], days_ago)
        self.record(village, "recyclables", people["罗建军"], 4, quantity="12.5")
        self.record(
            village,
            "gambling",
            people["朱国庆"],
            3,
            evidence=[{"kind": "document", "ref": "派出所通报"}],
        )
        # This morning's clean-up: residents scan its QR code to check in (two have).
        activity = labor.create_activity(
            self.session,
            village_id=village.id,
            rule_id="volunteer",
            title="周六环境大扫除",
            place="村委会门前广场",
            starts_at=self.clock.now - timedelta(hours=1),
            ends_at=self.clock.now + timedelta(hours=3),
            quantity=Decimal(1),
            project_id=None,
            actor=ACTOR,
            clock=self.clock,
        )
        for name in ("孙永红", "高淑芬"):
            labor.check_in(
                self.session,
                activity=activity,
                member_id=people[name].member.id,
                recorder=records.Recorder(f"{ACTOR}:mini-program", frozenset({"check_in"})),
                note="扫码签到",
                clock=self.clock,
            )
            self.records += 1
        fund = self.account(village, AccountKind.FUND, asset=Asset.CNY)
        funding = self.account(village, AccountKind.FUNDING, asset=Asset.CNY)
        self.book(
            village,
            "fund_deposit",
            [(funding, -200_000), (fund, 200_000)],
            "镇财政以奖代补资金注入积分兑换基金 2000 元",
            25,
        )
        shelf = demo_market.stock_shelf(self.session, village, self.clock, days_ago=20)
        demo_market.sell(
            self.session,
            village,
            people["胡文斌"].member,
            [(shelf["肥皂"], 1)],
            self.clock,
            days_ago=3,
        )
        self.sales += 1
        # An allied shop: the barber's takes points at 10 a yuan; the fund pays it.
        barber = demo_allied.open_shop(self.session, village, "新华村便民理发店", 10, self.clock)
        for name, points, days_ago in (("胡文斌", 8, 4), ("高淑芬", 5, 2)):
            demo_allied.pay_points(
                self.session, barber, people[name].member, points, self.clock, days_ago=days_ago
            )
        demo_allied.settle_and_pay(self.session, barber, self.clock, days_ago=4)

    def publish(self, village: Village, document: dict[str, Any]) -> None:
        charters.create_version(
            self.session,
            village_id=village.id,
            data=document,
            actor=ACTOR,
            now=self.clock.now,
            publish=True,
        )
