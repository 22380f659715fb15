"""The demo's 以奖代补: the township's 工日单价, a third village (石门村), a public-works
project in each village (一事一议 style: 投工投劳 booked as labor records, 群众自筹 money and
认捐 donations booked as CNY entries, 共评 scores and 共谋 meetings), a published scheme
(tiers with a participation gate, caps at half the planned investment) and the quarter's
draft settlement; and a township-finance user who can sign in to the dashboard
(/web/township). Through the services, like every other write.

Figures follow VILLAGE-SCHEMES.md B1/B3: a 70% participation target (安徽 2014), tiers of
30,000 / 20,000 / 10,000 yuan, 120 yuan a person-day. Idempotent: a township that has a
scheme already is left alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.charters import service as charters
from jifen.demo.charters import qingquan as qingquan_charter
from jifen.labor import service as labor
from jifen.ledger import service as ledger
from jifen.models import (
    Household,
    HouseholdMembership,
    Member,
    Principal,
    SchemeVersion,
    Township,
    Village,
)
from jifen.records import service as records
from jifen.subsidies import service as subsidies
from jifen.tenancy import service as tenancy

ACTOR = "seed-demo"
FINANCE = "seed-demo:township_finance"
FINANCE_USERNAME = "caizheng"
FEN_PER_PERSON_DAY = 12_000  # 120 元 a 工日
PHOTO = [{"kind": "photo", "ref": "demo://photos/project-site.jpg"}]

SCHEME: dict[str, Any] = {
    "title": "中子镇村级公益事业以奖代补办法（试行）",
    "pool_fen": 8_000_000,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 40,
            "normalise": {"method": "ratio", "target": "0.7"},
        },
        {
            "id": "input",
            "type": "residents_input",
            "weight": 30,
            "normalise": {"method": "ratio", "target": "0.3"},
        },
        {
            "id": "satisfaction",
            "type": "satisfaction",
            "weight": 20,
            "normalise": {"method": "ratio", "target": "90"},
        },
        {
            "id": "meetings",
            "type": "meetings",
            "weight": 10,
            "normalise": {"method": "ratio", "target": "2"},
        },
    ],
    "gates": [{"indicator": "participation", "min": "0.3"}],
    "award": {
        "method": "tiers",
        "params": {
            "tiers": [
                {
                    "id": "first",
                    "label": "一等奖",
                    "min_score": "85",
                    "award_fen": 3_000_000,
                    "quota": 1,
                },
                {"id": "second", "label": "二等奖", "min_score": "70", "award_fen": 2_000_000},
                {"id": "third", "label": "三等奖", "min_score": "50", "award_fen": 1_000_000},
            ]
        },
    },
    "caps": {"share_of_investment": "0.5"},
    "rounding": {"unit": "yuan", "remainder": "retained"},
}

SHIMEN_HOUSEHOLDS = (
    ("S01", "石大山户", ("石大山", "石秀英")),
    ("S02", "田永福户", ("田永福",)),
    ("S03", "石玉兰户", ("石玉兰", "石小军")),
    ("S04", "罗树根户", ("罗树根",)),
    ("S05", "田桂花户", ("田桂花",)),
)


def _quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def seed_subsidies(
    session: Session,
    *,
    township: Township,
    clock: ledger.Clock,
    echo: Callable[[str], None],
    env: dict[str, str] | None = None,
) -> None:
    """Seed the township's 以奖代补 for the current quarter and print how to see it
    (and put the quarter and the finance user's sign-in into `env`, when given)."""
    now = clock.now
    today = clock.local_date(now)
    quarter = _quarter_of(today)
    first, _last = subsidies.quarter(quarter)
    has_scheme = session.execute(
        select(SchemeVersion.id).where(SchemeVersion.township_id == township.id).limit(1)
    ).scalar_one_or_none()
    if has_scheme is not None:
        echo(f"以奖代补 of {township.name} is seeded already")
        _how_to_see(echo, township, quarter, password=None)
        return

    def on(day_offset: int) -> date:
        """A day of this quarter, `day_offset` days after its start, never after today."""
        return min(first + timedelta(days=day_offset), today)

    def at(day: date) -> ledger.Clock:
        noon = datetime.combine(day, time(12), clock.settings.zone)
        return replace(clock, now=min(noon, now))

    subsidies.create_wage_rate(
        session,
        township_id=township.id,
        effective_on=date(today.year - 1, 1, 1),
        fen_per_person_day=FEN_PER_PERSON_DAY,
        actor=FINANCE,
        now=now,
    )
    villages = {
        v.code: v
        for v in session.execute(
            select(Village).where(Village.township_id == township.id)
        ).scalars()
    }
    shimen = villages.get("shimen") or _shimen(session, township, clock, today)
    villages["shimen"] = shimen
    qingquan, xinhua = villages["qingquan"], villages["xinhua"]
    households = {
        v.code: list(
            session.execute(
                select(Household).where(Household.village_id == v.id).order_by(Household.number)
            ).scalars()
        )
        for v in (qingquan, xinhua, shimen)
    }
    # Who works for each household: its first member by name, a member today.
    heads = {
        h.id: session.execute(
            select(Member)
            .join(HouseholdMembership, HouseholdMembership.member_id == Member.id)
            .where(HouseholdMembership.household_id == h.id, HouseholdMembership.left_on.is_(None))
            .order_by(Member.name)
            .limit(1)
        ).scalar_one()
        for hs in households.values()
        for h in hs
    }
    projects = {}
    for village, code, name, category, investment_fen in (
        (qingquan, "ditch-2026", "沟渠清淤与护坡", "irrigation", 8_000_000),
        (xinhua, "square-2026", "文化广场硬化", "culture", 15_000_000),
        (shimen, "water-2026", "饮水管网改造", "water", 6_000_000),
    ):
        projects[village.code] = labor.create_project(
            session,
            village_id=village.id,
            code=code,
            name=name,
            description="一事一议：村民筹资筹劳，镇里以奖代补",
            starts_on=first,
            ends_on=None,
            actor=ACTOR,
            now=now,
            category=category,
            planned_investment_fen=investment_fen,
            status="underway",
        )
    clerk = records.Recorder(f"{ACTOR}:village_clerk", frozenset({"village_clerk"}))
    labor_records = 0
    # 投工投劳: hours of the 义务劳动 rule (清泉村, 石门村 keep it); 8 hours make a 工日.
    for code, hours in (("qingquan", ("8", "8", "4", "8", "6")), ("shimen", ("8", "8", "8", "4"))):
        village = villages[code]
        for n, (household, quantity) in enumerate(zip(households[code], hours, strict=False)):
            records.record(
                session,
                records.RecordRequest(
                    village_id=village.id,
                    rule_id="labor_hour",
                    member_id=heads[household.id].id,
                    household_id=None,
                    quantity=Decimal(quantity),
                    occurred_at=at(on(3 + n)).now,
                    project_id=projects[code].id,
                    place=projects[code].name,
                    evidence=PHOTO,
                ),
                recorder=clerk,
                clock=at(on(3 + n)),
            )
            labor_records += 1
    # 群众自筹 (money) and 认捐 (in kind), by household.
    contributions = (
        ("qingquan", 0, "money", 60_000, "每户筹资 600 元"),
        ("qingquan", 1, "money", 60_000, "每户筹资 600 元"),
        ("qingquan", 2, "in_kind", 150_000, "认捐石料 10 方"),
        ("xinhua", 0, "money", 50_000, "筹资 500 元"),
        ("xinhua", 1, "in_kind", 80_000, "认捐水泥 2 吨"),
        ("shimen", 0, "money", 40_000, "筹资 400 元"),
        ("shimen", 2, "in_kind", 120_000, "认捐 PE 水管 200 米"),
    )
    for code, index, kind, amount_fen, description in contributions:
        household = households[code][index]
        subsidies.record_contribution(
            session,
            project_id=projects[code].id,
            kind=kind,
            amount_fen=amount_fen,
            description=description,
            contributed_on=on(5),
            member_id=None,
            household_id=household.id,
            organisation_id=None,
            actor=ACTOR,
            clock=at(on(5)),
            idempotency_key=f"seed-demo:contribution:{code}:{index}:{quarter}",
        )
    # 共评: households score their project; 共谋: the meetings that planned it.
    scores = {"qingquan": (95, 90, 88, 92), "xinhua": (80, 75), "shimen": (90, 85, 95)}
    for code, given in scores.items():
        for household, score in zip(households[code], given, strict=False):
            subsidies.score_project(
                session,
                project_id=projects[code].id,
                household_id=household.id,
                score=score,
                comment="满意" if score >= 85 else "基本满意",
                scored_on=on(20),
                actor=ACTOR,
                now=now,
            )
    meetings = {"qingquan": 2, "xinhua": 1, "shimen": 2}
    for code, count in meetings.items():
        for n in range(count):
            subsidies.record_meeting(
                session,
                project_id=projects[code].id,
                held_on=on(n),
                topic=f"{projects[code].name} 方案议定（第 {n + 1} 次）",
                household_ids=[h.id for h in households[code][:4]],
                actor=ACTOR,
                now=now,
            )
    version = subsidies.create_scheme_version(
        session,
        township_id=township.id,
        data={**SCHEME, "effective_on": str(date(today.year, 1, 1))},
        actor=FINANCE,
        now=now,
    )
    first_day, last_day = subsidies.quarter(quarter)
    settlement = subsidies.draft(
        session, township_id=township.id, first=first_day, last=last_day, actor=FINANCE, now=now
    )
    echo(
        f"以奖代补: 工日单价 {FEN_PER_PERSON_DAY / 100:.0f} 元, 3 projects, {labor_records} "
        f"labor records, {len(contributions)} contributions, scheme v{version.version}, "
        f"draft settlement of {quarter}: {settlement.total_fen / 100:,.2f} 元"
    )
    password = secrets.token_urlsafe(12)
    _finance_user(session, township, password, now)
    if env is not None:
        env.update(QUARTER=quarter, FINANCE_USERNAME=FINANCE_USERNAME, FINANCE_PASSWORD=password)
    _how_to_see(echo, township, quarter, password=password)


def _shimen(session: Session, township: Township, clock: ledger.Clock, today: date) -> Village:
    now = clock.now
    village = tenancy.create_village(
        session, township_id=township.id, code="shimen", name="石门村", now=now
    )
    for number, name, members in SHIMEN_HOUSEHOLDS:
        household = tenancy.create_household(
            session, village_id=village.id, number=number, name=name, now=now
        )
        for n, member in enumerate(members):
            tenancy.create_member(
                session,
                village_id=village.id,
                name=member,
                household_id=household.id,
                joined_on=today - timedelta(days=365),
                is_head=n == 0,
                now=now,
                today=today,
            )
    charters.create_version(
        session,
        village_id=village.id,
        data=qingquan_charter(str(date(today.year - 1, 1, 1)), "2")
        | {"title": "石门村村规民约积分制"},
        actor=ACTOR,
        now=now,
        publish=True,
    )
    return village


def _finance_user(session: Session, township: Township, password: str, now: datetime) -> None:
    taken = session.execute(
        select(Principal.id).where(Principal.username == FINANCE_USERNAME)
    ).scalar_one_or_none()
    if taken is not None:
        return
    user = access.create_user(
        session,
        name="中子镇财政所（看板）",
        township_id=township.id,
        village_id=None,
        username=FINANCE_USERNAME,
        password=password,
        created_by=ACTOR,
        now=now,
    )
    access.grant_role(
        session,
        caller=None,
        user_id=user.id,
        role_id=access.builtin_role(session, "township_finance").id,
        village_id=None,
        township_id=township.id,
        created_by=ACTOR,
        now=now,
    )


def _how_to_see(
    echo: Callable[[str], None], township: Township, quarter: str, *, password: str | None
) -> None:
    shown = password if password is not None else "(shown at the first seed only)"
    echo(
        f"以奖代补看板 (dashboard): http://127.0.0.1:8000/web/township?quarter={quarter} — "
        f"sign in as {FINANCE_USERNAME} / {shown} (乡镇财政, {township.name})"
    )
