"""The built-in rule types, in tables: exact points and the explanation a clerk reads aloud."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from jifen.charters.rules import registry
from jifen.charters.rules.builtin import (
    Deduction,
    DeductionParams,
    Fixed,
    FixedParams,
    PerUnit,
    PerUnitParams,
    Rounding,
    Tiered,
    TieredParams,
    Unit,
)
from jifen.charters.rules.protocol import Occurrence, RuleType, Score, format_quantity

ON = date(2025, 3, 14)


def occurrence(label: str, quantity: str) -> Occurrence:
    return Occurrence(label, Decimal(quantity), ON)


# --- format_quantity -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        ("2", "2"),
        ("2.00", "2"),
        ("2.50", "2.5"),
        ("0.125", "0.125"),
        ("0.0", "0"),
        ("100", "100"),  # normalize() would give 1E+2
        ("1200.0", "1200"),
    ],
)
def test_format_quantity(quantity: str, text: str) -> None:
    assert format_quantity(Decimal(quantity)) == text


# --- fixed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "quantity", "expected"),
    [
        (2, "1", Score(2, "参加村民大会 2 分")),
        (2, "5", Score(10, "参加村民大会 5 次 × 2 分/次 = 10 分")),  # five meetings at once
        (2, "3.0", Score(6, "参加村民大会 3 次 × 2 分/次 = 6 分")),  # 3.0 is a whole number
        (2, "0", Score(0, "参加村民大会 0 次 × 2 分/次 = 0 分")),
        (15, "1", Score(15, "参加村民大会 15 分")),
    ],
)
def test_fixed(points: int, quantity: str, expected: Score) -> None:
    params = FixedParams(points=points)
    assert Fixed().evaluate(params, occurrence("参加村民大会", quantity)) == expected
    assert Fixed().is_deduction(params) is False


@pytest.mark.parametrize("quantity", ["1.5", "0.5", "2.01"])
def test_fixed_refuses_a_fraction_of_an_occurrence(quantity: str) -> None:
    with pytest.raises(ValueError, match="whole occurrences"):
        Fixed().evaluate(FixedParams(points=2), occurrence("参加村民大会", quantity))


# --- per unit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "rate", "rounding", "quantity", "expected"),
    [
        # 2.5 h × 3 = 7.5 under each rounding mode
        ("hour", "3", "half_up", "2.5",
         Score(8, "义务劳动 2.5 小时 × 3 分/小时 = 7.5 分，四舍五入计 8 分")),
        ("hour", "3", "half_even", "2.5",
         Score(8, "义务劳动 2.5 小时 × 3 分/小时 = 7.5 分，银行家舍入计 8 分")),
        ("hour", "3", "down", "2.5",
         Score(7, "义务劳动 2.5 小时 × 3 分/小时 = 7.5 分，舍去小数计 7 分")),
        ("hour", "3", "floor", "2.5",
         Score(7, "义务劳动 2.5 小时 × 3 分/小时 = 7.5 分，向下取整计 7 分")),
        ("hour", "3", "ceiling", "2.5",
         Score(8, "义务劳动 2.5 小时 × 3 分/小时 = 7.5 分，向上取整计 8 分")),
        # 1.5 h × 3 = 4.5: half_even goes to the even neighbour
        ("hour", "3", "half_even", "1.5",
         Score(4, "义务劳动 1.5 小时 × 3 分/小时 = 4.5 分，银行家舍入计 4 分")),
        ("hour", "3", "half_up", "1.5",
         Score(5, "义务劳动 1.5 小时 × 3 分/小时 = 4.5 分，四舍五入计 5 分")),
        # a whole result states no rounding
        ("hour", "3", "half_up", "2",
         Score(6, "义务劳动 2 小时 × 3 分/小时 = 6 分")),
        ("hour", "3", "down", "2.00",
         Score(6, "义务劳动 2 小时 × 3 分/小时 = 6 分")),
        # below one half: half_up and ceiling part ways
        ("hour", "3", "half_up", "0.1",
         Score(0, "义务劳动 0.1 小时 × 3 分/小时 = 0.3 分，四舍五入计 0 分")),
        ("hour", "3", "ceiling", "0.1",
         Score(1, "义务劳动 0.1 小时 × 3 分/小时 = 0.3 分，向上取整计 1 分")),
        # 投工投劳: half a person-day
        ("person_day", "10", "half_up", "0.5",
         Score(5, "义务劳动 0.5 工日 × 10 分/工日 = 5 分")),
        # a fractional rate; 10 × 0.25 = 2.50 is shown as 2.5
        ("m2", "0.25", "ceiling", "10",
         Score(3, "义务劳动 10 平方米 × 0.25 分/平方米 = 2.5 分，向上取整计 3 分")),
        ("kg", "0.5", "down", "7",
         Score(3, "义务劳动 7 公斤 × 0.5 分/公斤 = 3.5 分，舍去小数计 3 分")),
        ("item", "2", "half_up", "100",
         Score(200, "义务劳动 100 件 × 2 分/件 = 200 分")),
    ],
)  # fmt: skip
def test_per_unit(unit: str, rate: str, rounding: str, quantity: str, expected: Score) -> None:
    params = PerUnitParams(unit=Unit(unit), points_per_unit=Decimal(rate), rounding=rounding)
    assert PerUnit().evaluate(params, occurrence("义务劳动", quantity)) == expected
    assert PerUnit().is_deduction(params) is False


@pytest.mark.parametrize(
    ("rounding", "points"),
    [
        (Rounding.HALF_UP, 8),
        (Rounding.HALF_EVEN, 8),
        (Rounding.DOWN, 7),
        (Rounding.FLOOR, 7),
        (Rounding.CEILING, 8),
    ],
)
def test_per_unit_params_parse_from_a_document(rounding: Rounding, points: int) -> None:
    # what a JSON document carries: strings and numbers, validated by params_model
    params = PerUnit.params_model.model_validate(
        {"unit": "hour", "points_per_unit": "3", "rounding": rounding.value}
    )
    assert PerUnit().evaluate(params, occurrence("巡河", "2.5")).points == points


# --- tiered ----------------------------------------------------------------------------

TREES = TieredParams.model_validate(
    {
        "unit": "item",
        "mode": "step",
        "tiers": [{"min_quantity": 5, "points": 5}, {"min_quantity": 20, "points": 25}],
    }
)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", Score(0, "植树 0 件，未达 5 件，不计分")),
        ("4", Score(0, "植树 4 件，未达 5 件，不计分")),
        ("4.99", Score(0, "植树 4.99 件，未达 5 件，不计分")),
        ("5", Score(5, "植树 5 件，达到 ≥5 件 档，计 5 分")),
        ("19", Score(5, "植树 19 件，达到 ≥5 件 档，计 5 分")),
        ("20", Score(25, "植树 20 件，达到 ≥20 件 档，计 25 分")),
        ("100", Score(25, "植树 100 件，达到 ≥20 件 档，计 25 分")),
    ],
)
def test_tiered_step(quantity: str, expected: Score) -> None:
    assert Tiered().evaluate(TREES, occurrence("植树", quantity)) == expected


@pytest.mark.parametrize(
    ("rounding", "points"),
    [("half_up", 3), ("half_even", 2), ("down", 2), ("ceiling", 3)],
)
def test_tiered_step_rounds_fractional_tier_points(rounding: str, points: int) -> None:
    params = TieredParams.model_validate(
        {
            "unit": "kg",
            "mode": "step",
            "rounding": rounding,
            "tiers": [{"min_quantity": 10, "points": "2.5"}],
        }
    )
    assert Tiered().evaluate(params, occurrence("回收纸皮", "12")) == Score(
        points, f"回收纸皮 12 公斤，达到 ≥10 公斤 档，计 {points} 分"
    )


PAPER = TieredParams.model_validate(
    {
        "unit": "kg",
        "mode": "marginal",
        "tiers": [{"min_quantity": 0, "points": 1}, {"min_quantity": 10, "points": 2}],
    }
)
PAPER_THREE = TieredParams.model_validate(
    {
        "unit": "kg",
        "mode": "marginal",
        "tiers": [
            {"min_quantity": 0, "points": "0.5"},
            {"min_quantity": 10, "points": 1},
            {"min_quantity": 20, "points": 3},
        ],
    }
)
PAPER_FROM_FIVE = TieredParams.model_validate(
    {"unit": "kg", "mode": "marginal", "tiers": [{"min_quantity": 5, "points": 1}]}
)


@pytest.mark.parametrize(
    ("params", "quantity", "expected"),
    [
        (PAPER, "0", Score(0, "回收纸皮 0 公斤：0 = 0 分")),
        (PAPER, "6", Score(6, "回收纸皮 6 公斤：6 公斤 × 1 分 = 6 分")),
        (PAPER, "10", Score(10, "回收纸皮 10 公斤：10 公斤 × 1 分 = 10 分")),
        (PAPER, "15",
         Score(20, "回收纸皮 15 公斤：10 公斤 × 1 分 + 5 公斤 × 2 分 = 20 分")),
        (PAPER, "10.5",
         Score(11, "回收纸皮 10.5 公斤：10 公斤 × 1 分 + 0.5 公斤 × 2 分 = 11 分")),
        (PAPER_THREE, "12.5",
         Score(8, "回收纸皮 12.5 公斤：10 公斤 × 0.5 分 + 2.5 公斤 × 1 分 = 7.5 分，"
                  "四舍五入计 8 分")),
        (PAPER_THREE, "25",
         Score(30, "回收纸皮 25 公斤：10 公斤 × 0.5 分 + 10 公斤 × 1 分 + 5 公斤 × 3 分 = 30 分")),
        (PAPER_THREE, "3",
         Score(2, "回收纸皮 3 公斤：3 公斤 × 0.5 分 = 1.5 分，四舍五入计 2 分")),
        # the first tier starts at 5 kg: the first 5 kg earn nothing
        (PAPER_FROM_FIVE, "3", Score(0, "回收纸皮 3 公斤：0 = 0 分")),
        (PAPER_FROM_FIVE, "8", Score(3, "回收纸皮 8 公斤：3 公斤 × 1 分 = 3 分")),
    ],
)  # fmt: skip
def test_tiered_marginal(params: TieredParams, quantity: str, expected: Score) -> None:
    assert Tiered().evaluate(params, occurrence("回收纸皮", quantity)) == expected
    assert Tiered().is_deduction(params) is False


# --- deduction -------------------------------------------------------------------------

SHENGXIN = DeductionParams(points=5, max_points=25)  # 盛新村: item worth 25, 5 per finding
NO_MAX = DeductionParams(points=5)


@pytest.mark.parametrize(
    ("params", "quantity", "expected"),
    [
        (SHENGXIN, "1", Score(-5, "宅前屋后乱堆物 扣 5 分")),
        (SHENGXIN, "3", Score(-15, "宅前屋后乱堆物 3 处 × 扣 5 分 = 扣 15 分")),
        (SHENGXIN, "5", Score(-25, "宅前屋后乱堆物 5 处 × 扣 5 分 = 扣 25 分")),
        # 扣完为止: the item is worth 25, so a sixth and seventh finding take nothing more
        (SHENGXIN, "7",
         Score(-25, "宅前屋后乱堆物 7 处 × 扣 5 分 = 扣 35 分，本项最多扣 25 分")),
        (NO_MAX, "7", Score(-35, "宅前屋后乱堆物 7 处 × 扣 5 分 = 扣 35 分")),
        (NO_MAX, "0", Score(0, "宅前屋后乱堆物 0 处 × 扣 5 分 = 扣 0 分")),
        (DeductionParams(points=3, max_points=3), "2",
         Score(-3, "宅前屋后乱堆物 2 处 × 扣 3 分 = 扣 6 分，本项最多扣 3 分")),
    ],
)  # fmt: skip
def test_deduction(params: DeductionParams, quantity: str, expected: Score) -> None:
    assert Deduction().evaluate(params, occurrence("宅前屋后乱堆物", quantity)) == expected
    assert Deduction().is_deduction(params) is True


@pytest.mark.parametrize("quantity", ["1.5", "0.5"])
def test_deduction_refuses_a_fraction_of_a_finding(quantity: str) -> None:
    with pytest.raises(ValueError, match="whole occurrences"):
        Deduction().evaluate(SHENGXIN, occurrence("宅前屋后乱堆物", quantity))


# --- parameters ------------------------------------------------------------------------

HOURLY = {"unit": "hour", "points_per_unit": "3", "rounding": "half_up"}
STEP = {"unit": "item", "mode": "step", "tiers": [{"min_quantity": 5, "points": 5}]}


@pytest.mark.parametrize(
    ("type_name", "params"),
    [
        ("fixed", {"points": 0}),
        ("fixed", {"points": -2}),
        ("fixed", {"points": 100_001}),
        ("fixed", {"points": 2.5}),
        ("fixed", {}),
        ("fixed", {"points": 2, "per": "household"}),  # extra="forbid"
        ("per_unit", {**HOURLY, "points_per_unit": "0"}),
        ("per_unit", {**HOURLY, "points_per_unit": "-1"}),
        ("per_unit", {**HOURLY, "points_per_unit": "0.00001"}),  # more than 4 decimal places
        ("per_unit", {**HOURLY, "unit": "jin"}),
        ("per_unit", {**HOURLY, "rounding": "round"}),
        ("per_unit", {"unit": "hour", "points_per_unit": "3"}),  # rounding must be stated
        ("per_unit", {**HOURLY, "cap": 10}),
        ("tiered", {**STEP, "tiers": []}),
        ("tiered", {**STEP, "mode": "cumulative"}),
        ("tiered", {**STEP, "tiers": [{"min_quantity": 20, "points": 25},
                                      {"min_quantity": 5, "points": 5}]}),  # not ascending
        ("tiered", {**STEP, "tiers": [{"min_quantity": 5, "points": 5},
                                      {"min_quantity": 5, "points": 8}]}),  # not strictly
        ("tiered", {**STEP, "tiers": [{"min_quantity": -1, "points": 5}]}),
        ("tiered", {**STEP, "tiers": [{"min_quantity": 5, "points": -5}]}),
        ("tiered", {**STEP, "tiers": [{"min_quantity": 5, "points": 5, "max": 9}]}),
        ("tiered", {**STEP, "tiers": [{"min_quantity": i, "points": 1} for i in range(21)]}),
        ("deduction", {"points": 0}),
        ("deduction", {"points": 5, "max_points": 4}),  # the item is worth less than one finding
        ("deduction", {"points": 5, "max_points": 0}),
        ("deduction", {"points": 5, "floor": "zero"}),
    ],
)  # fmt: skip
def test_invalid_params_are_refused(type_name: str, params: dict[str, Any]) -> None:
    rule_type = registry.rule_types()[type_name]
    with pytest.raises(ValidationError):
        rule_type.params_model.model_validate(params)


@pytest.mark.parametrize(
    ("type_name", "params"),
    [
        ("fixed", {"points": 1}),
        ("fixed", {"points": 100_000}),
        ("per_unit", {**HOURLY, "points_per_unit": "0.0001"}),
        ("tiered", STEP),
        ("deduction", {"points": 5, "max_points": 5}),
        ("deduction", {"points": 5, "max_points": None}),
    ],
)
def test_boundary_params_are_accepted(type_name: str, params: dict[str, Any]) -> None:
    registry.rule_types()[type_name].params_model.model_validate(params)


# --- registry --------------------------------------------------------------------------


def test_registry_holds_the_built_in_types() -> None:
    types = registry.rule_types()
    assert {"fixed", "per_unit", "tiered", "deduction"} <= set(types)
    for name, cls in [
        ("fixed", Fixed),
        ("per_unit", PerUnit),
        ("tiered", Tiered),
        ("deduction", Deduction),
    ]:
        assert isinstance(types[name], cls)
        assert isinstance(types[name], RuleType)
        assert registry.find(name) is types[name]
    assert registry.find("no_such_type") is None
