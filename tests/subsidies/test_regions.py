"""Regions (片区) and base-plus-rank awards by hand, without a database: a gate relative to
the region's average that pushes a village out, places per region that push a village
down a tier, a base award with rank prizes and a tie, prizes ranked within each region,
and the refusals that name their fields, regions and villages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from jifen.subsidies import policy
from jifen.subsidies.plugins import VillageFacts
from jifen.subsidies.scheme import SchemeInvalid, compile_scheme


def facts(
    code: str, region: str | None, *, taking_part: int, scores: tuple[int, int] = (0, 0)
) -> VillageFacts:
    """A village of 100 households, `taking_part` of them taking part."""
    return VillageFacts(
        village_id=f"id-{code}",
        code=code,
        name=f"{code}村",
        households_total=100,
        households_participating=taking_part,
        person_days=Decimal(0),
        labor_value_fen=0,
        money_fen=0,
        in_kind_fen=0,
        planned_investment_fen=0,
        scores_count=scores[0],
        scores_sum=scores[1],
        meetings=0,
        meeting_households=0,
        region=region,
    )


PARTICIPATION = {
    "id": "participation",
    "type": "household_share",
    "weight": 100,
    "normalise": {"method": "ratio", "target": "1"},
}


def scheme(award: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "title": "片区方案",
        "effective_on": "2026-01-01",
        "pool_fen": 10_000_000,
        "indicators": [PARTICIPATION],
        "award": award,
        **more,
    }


def by_code(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in result["villages"]}


BASE_ONLY = {"method": "base_plus_rank", "params": {"base_fen": 100_000}}


def test_a_gate_relative_to_the_region_average_pushes_a_village_out() -> None:
    document = scheme(
        BASE_ONLY,
        gates=[
            {"indicator": "participation", "relative": "region_average"},
            {"indicator": "participation", "min": "0.25"},
        ],
    )
    villages = [
        # 东片: a 50%, b 41%: the region's average is (0.50 + 0.41) / 2 = 0.455. b is under
        # it: out, though its 41% is above d's 35%, which passes in its own region.
        facts("a", "东片", taking_part=50),
        facts("b", "东片", taking_part=41),
        # 西片: c 30%, d 35%: average (0.30 + 0.35) / 2 = 0.325. c is under it, d above.
        facts("c", "西片", taking_part=30),
        facts("d", "西片", taking_part=35),
        # 北片: e alone is its region's average (passes the relative gate: at or above),
        # but its 10% is under the absolute 25%.
        facts("e", "北片", taking_part=10),
    ]
    result = by_code(policy.settle(compile_scheme(document), villages))
    # a and d pass both gates and get the base award of 1,000 yuan each.
    assert {c: (v["eligible"], v["award_fen"]) for c, v in result.items()} == {
        "a": (True, 100_000),
        "b": (False, 0),
        "c": (False, 0),
        "d": (True, 100_000),
        "e": (False, 0),
    }
    assert result["b"]["gate_failures"] == ["参与率 41.00% 低于所在片区（东片）平均 45.50%"]
    assert result["c"]["gate_failures"] == ["参与率 30.00% 低于所在片区（西片）平均 32.50%"]
    assert result["e"]["gate_failures"] == ["参与率 10.00% 低于资格门槛 25.00%"]
    assert result["b"]["explanation"] == (
        "b村：参与率 41.00% 低于所在片区（东片）平均 45.50%，不具备奖补资格，奖补 0.00 元。"
    )
    assert result["a"]["region"] == "东片"
    assert result["a"]["facts"]["region"] == "东片"


TIERS_BY_REGION = {
    "method": "tiers",
    "params": {
        "tiers": [
            {
                "id": "advanced",
                "label": "先进村",
                "min_score": 60,
                "award_fen": 50_000,
                "region_quotas": {"东片": 1, "西片": 1},
            },
            {"id": "effective", "label": "成效村", "min_score": 0, "award_fen": 20_000},
        ]
    },
}


def test_places_per_region_push_a_village_down_a_tier() -> None:
    villages = [
        # Score = participation × 100. Ranked: a 90, b 80, c 70, d 50.
        facts("a", "东片", taking_part=90),
        facts("b", "东片", taking_part=80),
        facts("c", "西片", taking_part=70),
        facts("d", "西片", taking_part=50),
    ]
    result = by_code(policy.settle(compile_scheme(scheme(TIERS_BY_REGION)), villages))
    # a takes 东片's one 先进村 place (500 yuan); b, second overall, finds it taken and
    # falls to 成效村 (200 yuan); c, below b, takes 西片's place; d's 50 is under 60.
    assert {c: (v["rank"], v["tier_id"], v["award_fen"]) for c, v in result.items()} == {
        "a": (1, "advanced", 50_000),
        "b": (2, "effective", 20_000),
        "c": (3, "advanced", 50_000),
        "d": (4, "effective", 20_000),
    }
    assert result["b"]["notes"] == ["东片先进村名额 1 个已满"]
    assert "评为成效村（东片先进村名额 1 个已满）" in result["b"]["explanation"]
    # 500 + 200 + 500 + 200 = 1,400 yuan.
    assert sum(v["award_fen"] for v in result.values()) == 140_000


def test_places_per_region_with_a_township_quota_need_room_in_both() -> None:
    award = {
        "method": "tiers",
        "params": {
            "tiers": [
                {**TIERS_BY_REGION["params"]["tiers"][0], "quota": 1},
                TIERS_BY_REGION["params"]["tiers"][1],
            ]
        },
    }
    villages = [facts("a", "东片", taking_part=90), facts("c", "西片", taking_part=70)]
    result = by_code(policy.settle(compile_scheme(scheme(award)), villages))
    # 西片 has a place left, but the township's one place is a's.
    assert result["c"]["tier_id"] == "effective"
    assert result["c"]["notes"] == ["先进村名额 1 个已满"]


def test_regions_the_township_does_not_bear_out_are_refused() -> None:
    east, west = facts("a", "东片", taking_part=90), facts("c", "西片", taking_part=70)
    unknown = {
        "method": "tiers",
        "params": {
            "tiers": [
                {**TIERS_BY_REGION["params"]["tiers"][0], "region_quotas": {"东片": 1, "南片": 2}},
                TIERS_BY_REGION["params"]["tiers"][1],
            ]
        },
    }
    with pytest.raises(policy.RegionUnknown) as caught:
        policy.settle(compile_scheme(scheme(unknown)), [east, west])
    # 南片 has no village; 西片 is not listed (a region without places is written 0).
    assert caught.value.problems == [
        {
            "field": "award.params.tiers[0].region_quotas.南片",
            "region": "南片",
            "message": "no village of the township is in region '南片'",
            "message_zh": "片区“南片”下没有本乡镇的村",
        },
        {
            "field": "award.params.tiers[0].region_quotas",
            "region": "西片",
            "message": "region '西片' is not listed (write 0 for no places)",
            "message_zh": "未列出片区“西片”",
        },
    ]
    assert caught.value.known == ["东片", "西片"]
    # A village with no region: it has neither places nor an average.
    for document in (
        scheme(TIERS_BY_REGION),
        scheme(BASE_ONLY, gates=[{"indicator": "participation", "relative": "region_average"}]),
    ):
        with pytest.raises(policy.RegionMissing) as missing:
            policy.settle(compile_scheme(document), [east, west, facts("x", None, taking_part=10)])
        assert missing.value.villages == [{"village_id": "id-x", "code": "x", "name": "x村"}]
    # Without anything regional, villages without a region settle as before.
    plain = policy.settle(compile_scheme(scheme(BASE_ONLY)), [facts("x", None, taking_part=10)])
    assert plain["villages"][0]["award_fen"] == 100_000
    assert "region" not in plain["villages"][0]["facts"]


PRIZES = {
    "method": "base_plus_rank",
    "params": {
        "base_fen": 200_000,
        "prizes": [{"ranks": "1", "award_fen": 300_000}, {"ranks": "2", "award_fen": 100_000}],
    },
}
TWO_INDICATORS = [
    {**PARTICIPATION, "weight": 50},
    {
        "id": "satisfaction",
        "type": "satisfaction",
        "weight": 50,
        "normalise": {"method": "ratio", "target": "100"},
    },
]


def test_a_base_award_and_rank_prizes_with_a_tie() -> None:
    document = scheme(
        PRIZES,
        indicators=TWO_INDICATORS,
        gates=[{"indicator": "participation", "min": "0.3"}],
        tie_break=["participation"],
    )
    villages = [
        # a: 100% → 50; mean score 100 → 50: 100. First: 2,000 + 3,000 yuan.
        facts("a", "东片", taking_part=100, scores=(1, 100)),
        # b: 80% → 40; 80 → 40: 80.   c: 90% → 45; 70 → 35: 80. A tie, broken by the
        # scheme's tie-break, participation: c (90%) second with the 1,000-yuan prize, b
        # third with the base award only.
        facts("b", "东片", taking_part=80, scores=(1, 80)),
        facts("c", "西片", taking_part=90, scores=(1, 70)),
        # d: 60% → 30; 60 → 30: 60. Fourth: base only.
        facts("d", "西片", taking_part=60, scores=(1, 60)),
        # e: 20% is under the 30% gate: neither base nor prize.
        facts("e", "西片", taking_part=20, scores=(1, 100)),
    ]
    result = by_code(policy.settle(compile_scheme(document), villages))
    assert {c: (v["score"], v["rank"], v["award_fen"]) for c, v in result.items()} == {
        "a": ("100.000000", 1, 500_000),
        "b": ("80.000000", 3, 200_000),
        "c": ("80.000000", 2, 300_000),
        "d": ("60.000000", 4, 200_000),
        "e": (None, None, 0),
    }
    assert result["c"]["notes"] == [
        "普惠性达标奖补 2,000.00 元",
        "第 2 名，叠加性争先奖补 1,000.00 元",
    ]
    assert result["b"]["notes"] == ["普惠性达标奖补 2,000.00 元", "第 3 名，未获争先奖补"]
    assert result["c"]["explanation"].endswith(
        "综合得分 80.00，排名第 2（普惠性达标奖补 2,000.00 元；第 2 名，叠加性争先奖补 "
        "1,000.00 元）；奖补 3,000.00 元。"
    )
    # 5,000 + 2,000 + 3,000 + 2,000 = 12,000 yuan of the 100,000 pool.
    assert sum(v["award_fen"] for v in result.values()) == 1_200_000


def test_prizes_ranked_within_each_region() -> None:
    award = {**PRIZES, "params": {**PRIZES["params"], "prize_ranking": "region"}}
    villages = [
        # Overall order a 100, c 80 (tie-break), b 80, d 60; within 东片: a 1st, b 2nd;
        # within 西片: c 1st, d 2nd. Each first 2,000 + 3,000, each second 2,000 + 1,000.
        facts("a", "东片", taking_part=100, scores=(1, 100)),
        facts("b", "东片", taking_part=80, scores=(1, 80)),
        facts("c", "西片", taking_part=90, scores=(1, 70)),
        facts("d", "西片", taking_part=60, scores=(1, 60)),
    ]
    document = scheme(award, indicators=TWO_INDICATORS, tie_break=["participation"])
    result = by_code(policy.settle(compile_scheme(document), villages))
    assert {c: v["award_fen"] for c, v in result.items()} == {
        "a": 500_000,
        "b": 300_000,
        "c": 500_000,
        "d": 300_000,
    }
    assert result["d"]["notes"][1] == "西片片区内第 2 名，叠加性争先奖补 1,000.00 元"
    with pytest.raises(policy.RegionMissing):
        policy.settle(compile_scheme(document), [facts("x", None, taking_part=50)])


def test_awards_over_the_pool_are_refused() -> None:
    with pytest.raises(policy.PoolExceeded):
        policy.settle(
            compile_scheme({**scheme(PRIZES), "pool_fen": 400_000}),
            [facts("a", None, taking_part=90)],  # 2,000 + 3,000 yuan > 4,000
        )


def _prizes(*prizes: dict[str, Any]) -> dict[str, Any]:
    return {"method": "base_plus_rank", "params": {"base_fen": 1, "prizes": list(prizes)}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gates": [{"indicator": "participation"}]}, "gates[0]"),
        (
            {"gates": [{"indicator": "participation", "min": "0.3", "relative": "region_average"}]},
            "gates[0]",
        ),
        (
            {"gates": [{"indicator": "participation", "relative": "county_average"}]},
            "gates[0].relative",
        ),
        (
            {"gates": [{"indicator": "nope", "relative": "region_average"}]},
            "gates[0].indicator",
        ),
        (
            {
                "award": {
                    "method": "tiers",
                    "params": {
                        "tiers": [
                            {
                                "id": "a",
                                "label": "先进村",
                                "min_score": 0,
                                "award_fen": 1,
                                "gates": [
                                    {"indicator": "participation", "relative": "region_average"}
                                ],
                            }
                        ]
                    },
                }
            },
            "award.params.tiers[0].gates",
        ),
        (
            {
                "award": {
                    "method": "tiers",
                    "params": {
                        "tiers": [
                            {
                                "id": "a",
                                "label": "先进村",
                                "min_score": 0,
                                "award_fen": 1,
                                "region_quotas": {"东片": -1},
                            }
                        ]
                    },
                }
            },
            "award.params.tiers[0].region_quotas",
        ),
        (
            {
                "award": {
                    "method": "tiers",
                    "params": {
                        "tiers": [
                            {
                                "id": "a",
                                "label": "先进村",
                                "min_score": 0,
                                "award_fen": 1,
                                "region_quotas": {},
                            }
                        ]
                    },
                }
            },
            "award.params.tiers[0].region_quotas",
        ),
        ({"award": _prizes({"ranks": "3-1", "award_fen": 1})}, "award.params.prizes[0].ranks"),
        ({"award": _prizes({"ranks": "first", "award_fen": 1})}, "award.params.prizes[0].ranks"),
        (
            {"award": _prizes({"ranks": "1-3", "award_fen": 1}, {"ranks": "3", "award_fen": 1})},
            "award.params.prizes",
        ),
        (
            {"award": {"method": "base_plus_rank", "params": {"base_fen": 1, "bonus": 2}}},
            "award.params.bonus",
        ),
        (
            {"award": {"method": "base_plus_rank", "params": {"prizes": []}}},
            "award.params.base_fen",
        ),
        (
            {
                "award": {
                    "method": "base_plus_rank",
                    "params": {"base_fen": 1, "prize_ranking": "x"},
                }
            },
            "award.params.prize_ranking",
        ),
    ],
)
def test_scheme_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemeInvalid) as caught:
        compile_scheme({**scheme(BASE_ONLY), **change})
    assert field in [e.field for e in caught.value.errors], caught.value.errors
