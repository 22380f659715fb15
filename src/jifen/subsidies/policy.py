"""The settlement formula, pure: facts and a scheme in, every village's award out.

Order: gates on raw values → normalise across the eligible villages → score (Σ weight ×
normalised, 0-100) → tie order (score, then the scheme's tie-break indicators, higher
first, then village code) → the award method → caps → rounding with the remainder rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from jifen.subsidies.plugins import Candidate, VillageFacts, format_value, q, yuan
from jifen.subsidies.scheme import (
    CompiledIndicator,
    InvestmentBasis,
    Normalisation,
    Remainder,
    Rounding,
    Scheme,
)

UNIT_FEN = {Rounding.FEN: 1, Rounding.YUAN: 100}


class RegionMissing(Exception):
    """The scheme reads each village's region (片区), and these villages have none."""

    def __init__(self, fields: Sequence[str], villages: Sequence[VillageFacts]) -> None:
        names = "、".join(f"{f.name}（{f.code}）" for f in villages)
        super().__init__(f"{', '.join(fields)} read the village's region; no region: {names}")
        self.fields = list(fields)
        self.villages = [
            {"village_id": f.village_id, "code": f.code, "name": f.name} for f in villages
        ]


class RegionUnknown(Exception):
    """The scheme's regions do not match the township's: a region it names that no village
    is in, or a region left out of a table that must list every region."""

    MESSAGES: ClassVar[dict[str, tuple[str, str]]] = {
        "unknown": ("no village of the township is in region {!r}", "片区“{}”下没有本乡镇的村"),
        "not_listed": ("region {!r} is not listed (write 0 for no places)", "未列出片区“{}”"),
    }

    def __init__(self, problems: Sequence[tuple[str, str, str]], known: Sequence[str]) -> None:
        """`problems`: (field, region, "unknown" or "not_listed")."""
        self.problems = [
            {
                "field": field,
                "region": region,
                "message": self.MESSAGES[kind][0].format(region),
                "message_zh": self.MESSAGES[kind][1].format(region),
            }
            for field, region, kind in problems
        ]
        self.known = list(known)
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in self.problems))


class PoolExceeded(Exception):
    def __init__(self, total_fen: int, pool_fen: int) -> None:
        super().__init__(f"awards of {total_fen} fen exceed the pool of {pool_fen} fen")
        self.total_fen = total_fen
        self.pool_fen = pool_fen


@dataclass(frozen=True)
class IndicatorResult:
    id: str
    label: str
    raw: Decimal
    normalised: Decimal
    weight: Decimal
    contribution: Decimal


def _floor(value: Decimal, unit: int) -> int:
    return int((value / unit).to_integral_value(rounding=ROUND_FLOOR)) * unit


def _normalise(indicator: CompiledIndicator, raw: Decimal, values: Sequence[Decimal]) -> Decimal:
    spec = indicator.document.normalise
    if spec.method is Normalisation.RATIO:
        assert spec.target is not None
        return q(min(raw / spec.target, spec.ceiling))
    if spec.method is Normalisation.MIN_MAX:
        low, high = min(values), max(values)
        return Decimal(1) if high == low else q((raw - low) / (high - low))
    # Rank: competition ranking (ties share the better place), spread evenly over 1..0.
    place = sum(1 for v in values if v > raw)
    return Decimal(1) if len(values) == 1 else q(1 - Decimal(place) / (len(values) - 1))


def check_regions(scheme: Scheme, facts: Sequence[VillageFacts]) -> None:
    """Refuse a scheme whose regions (片区) the township's villages do not bear out.

    The township's regions are those its villages are in. Refused: a region the scheme
    names that no village is in; a table of places per region that leaves a region out (a
    region without places is written with 0, never implied); and, when the scheme reads
    each village's region (relative gates, places or prizes per region), a village with no
    region — it has no average to meet and no places to take, and is not quietly judged
    against the whole township instead."""
    reading: list[str] = [
        f"gates[{n}].relative"
        for n, gate in enumerate(scheme.document.gates)
        if gate.relative is not None
    ]
    named: list[tuple[str, str]] = []
    region_refs = getattr(scheme.method, "region_refs", None)
    refs: list[tuple[str, str | None]] = (
        region_refs(scheme.method_params) if region_refs is not None else []
    )
    for path, name in refs:
        if name is None:
            reading.append(f"award.params.{path}")
        else:
            named.append((f"award.params.{path}", name))
    if not reading and not named:
        return
    known = sorted({f.region for f in facts if f.region is not None})
    problems = [(path, name, "unknown") for path, name in named if name not in known]
    for table in reading:
        listed = {name for path, name in named if path.startswith(f"{table}.")}
        if listed:
            problems.extend(
                (table, region, "not_listed") for region in known if region not in listed
            )
    if problems:
        raise RegionUnknown(problems, known)
    without = [f for f in sorted(facts, key=lambda f: f.code) if f.region is None]
    if reading and without:
        raise RegionMissing(reading, without)


