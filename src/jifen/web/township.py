"""The township's 以奖代补 dashboard (乡镇以奖代补看板) at /web/township: server-rendered
for a projector, for a signed-in user who may settle the township's subsidies
(finance:settle: township finance, or an administrator over the township). Everyone else
is refused with the error page (403), as is a township that is not there (404).

Charts are SVG drawn on the server with pygal (jifen.kit.charts), embedded as data: images
(the CSP allows no inline style, and pygal's SVG carries its own); each chart has a table
of the same figures beside it, for screen readers and for copying.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jifen.access import guard
from jifen.access.guard import Caller
from jifen.access.permissions import Permission
from jifen.kit.charts import BARS_MAX, Bar, bar_chart_svg
from jifen.kit.clock import local_date
from jifen.problems import Problem
from jifen.web import township_reads
from jifen.web.pages import render, signed_in, web_of


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    data_uri: str
    rows: list[tuple[str, str]]  # (label, figure as shown)


def _chart(chart_id: str, title: str, y_title: str, bars: list[Bar], unit: str = "") -> Chart:
    shown = bars[:BARS_MAX]
    svg = bar_chart_svg(title=title, bars=shown, y_title=y_title, unit=unit)
    return Chart(
        id=chart_id,
        title=title,
        data_uri="data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"),
        rows=[(bar.label, f"{bar.value:,.2f}{unit}") for bar in shown],
    )


def _yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def charts_of(board: township_reads.Dashboard) -> list[Chart]:
    """The dashboard's charts, in the order the page shows them (no chart without bars)."""
    charts: list[Chart] = []
    if board.facts:
        charts.append(
            _chart(
                "participation",
                "各村农户参与率",
                "参与农户占比（%）",
                [
                    Bar(
                        f.name,
                        (
                            Decimal(100 * f.households_participating) / f.households_total
                            if f.households_total
                            else Decimal(0)
                        ).quantize(Decimal("0.01")),
                    )
                    for f in board.facts
                ],
                "%",
            )
        )
        charts.append(
            _chart(
                "person-days",
                "各村投工投劳（工日）",
                "工日",
                [Bar(f.name, f.person_days) for f in board.facts],
            )
        )
    if board.months:
        charts.append(
            _chart(
                "points-issued",
                "每月发放积分",
                "积分",
                [Bar(m.label, m.issued_points) for m in board.months],
            )
        )
        charts.append(
            _chart(
                "points-redeemed",
                "每月兑换积分",
                "积分",
                [Bar(m.label, m.redeemed_points) for m in board.months],
            )
        )
    for indicator in board.indicators:
        bars = [Bar(name, value) for name, value in indicator.values if value is not None]
        if bars:
            target = f"（目标 {indicator.target}）" if indicator.target else ""
            title = f"指标：{indicator.label}{target}"
            charts.append(_chart(f"indicator-{indicator.id}", title, "数值", bars))
    if board.settlement is not None and board.settlement.awards:
        charts.append(
            _chart(
                "awards",
                "结算草案：各村奖补金额",
                "元",
                [
                    Bar(
                        f"{a.name}（{a.tier_label}）" if a.tier_label else a.name,
                        _yuan(a.award_fen),
                    )
                    for a in board.settlement.awards
                ],
                "元",
            )
        )
    return charts


def _refused(request: Request, status_code: int) -> Response:
    return render(
        request,
        "error.html",
        status_code=status_code,
        title="无法打开以奖代补看板",
        message="您没有该乡镇的以奖代补结算权限（乡镇财政或管理员），或该乡镇不存在。",
    )


@signed_in
def township_page(request: Request, caller: Caller) -> Response:
    web = web_of(request)
    wanted = request.query_params.get("township_id")
    with web.database.unit_of_work(write=False) as session:
        if wanted is None:
            townships = township_reads.dashboard_townships(session, caller)
            if not townships:
                return _refused(request, 403)
            if len(townships) > 1:
                return render(request, "township_choose.html", user=caller, townships=townships)
            township_id = townships[0][0]
        else:
            try:
                township_id = uuid.UUID(wanted)
            except ValueError:
                return _refused(request, 404)
        try:
            guard.require(session, caller, Permission.FINANCE_SETTLE, "township_id", township_id)
        except Problem as refused:
            return _refused(request, refused.status)
        quarter = request.query_params.get("quarter") or township_reads.latest_quarter(
            session, township_id
        )
        if quarter is None:
            quarter = township_reads.quarter_of(local_date(web.clock(), web.settings.zone))
        try:
            board = township_reads.dashboard(
                session, township_id=township_id, quarter=quarter, zone=web.settings.zone
            )
        except Problem:  # a quarter that is not one (2026Q5)
            return render(
                request,
                "error.html",
                status_code=422,
                title="季度格式不正确",
                message="季度应写作 2026Q1 这样的形式。",
            )
    return render(
        request, "township.html", user=caller, board=board, charts=charts_of(board), yuan=_yuan
    )


def routes() -> list[Route]:
    return [Route("/township", township_page, methods=["GET"], name="township")]
