"""The built-in indicator types and award methods (registered in jifen's pyproject)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.kit.schemas import Invalid
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


class Relative(StrEnum):
    REGION_AVERAGE = "region_average"  # the mean raw value of the villages of its region


class Gate(_Params):
    """Exactly one of `min` (absolute) and `relative` (e.g. at or above the average of the
    village's region, 片区)."""

    indicator: str = Field(min_length=1, max_length=64)
    min: Decimal | None = Field(
        default=None, description="the indicator's raw value must be at least this"
    )
    relative: Relative | None = Field(
        default=None,
        description="region_average: at least the mean raw value of the township's villages "
        "in the village's region (the village included)",
    )

    @model_validator(mode="after")
    def _one_bound(self) -> Gate:
        if (self.min is None) == (self.relative is None):
            raise Invalid(
                "give exactly one of min and relative", "min 和 relative 须且只须填写一项"
            )
        return self


def _absolute(gates: list[Gate]) -> list[Gate]:
    if any(g.relative is not None for g in gates):
        raise Invalid(
            "a tier's gates are absolute (min); relative gates are scheme gates",
            "档次的门槛须为绝对值（min）；相对门槛（relative）只用于方案门槛",
        )
    return gates


def _region_places(places: dict[str, int] | None) -> dict[str, int] | None:
    for name in places or {}:
        if not name.strip() or len(name) > 40:
            raise Invalid(
                f"{name!r} is not a region name (1-40 characters)",
                f"“{name}”不是有效的片区名称（1 至 40 个字）",
            )
    return places


class Tier(_Params):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str = Field(min_length=1, max_length=20, examples=["先进村"])
    min_score: Decimal = Field(ge=0, le=100)
    award_fen: int = Field(ge=0, le=10**12)
    quota: int | None = Field(default=None, ge=1, le=100_000, description="at most N villages")
    region_quotas: dict[str, int] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description='places per region (片区) in this tier, e.g. {"东片": 10, "西片": 4}; '
        "every region of the township is listed; with `quota`, both must have room",
    )
    gates: list[Gate] = Field(default_factory=list, max_length=10)

    @field_validator("gates")
    @classmethod
    def _gates_absolute(cls, gates: list[Gate]) -> list[Gate]:
        return _absolute(gates)

    @field_validator("region_quotas")
    @classmethod
    def _places(cls, places: dict[str, int] | None) -> dict[str, int] | None:
        for count in (places or {}).values():
            if not 0 <= count <= 100_000:
                raise Invalid("a region's places are 0 to 100000", "片区名额须在 0 至 100000 之间")
        return _region_places(places)


class TiersParams(_Params):
    tiers: list[Tier] = Field(min_length=1, max_length=10, description="best tier first")

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: list[Tier]) -> list[Tier]:
        ids = [t.id for t in tiers]
        if len(set(ids)) != len(ids):
            raise Invalid("tier ids must be distinct", "档次编号不能重复")
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

    def region_refs(self, params: TiersParams) -> list[tuple[str, str | None]]:
        refs: list[tuple[str, str | None]] = []
        for t, tier in enumerate(params.tiers):
            if tier.region_quotas is not None:
                refs.append((f"tiers[{t}].region_quotas", None))
                refs.extend(
                    (f"tiers[{t}].region_quotas.{name}", name) for name in tier.region_quotas
                )
        return refs

    def allocate(
        self, params: TiersParams, candidates: Sequence[Candidate], pool_fen: int
    ) -> list[Allocation]:
        taken = {tier.id: 0 for tier in params.tiers}
        taken_in: dict[tuple[str, str | None], int] = {}
        out = []
        for candidate in candidates:
            notes: list[str] = []
            chosen: Tier | None = None
            for tier in params.tiers:
                if candidate.score < tier.min_score:
                    continue
                # A tier's gates are absolute (min), as the params refuse relative ones.
                failed = [
                    (g, g.min)
                    for g in tier.gates
                    if g.min is not None and candidate.raw[g.indicator] < g.min
                ]
                if failed:
                    gate, least = failed[0]
                    unit = candidate.units[gate.indicator]
                    value = format_value(candidate.raw[gate.indicator], unit)
                    notes.append(
                        f"未达{tier.label}门槛（{candidate.labels[gate.indicator]} {value} "
                        f"低于 {format_value(least, unit)}）"
                    )
                    continue
                if tier.quota is not None and taken[tier.id] >= tier.quota:
                    notes.append(f"{tier.label}名额 {tier.quota} 个已满")
                    continue
                if tier.region_quotas is not None:
                    # The settlement checks that every village has a listed region first.
                    places = tier.region_quotas.get(candidate.region or "", 0)
                    if taken_in.get((tier.id, candidate.region), 0) >= places:
                        notes.append(f"{candidate.region}{tier.label}名额 {places} 个已满")
                        continue
                chosen = tier
                break
            if chosen is None:
                out.append(Allocation(candidate.village_id, Decimal(0), notes=tuple(notes)))
                continue
            taken[chosen.id] += 1
            if chosen.region_quotas is not None:
                key = (chosen.id, candidate.region)
                taken_in[key] = taken_in.get(key, 0) + 1
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