def _region_averages(
    scheme: Scheme, facts: Sequence[VillageFacts], raw: dict[str, dict[str, Decimal]]
) -> dict[tuple[str, str], Decimal]:
    """(region, indicator id) → the mean raw value of the region's villages, for the
    indicators of relative gates."""
    wanted = {g.indicator for g in scheme.document.gates if g.relative is not None}
    members: dict[str, list[str]] = {}
    for f in facts:
        if f.region is not None:
            members.setdefault(f.region, []).append(f.village_id)
    return {
        (region, indicator): q(
            sum((raw[v][indicator] for v in villages), Decimal(0)) / len(villages)
        )
        for region, villages in members.items()
        for indicator in wanted
    }


def settle(scheme: Scheme, facts: Sequence[VillageFacts]) -> dict[str, Any]:
    """The settlement's villages and totals, as plain JSON-ready data (Decimals as text)."""
    check_regions(scheme, facts)
    doc = scheme.document
    by_id = {i.document.id: i for i in scheme.indicators}
    raw = {
        f.village_id: {i.document.id: q(i.type.measure(i.params, f)) for i in scheme.indicators}
        for f in facts
    }
    averages = _region_averages(scheme, facts, raw)
    failures: dict[str, list[str]] = {}
    for f in facts:
        failed = []
        for gate in doc.gates:
            indicator = by_id[gate.indicator]
            value = raw[f.village_id][gate.indicator]
            reads = indicator.type.unit
            if gate.min is not None and value < gate.min:
                failed.append(
                    f"{indicator.label} {format_value(value, reads)} 低于资格门槛 "
                    f"{format_value(gate.min, reads)}"
                )
            elif gate.relative is not None:
                # check_regions saw that every village has a region.
                assert f.region is not None
                average = averages[(f.region, gate.indicator)]
                if value < average:
                    failed.append(
                        f"{indicator.label} {format_value(value, reads)} 低于所在片区"
                        f"（{f.region}）平均 {format_value(average, reads)}"
                    )
        failures[f.village_id] = failed
    eligible = [f for f in facts if not failures[f.village_id]]
    results: dict[str, list[IndicatorResult]] = {}
    scores: dict[str, Decimal] = {}
    for f in eligible:
        rows = []
        for indicator in scheme.indicators:
            values = [raw[e.village_id][indicator.document.id] for e in eligible]
            value = raw[f.village_id][indicator.document.id]
            normalised = _normalise(indicator, value, values)
            weight = indicator.document.weight
            rows.append(
                IndicatorResult(
                    indicator.document.id,
                    indicator.label,
                    value,
                    normalised,
                    weight,
                    q(weight * normalised),
                )
            )
        results[f.village_id] = rows
        scores[f.village_id] = q(sum((r.contribution for r in rows), Decimal(0)))

    def order(f: VillageFacts) -> tuple[Any, ...]:
        ties = tuple(-raw[f.village_id][name] for name in doc.tie_break)
        return (-scores[f.village_id], *ties, f.code)

    ranked = sorted(eligible, key=order)
    labels = {i.document.id: i.label for i in scheme.indicators}
    units = {i.document.id: i.type.unit for i in scheme.indicators}
    candidates = [
        Candidate(
            f.village_id,
            f.code,
            f.name,
            scores[f.village_id],
            raw[f.village_id],
            labels,
            units,
            f.region,
        )
        for f in ranked
    ]
    allocations = {
        a.village_id: a
        for a in scheme.method.allocate(scheme.method_params, candidates, doc.pool_fen)
    }
    unit = UNIT_FEN[doc.rounding.unit]
    caps: dict[str, tuple[int | None, str | None]] = {}
    for f in ranked:
        cap, reason = None, None
        if doc.caps.share_of_investment is not None:
            if doc.caps.investment_basis is InvestmentBasis.PERIOD_INPUTS:
                base, base_label = (
                    f.labor_value_fen + f.money_fen + f.in_kind_fen,
                    "本期群众投入",
                )
            else:
                base, base_label = f.planned_investment_fen, "项目计划投资"
            cap = _floor(doc.caps.share_of_investment * base, unit)
            reason = (
                f"{base_label} {yuan(base)} 元的 "
                f"{format_value(doc.caps.share_of_investment, 'ratio')} 上限 {yuan(cap)} 元"
            )
        if doc.caps.per_village_max_fen is not None:
            ceiling = _floor(Decimal(doc.caps.per_village_max_fen), unit)
            if cap is None or ceiling < cap:
                cap, reason = ceiling, f"每村上限 {yuan(ceiling)} 元"
        caps[f.village_id] = (cap, reason)
    capped: dict[str, Decimal] = {}
    for f in ranked:
        amount = allocations[f.village_id].amount_fen
        cap, _ = caps[f.village_id]
        capped[f.village_id] = amount if cap is None else min(amount, Decimal(cap))
    awards = {v: _floor(a, unit) for v, a in capped.items()}
    remainder_units = 0
    if doc.rounding.remainder is Remainder.LARGEST_REMAINDER:
        # Each share carries at most a millionth of a fen of rounding: the sum to the
        # hundredth of a fen is what the shares add up to.
        exact = sum(capped.values(), Decimal(0)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        target = _floor(exact, unit)
        remainder_units = (target - sum(awards.values())) // unit
        # Largest fraction first; equal fractions in the tie order (ranked is that order).
        position = {f.village_id: n for n, f in enumerate(ranked)}
        fractions = sorted(
            (v for v in awards if capped[v] - awards[v] > 0),
            key=lambda v: (-(capped[v] - awards[v]), position[v]),
        )
        for village_id in fractions[:remainder_units]:
            awards[village_id] += unit
    total = sum(awards.values())
    if total > doc.pool_fen:
        raise PoolExceeded(total, doc.pool_fen)
    rank = {f.village_id: n for n, f in enumerate(ranked, 1)}
    villages = []
    for f in sorted(facts, key=lambda f: f.code):
        v = f.village_id
        entry: dict[str, Any] = {
            "village_id": v,
            "code": f.code,
            "name": f.name,
            "region": f.region,
            "facts": f.as_json(),
            "eligible": not failures[v],
            "gate_failures": failures[v],
            "raw": {k: str(x) for k, x in raw[v].items()},
        }
        if failures[v]:
            entry.update(
                indicators=[],
                score=None,
                rank=None,
                tier_id=None,
                tier_label=None,
                award_before_caps_fen="0",
                cap_fen=None,
                capped=False,
                award_fen=0,
                notes=[],
            )
            entry["explanation"] = (
                f"{f.name}：" + "；".join(failures[v]) + "，不具备奖补资格，奖补 0.00 元。"
            )
            villages.append(entry)
            continue
        allocation = allocations[v]
        cap, reason = caps[v]
        is_capped = cap is not None and allocation.amount_fen > cap
        entry.update(
            indicators=[
                {
                    "id": r.id,
                    "label": r.label,
                    "raw": str(r.raw),
                    "normalised": str(r.normalised),
                    "weight": str(r.weight),
                    "contribution": str(r.contribution),
                }
                for r in results[v]
            ],
            score=str(scores[v]),
            rank=rank[v],
            tier_id=allocation.tier_id,
            tier_label=allocation.tier_label,
            award_before_caps_fen=str(allocation.amount_fen),
            cap_fen=cap,
            capped=is_capped,
            award_fen=awards[v],
            notes=list(allocation.notes),
        )
        entry["explanation"] = _explain(
            f, results[v], scores[v], rank[v], allocation, units, is_capped, reason, awards[v]
        )
        villages.append(entry)
    return {
        "pool_fen": doc.pool_fen,
        "rounding": {"unit": doc.rounding.unit.value, "remainder": doc.rounding.remainder.value},
        "villages": villages,
        "total_fen": total,
        "unallocated_fen": doc.pool_fen - total,
    }


def _explain(
    f: VillageFacts,
    rows: list[IndicatorResult],
    score: Decimal,
    rank: int,
    allocation: Any,
    units: dict[str, str],
    is_capped: bool,
    cap_reason: str | None,
    award_fen: int,
) -> str:
    parts = [
        f"{r.label} {format_value(r.raw, units[r.id])}，标准化 {r.normalised.normalize():f}，"
        f"权重 {r.weight.normalize():f}，得分 {r.contribution.quantize(Decimal('0.01'))}"
        for r in rows
    ]
    text = f"{f.name}：" + "；".join(parts)
    text += f"；综合得分 {score.quantize(Decimal('0.01'))}，排名第 {rank}"
    if allocation.tier_label:
        text += f"，评为{allocation.tier_label}"
    if allocation.notes:
        text += "（" + "；".join(allocation.notes) + "）"
    if is_capped:
        text += f"；原应奖补 {yuan(allocation.amount_fen)} 元，受{cap_reason}限制"
    return text + f"；奖补 {yuan(award_fen)} 元。"
