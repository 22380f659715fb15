"""The built-in indicator types and award methods (registered in jifen's pyproject)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jifen.subsidies.plugins import Allocation, Candidate, VillageFacts, format_value, q, yuan


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NoParams(_Params):
    pass


def _share(part: int | Decimal, whole: int | Decimal) -> Decimal:
    return q(Decimal(part) / Decimal(whole)) if whole else Decimal(0)


# --- indicators -------------------------------------------------------------------------


class HouseholdShare:
    """参与率: households with any labor, money, donation or score ÷ the village's households."""

    label: ClassVar[str] = "参与率"
    unit: ClassVar[str] = "ratio"
    params_model: ClassVar[type[BaseModel]] = _NoParams

    def measure(self, params: Any, facts: VillageFacts) -> Decimal:
        return _share(facts.households_participating, facts.households_total)


class PersonDays:
    label: ClassVar[str] = "投工投劳工日"
    unit: ClassVar[str] = "person_day"
    params_model: ClassVar[type[BaseModel]] = _NoParams

    def measure(self, params: Any, facts: VillageFacts) -> Decimal:
        return q(facts.person_days)


class LaborValue:
    label: ClassVar[str] = "投工折资"
    unit: ClassVar[str] = "fen"
    params_model: ClassVar[type[BaseModel]] = _NoParams

    def measure(self, params: Any, facts: VillageFacts) -> Decimal:
        return Decimal(facts.labor_value_fen)


class ResidentsInput:
    """群众投入 (money, appraised donations and labor value) ÷ planned investment."""

    label: ClassVar[str] = "群众投入占比"
    unit: ClassVar[str] = "ratio"
    params_model: ClassVar[type[BaseModel]] = _NoParams

    def measure(self, params: Any, facts: VillageFacts) -> Decimal:
        given = facts.money_fen + facts.in_kind_fen + facts.labor_value_fen
        return _share(given, facts.planned_investment_fen)


class SatisfactionParams(_Params):
    scoring_households_min: int = Field(
        default=1, ge=1, le=100_000, description="fewer scoring households count as no score"
    )


class Satisfaction:
    """共评满意度: the mean of the households' scores (0 below the minimum of scorers)."""

    label: ClassVar[str] = "群众满意度"
    unit: ClassVar[str] = "score"
    params_model: ClassVar[type[BaseModel]] = SatisfactionParams

    def measure(self, params: SatisfactionParams, facts: VillageFacts) -> Decimal:
        if facts.scores_count < params.scoring_households_min:
            return Decimal(0)
        return _share(facts.scores_sum, facts.scores_count)


class Meetings:
    label: ClassVar[str] = "共谋会议"
    unit: ClassVar[str] = "count"
    params_model: ClassVar[type[BaseModel]] = _NoParams

    def measure(self, params: Any, facts: VillageFacts) -> Decimal:
        return Decimal(facts.meetings)


# --- awards -----------------------------------------------------------------------------


class Gate(_Params):
    indicator: str = Field(min_length=1, max_length=64)
    min: Decimal = Field(description="the indicator's raw value must be at least this")


class Tier(_Params):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str = Field(min_length=1, max_length=20, examples=["先进村"])
    min_score: Decimal = Field(ge=0, le=100)
    award_fen: int = Field(ge=0, le=10**12)
    quota: int | None = Field(default=None, ge=1, le=100_000, description="at most N villages")
    gates: list[Gate] = Field(default_factory=list, max_length=10)


class TiersParams(_Params):
    tiers: list[Tier] = Field(min_length=1, max_length=10, description="best tier first")

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: list[Tier]) -> list[Tier]:
        ids = [t.id for t in tiers]
        if len(set(ids)) != len(ids):
            raise ValueError("tier ids must be distinct")
        return tiers


class Tiers:
    """等次奖补: each village, best first, takes the best tier whose score, gates and quota
    it meets; a village that fails one falls to the next (先进村 / 成效村 / 一般村)."""

    label: ClassVar[str] = "按等次定额奖补"
    params_model: ClassVar[type[BaseModel]] = TiersParams

    def indicator_refs(self, params: TiersParams) -> list[tuple[str, str]]:
        return [
            (f"tiers[{t}].gates[{g}].indicator", gate.indicator)
            for t, tier in enumerate(params.tiers)
            for g, gate in enumerate(tier.gates)
        ]

    def allocate(
        self, params: TiersParams, candidates: Sequence[Candidate], pool_fen: int
    ) -> list[Allocation]:
        taken = {tier.id: 0 for tier in params.tiers}
        out = []
        for candidate in candidates:
            notes: list[str] = []
            chosen: Tier | None = None
            for tier in params.tiers:
                if candidate.score < tier.min_score:
                    continue
                failed = [g for g in tier.gates if candidate.raw[g.indicator] < g.min]
                if failed:
                    gate = failed[0]
                    unit = candidate.units[gate.indicator]
                    value = format_value(candidate.raw[gate.indicator], unit)
                    notes.append(
                        f"未达{tier.label}门槛（{candidate.labels[gate.indicator]} {value} "
                        f"低于 {format_value(gate.min, unit)}）"
                    )
                    continue
                if tier.quota is not None and taken[tier.id] >= tier.quota:
                    notes.append(f"{tier.label}名额 {tier.quota} 个已满")
                    continue
                chosen = tier
                break
            if chosen is None:
                out.append(Allocation(candidate.village_id, Decimal(0), notes=tuple(notes)))
                continue
            taken[chosen.id] += 1
            out.append(
                Allocation(
                    candidate.village_id,
                    Decimal(chosen.award_fen),
                    chosen.id,
                    chosen.label,
                    tuple(notes),
                )
            )
        return out


class PoolParams(_Params):
    pass


class PoolSplit:
    """差额式奖补: the pool split in proportion to score (单位分值金额 = 奖补资金池 ÷ Σ 得分)."""

    label: ClassVar[str] = "按得分比例分配资金池"
    params_model: ClassVar[type[BaseModel]] = PoolParams

    def indicator_refs(self, params: PoolParams) -> list[tuple[str, str]]:
        return []

    def allocate(
        self, params: PoolParams, candidates: Sequence[Candidate], pool_fen: int
    ) -> list[Allocation]:
        total = sum((c.score for c in candidates), Decimal(0))
        out = []
        for candidate in candidates:
            amount = q(Decimal(pool_fen) * candidate.score / total) if total else Decimal(0)
            note = f"按得分占比 {candidate.score}/{total} 分配资金池 {yuan(pool_fen)} 元"
            out.append(Allocation(candidate.village_id, amount, notes=(note,)))
        return out
