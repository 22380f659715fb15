"""The built-in rule types: fixed points per occurrence, points per unit, tiered by
quantity, and deduction. Registered as `jifen.rules` entry points in pyproject.toml."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.charters.rules.protocol import Occurrence, QuantityRefused, Score, format_quantity
from jifen.kit.schemas import Invalid

POINTS_PER_EVENT_MAX = 100_000


class Unit(StrEnum):
    TIME = "time"
    HOUR = "hour"
    PERSON_DAY = "person_day"
    KG = "kg"
    M2 = "m2"
    ITEM = "item"


UNIT_LABELS = {
    Unit.TIME: "次",
    Unit.HOUR: "小时",
    Unit.PERSON_DAY: "工日",
    Unit.KG: "公斤",
    Unit.M2: "平方米",
    Unit.ITEM: "件",
}


class Rounding(StrEnum):
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"  # toward zero
    FLOOR = "floor"
    CEILING = "ceiling"


_ROUNDING = {
    Rounding.HALF_UP: (ROUND_HALF_UP, "四舍五入"),
    Rounding.HALF_EVEN: (ROUND_HALF_EVEN, "银行家舍入"),
    Rounding.DOWN: (ROUND_DOWN, "舍去小数"),
    Rounding.FLOOR: (ROUND_FLOOR, "向下取整"),
    Rounding.CEILING: (ROUND_CEILING, "向上取整"),
}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _whole(quantity: Decimal, what: str, what_zh: str) -> int:
    if quantity != quantity.to_integral_value():
        raise QuantityRefused(
            f"{what} counts whole occurrences, not {quantity}",
            message_zh=f"{what_zh}按整次计，数量不能是 {format_quantity(quantity)}",
        )
    return int(quantity)


def _round(value: Decimal, rounding: Rounding) -> tuple[int, str]:
    mode, label = _ROUNDING[rounding]
    return int(value.to_integral_value(rounding=mode)), label


def _product(label: str, quantity: Decimal, unit: Unit, rate: Decimal, rounding: Rounding) -> Score:
    exact = quantity * rate
    points, rounding_label = _round(exact, rounding)
    text = (
        f"{label} {format_quantity(quantity)} {UNIT_LABELS[unit]} × "
        f"{format_quantity(rate)} 分/{UNIT_LABELS[unit]} = {format_quantity(exact)} 分"
    )
    if exact != points:
        text += f"，{rounding_label}计 {points} 分"
    return Score(points, text)


class FixedParams(_Params):
    points: int = Field(ge=1, le=POINTS_PER_EVENT_MAX, description="points per occurrence")


class Fixed:
    """Fixed points per occurrence: 参加村民大会 +2/次."""

    label: ClassVar[str] = "每次固定分值"
    params_model: ClassVar[type[BaseModel]] = FixedParams

    def evaluate(self, params: FixedParams, occurrence: Occurrence) -> Score:
        times = _whole(occurrence.quantity, "a fixed rule", "固定分值规则")
        points = times * params.points
        if times == 1:
            return Score(points, f"{occurrence.label} {points} 分")
        return Score(points, f"{occurrence.label} {times} 次 × {params.points} 分/次 = {points} 分")

    def is_deduction(self, params: FixedParams) -> bool:
        return False


class PerUnitParams(_Params):
    unit: Unit
    points_per_unit: Decimal = Field(gt=0, le=POINTS_PER_EVENT_MAX, max_digits=12, decimal_places=4)
    rounding: Rounding = Field(description="how a fractional result becomes whole points")


class PerUnit:
    """Points per unit (hour, person-day, kg, m²), with the rounding stated."""

    label: ClassVar[str] = "按数量计分"
    params_model: ClassVar[type[BaseModel]] = PerUnitParams

    def evaluate(self, params: PerUnitParams, occurrence: Occurrence) -> Score:
        return _product(
            occurrence.label,
            occurrence.quantity,
            params.unit,
            params.points_per_unit,
            params.rounding,
        )

    def is_deduction(self, params: PerUnitParams) -> bool:
        return False


class TierMode(StrEnum):
    STEP = "step"  # the whole quantity earns the points of the highest tier reached
    MARGINAL = "marginal"  # each tier's rate applies to the part of the quantity within it


class Tier(_Params):
    min_quantity: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    points: Decimal = Field(
        ge=0,
        le=POINTS_PER_EVENT_MAX,
        max_digits=12,
        decimal_places=4,
        description="step: points for reaching the tier; marginal: points per unit within it",
    )


class TieredParams(_Params):
    unit: Unit
    mode: TierMode
    tiers: list[Tier] = Field(min_length=1, max_length=20)
    rounding: Rounding = Rounding.HALF_UP

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[Tier]) -> list[Tier]:
        bounds = [tier.min_quantity for tier in tiers]
        if bounds != sorted(set(bounds)):
            raise Invalid(
                "tiers must have strictly ascending min_quantity",
                "各档的 min_quantity 须严格递增",
            )
        return tiers


class Tiered:
    """Tiered by quantity: 回收纸皮 0–10 公斤 1 分/公斤, 10 公斤以上 2 分/公斤 (marginal), or
    植树 ≥ 5 棵 得 5 分, ≥ 20 棵 得 25 分 (step)."""

    label: ClassVar[str] = "分档计分"
    params_model: ClassVar[type[BaseModel]] = TieredParams

    def evaluate(self, params: TieredParams, occurrence: Occurrence) -> Score:
        quantity = occurrence.quantity
        unit = UNIT_LABELS[params.unit]
        amount = f"{occurrence.label} {format_quantity(quantity)} {unit}"
        if params.mode is TierMode.STEP:
            reached = [tier for tier in params.tiers if quantity >= tier.min_quantity]
            if not reached:
                first = params.tiers[0].min_quantity
                return Score(0, f"{amount}，未达 {format_quantity(first)} {unit}，不计分")
            tier = reached[-1]
            points, rounding_label = _round(tier.points, params.rounding)
            return Score(
                points,
                f"{amount}，达到 ≥{format_quantity(tier.min_quantity)} {unit} 档，计 {points} 分",
            )
        parts: list[str] = []
        exact = Decimal(0)
        bounds = [tier.min_quantity for tier in params.tiers[1:]] + [None]
        for tier, upper in zip(params.tiers, bounds, strict=True):
            if quantity <= tier.min_quantity:
                break
            top = quantity if upper is None else min(quantity, upper)
            within = top - tier.min_quantity
            exact += within * tier.points
            parts.append(f"{format_quantity(within)} {unit} × {format_quantity(tier.points)} 分")
        points, rounding_label = _round(exact, params.rounding)
        text = f"{amount}：" + " + ".join(parts or ["0"]) + f" = {format_quantity(exact)} 分"
        if exact != points:
            text += f"，{rounding_label}计 {points} 分"
        return Score(points, text)

    def is_deduction(self, params: TieredParams) -> bool:
        return False


class DeductionParams(_Params):
    points: int = Field(ge=1, le=POINTS_PER_EVENT_MAX, description="points taken per finding")
    max_points: int | None = Field(
        default=None,
        ge=1,
        le=POINTS_PER_EVENT_MAX,
        description="most one record may take, e.g. an item worth 25 (扣完为止)",
    )

    @model_validator(mode="after")
    def _max_covers_one(self) -> DeductionParams:
        if self.max_points is not None and self.max_points < self.points:
            raise Invalid("max_points must be at least points", "max_points 不能小于 points")
        return self


class Deduction:
    """A deduction per finding: 乱堆乱放 每处扣 5 分, optionally 扣完为止 at max_points."""

    label: ClassVar[str] = "扣分"
    params_model: ClassVar[type[BaseModel]] = DeductionParams

    def evaluate(self, params: DeductionParams, occurrence: Occurrence) -> Score:
        findings = _whole(occurrence.quantity, "a deduction", "扣分规则")
        points = findings * params.points
        if findings == 1:
            text = f"{occurrence.label} 扣 {points} 分"
        else:
            text = f"{occurrence.label} {findings} 处 × 扣 {params.points} 分 = 扣 {points} 分"
        if params.max_points is not None and points > params.max_points:
            text += f"，本项最多扣 {params.max_points} 分"
            points = params.max_points
        return Score(-points, text)

    def is_deduction(self, params: DeductionParams) -> bool:
        return True
