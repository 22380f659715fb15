"""The settlement formula by hand, without a database: tiers with a quota and a gate that
push villages down, an ineligible village, a cap that bites, a pool split with a rounding
remainder, and scheme documents whose errors name their fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from jifen.subsidies import policy
from jifen.subsidies.plugins import VillageFacts
from jifen.subsidies.scheme import SchemeInvalid, compile_scheme


def facts(
    code: str,
    *,
    households: int = 100,
    taking_part: int,
    scores: tuple[int, int] = (0, 0),
    investment_fen: int = 0,
) -> VillageFacts:
    return VillageFacts(
        village_id=f"id-{code}",
        code=code,
        name=f"{code}村",
        households_total=households,
        households_participating=taking_part,
        person_days=Decimal(0),
        labor_value_fen=0,
        money_fen=0,
        in_kind_fen=0,
        planned_investment_fen=investment_fen,
        scores_count=scores[0],
        scores_sum=scores[1],
        meetings=0,
        meeting_households=0,
    )


TIERS: dict[str, Any] = {
    "title": "中子镇 2026 年以奖代补方案",
    "effective_on": "2026-01-01",
    "pool_fen": 20_000_000,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 60,
            "normalise": {"method": "ratio", "target": "0.8"},
        },
        {
            "id": "satisfaction",
            "type": "satisfaction",
            "weight": 40,
            "normalise": {"method": "ratio", "target": "100"},
        },
    ],
    "gates": [{"indicator": "participation", "min": "0.3"}],
    "award": {
        "method": "tiers",
        "params": {
            "tiers": [
                {
                    "id": "advanced",
                    "label": "先进村",
                    "min_score": 80,
                    "award_fen": 5_000_000,
                    "quota": 1,
                    "gates": [{"indicator": "satisfaction", "min": "85"}],
                },
                {"id": "effective", "label": "成效村", "min_score": 60, "award_fen": 3_000_000},
                {"id": "general", "label": "一般村", "min_score": 0, "award_fen": 0},
            ]
        },
    },
    "caps": {"share_of_investment": "0.5"},
    "rounding": {"unit": "fen"},
}


def by_code(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in result["villages"]}


def test_tiers_with_a_quota_a_gate_a_cap_and_an_ineligible_village() -> None:
    villages = [
        # A: 80/100 take part → 0.8/0.8 = 1 × 60 = 60; mean score 90 → 0.9 × 40 = 36; 96.
        facts("a", taking_part=80, scores=(10, 900), investment_fen=20_000_000),
        # B: 100/100 → 1.25, ceiling 1 → 60; mean 84 → 33.6; 93.6. Second, but its 84 is
        # under 先进村's gate of 85: it falls to 成效村.
        facts("b", taking_part=100, scores=(5, 420), investment_fen=10_000_000),
        # C: 70/100 → 0.875 × 60 = 52.5; mean 90 → 36; 88.5. Third; it passes the gate,
        # but 先进村's one place is A's: 成效村 (3万). Half its 5万 investment is 2.5万:
        # the cap bites.
        facts("c", taking_part=70, scores=(4, 360), investment_fen=5_000_000),
        # D: 25/100 take part, under the 30% gate: no score, no award.
        facts("d", taking_part=25, scores=(10, 1000), investment_fen=10_000_000),
        # E: 40/100 → 0.5 × 60 = 30; mean 70 → 28; 58 < 60: 一般村, award 0.
        facts("e", taking_part=40, scores=(2, 140), investment_fen=10_000_000),
    ]
    result = by_code(policy.settle(compile_scheme(TIERS), villages))
    assert {
        c: (v["score"], v["rank"], v["tier_id"], v["award_fen"]) for c, v in result.items()
    } == {
        "a": ("96.000000", 1, "advanced", 5_000_000),
        "b": ("93.600000", 2, "effective", 3_000_000),
        "c": ("88.500000", 3, "effective", 2_500_000),
        "d": (None, None, None, 0),
        "e": ("58.000000", 4, "general", 0),
    }
    assert result["b"]["notes"] == ["未达先进村门槛（群众满意度 84 分 低于 85 分）"]
    assert result["c"]["notes"] == ["先进村名额 1 个已满"]
    assert result["c"]["capped"] and result["c"]["cap_fen"] == 2_500_000
    assert not result["b"]["capped"]
    assert result["d"]["gate_failures"] == ["参与率 25.00% 低于资格门槛 30.00%"]
    assert result["c"]["explanation"] == (
        "c村：参与率 70.00%，标准化 0.875，权重 60，得分 52.50；群众满意度 90 分，标准化 0.9，"
        "权重 40，得分 36.00；综合得分 88.50，排名第 3，评为成效村（先进村名额 1 个已满）；"
        "原应奖补 30,000.00 元，受项目计划投资 50,000.00 元的 50.00% 上限 25,000.00 元限制；"
        "奖补 25,000.00 元。"
    )
    assert "不具备奖补资格" in result["d"]["explanation"]


def test_a_cap_on_a_share_of_what_residents_put_in_during_the_period() -> None:
    scheme = {
        **TIERS,
        "caps": {"share_of_investment": "0.5", "investment_basis": "period_inputs"},
    }
    a = facts("a", taking_part=80, scores=(10, 900), investment_fen=20_000_000)
    b = facts("b", taking_part=100, scores=(5, 420), investment_fen=10_000_000)
    # A (先进村, 5万): residents put in 3,000 yuan of labor, 2,000 in money and 1,000 in
    # kind: 6,000 yuan, half of it 3,000 yuan caps the 50,000 (the planned 20万 does not).
    a = VillageFacts(
        **{**a.__dict__, "labor_value_fen": 300_000, "money_fen": 200_000, "in_kind_fen": 100_000}
    )
    # B (成效村, 3万): 70,000 yuan in money, half is 35,000 > 30,000: not capped.
    b = VillageFacts(**{**b.__dict__, "money_fen": 7_000_000})
    result = by_code(policy.settle(compile_scheme(scheme), [a, b]))
    assert result["a"]["award_fen"] == 300_000 and result["a"]["capped"]
    assert result["b"]["award_fen"] == 3_000_000 and not result["b"]["capped"]
    assert "受本期群众投入 6,000.00 元的 50.00% 上限 3,000.00 元限制" in result["a"]["explanation"]


POOL: dict[str, Any] = {
    "title": "竞争性差额奖补",
    "effective_on": "2026-01-01",
    "pool_fen": 1_000_000,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 100,
            "normalise": {"method": "ratio", "target": "1"},
        }
    ],
    "gates": [{"indicator": "participation", "min": "0.15"}],
    "award": {"method": "pool_split"},
    "rounding": {"unit": "yuan", "remainder": "largest_remainder"},
}


def test_a_pool_split_to_the_yuan_gives_the_remainder_to_the_first_in_tie_order() -> None:
    # Three villages with the same score share 10,000 yuan: 3,333.33… each, 3,333 to the
    # yuan, and the one yuan left goes to the first in the tie order (village code).
    villages = [facts(code, taking_part=30) for code in ("y", "x", "z")] + [
        facts("w", taking_part=10)
    ]
    result = policy.settle(compile_scheme(POOL), villages)
    awards = {v["code"]: v["award_fen"] for v in result["villages"]}
    assert awards == {"w": 0, "x": 333_400, "y": 333_300, "z": 333_300}
    assert result["total_fen"] == 1_000_000 and result["unallocated_fen"] == 0


def test_a_retained_remainder_stays_in_the_pool_and_the_parts_still_add_up() -> None:
    scheme = {**POOL, "rounding": {"unit": "yuan", "remainder": "retained"}}
    villages = [facts(code, taking_part=30) for code in ("x", "y", "z")]
    result = policy.settle(compile_scheme(scheme), villages)
    assert [v["award_fen"] for v in result["villages"]] == [333_300, 333_300, 333_300]
    assert result["total_fen"] + result["unallocated_fen"] == 1_000_000
    assert result["unallocated_fen"] == 100


def test_a_pool_split_in_proportion_with_min_max_and_rank() -> None:
    scheme = {
        **POOL,
        "pool_fen": 900_000,
        "indicators": [
            {
                "id": "participation",
                "type": "household_share",
                "weight": 50,
                "normalise": {"method": "min_max"},
            },
            {"id": "meetings", "type": "meetings", "weight": 50, "normalise": {"method": "rank"}},
        ],
        "gates": [],
        "rounding": {"unit": "fen"},
    }
    villages = [facts("x", taking_part=60), facts("y", taking_part=40), facts("z", taking_part=20)]
    villages[0] = VillageFacts(**{**villages[0].__dict__, "meetings": 1})
    villages[1] = VillageFacts(**{**villages[1].__dict__, "meetings": 3})
    # participation min–max: x 1, y 0.5, z 0; meetings rank: y 1, x 0.5, z 0 (ties none).
    # Scores: x 50 + 25 = 75, y 25 + 50 = 75, z 0: the pool halves between x and y.
    result = policy.settle(compile_scheme(scheme), villages)
    assert {v["code"]: (v["score"], v["award_fen"]) for v in result["villages"]} == {
        "x": ("75.000000", 450_000),
        "y": ("75.000000", 450_000),
        "z": ("0.000000", 0),
    }


def test_awards_over_the_pool_are_refused() -> None:
    with pytest.raises(policy.PoolExceeded):
        policy.settle(
            compile_scheme({**TIERS, "pool_fen": 1_000_000, "caps": {}}),
            [facts("a", taking_part=80, scores=(1, 90))],
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"indicators": [{**TIERS["indicators"][0], "weight": 50}, TIERS["indicators"][1]]},
            "indicators",
        ),
        (
            {
                "indicators": [
                    {**TIERS["indicators"][0], "normalise": {"method": "ratio"}},
                    TIERS["indicators"][1],
                ]
            },
            "indicators[0].normalise.target",
        ),
        (
            {"indicators": [{**TIERS["indicators"][0], "type": "nope"}, TIERS["indicators"][1]]},
            "indicators[0].type",
        ),
        ({"gates": [{"indicator": "nope", "min": "1"}]}, "gates[0].indicator"),
        ({"tie_break": ["nope"]}, "tie_break[0]"),
        ({"award": {"method": "lottery"}}, "award.method"),
        (
            {
                "award": {
                    "method": "tiers",
                    "params": {
                        "tiers": [
                            {
                                "id": "a",
                                "label": "先进村",
                                "min_score": 80,
                                "award_fen": 1,
                                "gates": [{"indicator": "nope", "min": "1"}],
                            }
                        ]
                    },
                }
            },
            "award.params.tiers[0].gates[0].indicator",
        ),
        (
            {
                "award": {
                    "method": "tiers",
                    "params": {
                        "tiers": [{"id": "a", "label": "先进村", "min_score": 180, "award_fen": 1}]
                    },
                }
            },
            "award.params.tiers[0].min_score",
        ),
        ({"caps": {"share_of_investment": "1.5"}}, "caps.share_of_investment"),
        ({"rounding": {"unit": "jiao"}}, "rounding.unit"),
        ({"caps": {"investment_basis": "period_inputs"}}, "caps"),
        (
            {"caps": {"share_of_investment": "0.5", "investment_basis": "budget"}},
            "caps.investment_basis",
        ),
    ],
)
def test_scheme_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemeInvalid) as caught:
        compile_scheme({**TIERS, **change})
    assert field in [e.field for e in caught.value.errors], caught.value.errors
