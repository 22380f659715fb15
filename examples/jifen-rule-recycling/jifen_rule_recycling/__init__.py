"""A jifen rule type from outside jifen: points for recyclables handed in by weight.

Villages such as 罗源县南洋村 (福州) let residents bring cardboard, plastic bottles and
scrap metal to the points supermarket and weigh them for points (兑换纸皮 / 废品回收换积分).
One charter rule covers one material, so the occurrence's quantity is its weight in kg.
Like every rule type it is pure: no I/O, no clock.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from jifen.charters.rules.protocol import Occurrence, Score, format_quantity

__all__ = ["Recyclables", "RecyclablesParams", "Rounding"]

POINTS_PER_KG_MAX = 1_000


class Rounding(StrEnum):
    DOWN = "down"  # toward zero: half a point is not a point
    HALF_UP = "half_up"


_ROUNDING = {
    Rounding.DOWN: (ROUND_DOWN, "舍去小数"),
    Rounding.HALF_UP: (ROUND_HALF_UP, "四舍五入"),
}


class RecyclablesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    material: str = Field(min_length=1, max_length=20, examples=["纸皮", "塑料瓶", "废旧金属"])
    points_per_kg: Decimal = Field(gt=0, le=POINTS_PER_KG_MAX, max_digits=10, decimal_places=4)
    minimum_kg: Decimal = Field(
        default=Decimal(0),
        ge=0,
        max_digits=10,
        decimal_places=4,
        description="a lighter hand-in earns nothing (the scale is not worth reading for less)",
    )
    rounding: Rounding = Rounding.DOWN


class Recyclables:
    """Points per kg of one material, from a minimum weight up."""

    label: ClassVar[str] = "废品回收换积分"
    params_model: ClassVar[type[BaseModel]] = RecyclablesParams

    def evaluate(self, params: RecyclablesParams, occurrence: Occurrence) -> Score:
        weight_kg = occurrence.quantity
        if weight_kg < 0:
            raise ValueError(f"a weight cannot be negative: {weight_kg}")
        weighed = f"回收{params.material} {format_quantity(weight_kg)} 公斤"
        if weight_kg < params.minimum_kg:
            return Score(0, f"{weighed}，未满 {format_quantity(params.minimum_kg)} 公斤，不计分")
        exact = weight_kg * params.points_per_kg
        mode, rounding_label = _ROUNDING[params.rounding]
        points = int(exact.to_integral_value(rounding=mode))
        rate = format_quantity(params.points_per_kg)
        text = f"{weighed} × {rate} 分/公斤 = {format_quantity(exact)} 分"
        if exact != points:
            text += f"，{rounding_label}计 {points} 分"
        return Score(points, text)

    def is_deduction(self, params: RecyclablesParams) -> bool:
        return False
