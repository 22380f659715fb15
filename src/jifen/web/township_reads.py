"""What the township's dashboard (乡镇以奖代补看板) reads: each village's participation in a
quarter, the points issued and redeemed per month, each village's indicators against the
scheme and the latest draft settlement of the quarter. Reads only.

Points issued in a month are what left the villages' issuance accounts (less what came
back to them by reversals); points redeemed are what reached the supermarkets' accounts
(less refunds). Months are the township's local months (Settings.timezone), each summed
in SQL over its UTC bounds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.access.guard import Caller
from jifen.access.permissions import Permission, ScopeKind
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Account, Posting, SchemeVersion, Settlement, Township
from jifen.subsidies import errors as subsidy_errors
from jifen.subsidies import service as subsidies
from jifen.subsidies.policy import VillageFacts

# The dashboard's townships list and its charts stay readable on a projector.
TOWNSHIPS_MAX = 200
MONTHS_MAX = 12


@dataclass(frozen=True)
class Month:
    label: str  # 2026-01
    issued_points: int
    redeemed_points: int


@dataclass(frozen=True)
class IndicatorRow:
    """One indicator of the scheme: its label, target, and each village's raw value."""

    id: str
    label: str
    target: str | None
    values: list[tuple[str, Decimal | None]]  # (village name, raw value; None: not computed)


@dataclass(frozen=True)
class Award:
    name: str
    tier_label: str | None
    score: str | None
    award_fen: int
    eligible: bool


@dataclass(frozen=True)
class SettlementView:
    id: uuid.UUID
    period: str
    scheme_title: str
    total_fen: int
    unallocated_fen: int
    is_approved: bool
    awards: list[Award]


@dataclass(frozen=True)
class Dashboard:
    township_id: uuid.UUID
    township_name: str
    quarter: str
    first: date
    last: date
    facts: list[VillageFacts]
    facts_problem: str | None  # why the facts could not be computed (no wage rate...)
    months: list[Month]
    indicators: list[IndicatorRow]
    settlement: SettlementView | None


def dashboard_townships(session: Session, caller: Caller) -> list[tuple[uuid.UUID, str]]:
    """The townships whose dashboard the caller may see (those it may settle), by name."""
    everywhere = False
    ids: set[uuid.UUID] = set()
    for grant in caller.grants:
        if Permission.FINANCE_SETTLE.value not in grant.permissions:
            continue
        if grant.scope is ScopeKind.SYSTEM:
            everywhere = True
        elif grant.scope is ScopeKind.TOWNSHIP and grant.township_id is not None:
            ids.add(grant.township_id)
    if not (everywhere or ids):
        return []
    query = select(Township.id, Township.name).order_by(Township.name).limit(TOWNSHIPS_MAX)
    if not everywhere:
        query = query.where(Township.id.in_(ids))
    return [(row.id, row.name) for row in session.execute(query)]


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(date(year, month, 1), time(), zone)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    end = datetime.combine(following, time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def points_by_month(
    session: Session, *, township_id: uuid.UUID, year: int, last_month: int, zone: ZoneInfo
) -> list[Month]:
    """January to `last_month` of `year`: points issued and redeemed in each."""
    months = []
    for month in range(max(1, last_month - MONTHS_MAX + 1), last_month + 1):
        start, end = _month_bounds(year, month, zone)
        sums = dict(
            session.execute(
                select(Account.kind, func.coalesce(func.sum(Posting.amount), 0))
                .join(Account, Account.id == Posting.account_id)
                .where(
                    Posting.township_id == township_id,
                    Posting.asset == Asset.POINTS.value,
                    Posting.occurred_at >= start,
                    Posting.occurred_at < end,
                    Account.kind.in_([AccountKind.ISSUANCE.value, AccountKind.SUPERMARKET.value]),
                )
                .group_by(Account.kind)
            ).all()
        )
        months.append(
            Month(
                label=f"{year}-{month:02d}",
                issued_points=-int(sums.get(AccountKind.ISSUANCE.value, 0)),
                redeemed_points=int(sums.get(AccountKind.SUPERMARKET.value, 0)),
            )
        )
    return months


def latest_settlement(
    session: Session, *, township_id: uuid.UUID, first: date, last: date
) -> Settlement | None:
    return session.execute(
        select(Settlement)
        .where(
            Settlement.township_id == township_id,
            Settlement.period_start == first,
            Settlement.period_end == last,
        )
        .order_by(Settlement.created_at.desc(), Settlement.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def latest_quarter(session: Session, township_id: uuid.UUID) -> str | None:
    """The quarter of the township's most recent settlement, if any."""
    found = session.execute(
        select(Settlement.period_start)
        .where(Settlement.township_id == township_id)
        .order_by(Settlement.created_at.desc(), Settlement.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return quarter_of(found) if found is not None else None


def _indicators(document: dict[str, Any], result: dict[str, Any] | None) -> list[IndicatorRow]:
    """Each indicator of the settlement's scheme, with each village's raw value from the
    settlement (the figures it was computed from)."""
    if result is None:
        return []
    targets = {
        item.get("id"): (item.get("normalise") or {}).get("target")
        for item in document.get("indicators", [])
    }
    rows = []
    for indicator in result.get("indicators", []):
        values: list[tuple[str, Decimal | None]] = []
        for village in result.get("villages", []):
            raw = village.get("raw", {}).get(indicator["id"])
            values.append((village["name"], Decimal(raw) if raw is not None else None))
        target = targets.get(indicator["id"])
        rows.append(
            IndicatorRow(
                id=indicator["id"],
                label=indicator["label"],
                target=str(target) if target is not None else None,
                values=values,
            )
        )
    return rows


def dashboard(
    session: Session, *, township_id: uuid.UUID, quarter: str, zone: ZoneInfo
) -> Dashboard:
    township = session.get(Township, township_id)
    if township is None:
        raise LookupError(township_id)
    first, last = subsidies.quarter(quarter)
    facts: list[VillageFacts] = []
    facts_problem = None
    try:
        facts = subsidies.village_facts(session, township_id=township_id, first=first, last=last)
    except subsidy_errors.WageRateMissing as missing:
        facts_problem = f"缺少工日单价，无法计算投工折资 / {missing.detail}"
    settlement = latest_settlement(session, township_id=township_id, first=first, last=last)
    view = None
    result = None
    document: dict[str, Any] = {}
    if settlement is not None:
        result = subsidies.result_of(settlement)
        version = session.get(SchemeVersion, settlement.scheme_version_id)
        document = version.document if version is not None else {}
        view = SettlementView(
            id=settlement.id,
            period=f"{settlement.period_start} 至 {settlement.period_end}",
            scheme_title=str(result["scheme"]["title"]),
            total_fen=settlement.total_fen,
            unallocated_fen=int(result.get("unallocated_fen", 0)),
            is_approved=subsidies.approval_of(session, settlement.id) is not None,
            awards=[
                Award(
                    name=v["name"],
                    tier_label=v.get("tier_label"),
                    score=v.get("score"),
                    award_fen=int(v["award_fen"]),
                    eligible=bool(v["eligible"]),
                )
                for v in result["villages"]
            ],
        )
    return Dashboard(
        township_id=township.id,
        township_name=township.name,
        quarter=quarter.upper(),
        first=first,
        last=last,
        facts=facts,
        facts_problem=facts_problem,
        months=points_by_month(
            session, township_id=township_id, year=last.year, last_month=last.month, zone=zone
        ),
        indicators=_indicators(document, result),
        settlement=view,
    )