# --- base award plus rank prizes ----------------------------------------------------------

_RANKS = re.compile(r"^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$")


class Prize(_Params):
    ranks: str = Field(
        max_length=11, description="a rank (3) or a range of ranks (4-10), 1 the first"
    )
    award_fen: int = Field(ge=0, le=10**12)

    @field_validator("ranks")
    @classmethod
    def _range(cls, ranks: str) -> str:
        found = _RANKS.match(ranks)
        if found is None:
            raise Invalid(
                "write a rank (3) or a range of ranks (4-10)",
                "请写一个名次（如 3）或名次范围（如 4-10）",
            )
        first, last = int(found[1]), int(found[2] or found[1])
        if last < first:
            raise Invalid(
                f"the range {ranks} ends before it starts", f"名次范围 {ranks} 的结束早于开始"
            )
        return ranks

    @property
    def first(self) -> int:
        return int(self.ranks.split("-")[0])

    @property
    def last(self) -> int:
        return int(self.ranks.split("-")[-1])


class PrizeRanking(StrEnum):
    TOWNSHIP = "township"  # ranks across every eligible village of the township
    REGION = "region"  # ranks within the village's region (片区): each region has its prizes


class BasePlusRankParams(_Params):
    base_fen: int = Field(
        ge=0, le=10**12, description="普惠性达标奖补: every village that passed the gates"
    )
    prizes: list[Prize] = Field(
        default_factory=list, max_length=50, description="叠加性争先奖补 by rank, on top"
    )
    prize_ranking: PrizeRanking = Field(
        default=PrizeRanking.TOWNSHIP,
        description="township: ranks across the township; region: ranks within each region",
    )

    @field_validator("prizes")
    @classmethod
    def _apart(cls, prizes: list[Prize]) -> list[Prize]:
        spans = sorted((p.first, p.last) for p in prizes)
        for (_, last), (first, _) in itertools.pairwise(spans):
            if first <= last:
                raise Invalid("prize ranks overlap", "各奖项的名次范围有重叠")
        return prizes


class BasePlusRank:
    """普惠性达标奖补 + 叠加性争先奖补: a base award for every village that passed the gates,
    and a prize by rank on top (ties already broken in the scheme's order)."""

    label: ClassVar[str] = "达标奖补加争先奖补"
    params_model: ClassVar[type[BaseModel]] = BasePlusRankParams

    def indicator_refs(self, params: BasePlusRankParams) -> list[tuple[str, str]]:
        return []

    def region_refs(self, params: BasePlusRankParams) -> list[tuple[str, str | None]]:
        return [("prize_ranking", None)] if params.prize_ranking is PrizeRanking.REGION else []

    def allocate(
        self, params: BasePlusRankParams, candidates: Sequence[Candidate], pool_fen: int
    ) -> list[Allocation]:
        by_region = params.prize_ranking is PrizeRanking.REGION
        places: dict[str | None, int] = {}
        out = []
        for candidate in candidates:
            key = candidate.region if by_region else None
            place = places[key] = places.get(key, 0) + 1
            where = f"{candidate.region}片区内" if by_region else ""
            notes = [f"普惠性达标奖补 {yuan(params.base_fen)} 元"]
            prize = next((p for p in params.prizes if p.first <= place <= p.last), None)
            if prize is not None:
                notes.append(f"{where}第 {place} 名，叠加性争先奖补 {yuan(prize.award_fen)} 元")
            elif params.prizes:
                notes.append(f"{where}第 {place} 名，未获争先奖补")
            amount = params.base_fen + (prize.award_fen if prize is not None else 0)
            out.append(Allocation(candidate.village_id, Decimal(amount), notes=tuple(notes)))
        return out
