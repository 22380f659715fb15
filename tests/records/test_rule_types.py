"""Each built-in rule type, scored end to end: the record, its entry, the balances.

Worked by hand under 清泉村's charter (points held per household, so 张三's points go
to household A).
"""

from __future__ import annotations

from jifen.ledger.policy import AccountKind
from tests.records.charters import CERTIFICATE, INSPECTION
from tests.records.world import EVENT, World


def test_fixed_points_for_five_occurrences(world: World) -> None:
    # 公共区域清扫 3 分/次, five clean-ups this month in one record
    row = world.record("public_cleaning", world.a1, quantity=5, occurrence="2026-06")

    assert row.status == "approved"
    assert (row.scored_points, row.awarded_points, row.points, row.merit_points) == (15, 15, 15, 0)
    assert row.quantity == "5"
    assert row.explanation == "公共区域清扫 5 次 × 3 分/次 = 15 分"
    assert row.cap is None
    assert world.household_points(world.household_a) == 15
    view = world.entry(row.entry_id)
    assert view.status == "posted"
    assert view.entry.code == "sanitation_award"
    assert view.entry.memo == "公共区域清扫 5 次 × 3 分/次 = 15 分"
    assert view.entry.details["quantity"] == "5"


def test_fixed_points_for_one_occurrence(world: World) -> None:
    row = world.record("public_cleaning", world.a1)

    assert row.points == 3
    assert row.explanation == "公共区域清扫 3 分"


def test_points_per_unit_state_their_rounding(world: World) -> None:
    # 义务劳动 1.5 分/小时, rounded half up
    exact = world.record("voluntary_labor", world.a1, quantity=2, occurrence="上午")
    rounded = world.record("voluntary_labor", world.a2, quantity="2.5", occurrence="上午")

    assert exact.points == 3
    assert exact.explanation == "义务劳动 2 小时 × 1.5 分/小时 = 3 分"
    # 2.5 × 1.5 = 3.75, half up: 4
    assert rounded.scored_points == 4
    assert rounded.points == 4
    assert rounded.quantity == "2.5"
    assert rounded.explanation == "义务劳动 2.5 小时 × 1.5 分/小时 = 3.75 分，四舍五入计 4 分"
    assert world.household_points(world.household_a) == 7
    assert world.entry(rounded.entry_id).entry.code == "labor_award"


def test_per_unit_rounds_half_up_at_the_half(world: World) -> None:
    # 3 × 1.5 = 4.5, half up: 5 (half even would give 4)
    row = world.record("voluntary_labor", world.a1, quantity=3)

    assert row.points == 5
    assert row.explanation == "义务劳动 3 小时 × 1.5 分/小时 = 4.5 分，四舍五入计 5 分"


def test_tiered_marginal_scores_each_band_at_its_rate(world: World) -> None:
    # 回收纸皮: 1 分/公斤 up to 10 kg, 2 分/公斤 above
    heavy = world.record("paper_recycling", world.a1, quantity="12.5", occurrence="第一批")
    light = world.record("paper_recycling", world.a1, quantity="7.3", occurrence="第二批")

    assert heavy.points == 15  # 10 × 1 + 2.5 × 2
    assert heavy.explanation == "回收纸皮 12.5 公斤：10 公斤 × 1 分 + 2.5 公斤 × 2 分 = 15 分"
    assert light.points == 7  # 7.3, half up
    assert light.explanation == "回收纸皮 7.3 公斤：7.3 公斤 × 1 分 = 7.3 分，四舍五入计 7 分"
    assert world.household_points(world.household_a) == 22
    assert world.entry(heavy.entry_id).entry.code == "waste_sorting_award"


def test_tiered_step_gives_the_points_of_the_highest_tier_reached(world: World) -> None:
    # 植树 ≥ 5 棵 5 分, ≥ 20 棵 25 分
    eight = world.record("tree_planting", world.a1, quantity=8)
    twenty = world.record("tree_planting", world.b1, quantity=20)

    assert eight.points == 5
    assert eight.explanation == "植树 8 件，达到 ≥5 件 档，计 5 分"
    assert twenty.points == 25
    assert twenty.explanation == "植树 20 件，达到 ≥20 件 档，计 25 分"
    assert world.household_points(world.household_a) == 5
    assert world.household_points(world.household_b) == 25


def test_tiered_step_below_the_first_tier_books_nothing(world: World) -> None:
    row = world.record("tree_planting", world.a1, quantity=3)

    assert row.status == "approved"
    assert (row.scored_points, row.points, row.entry_id) == (0, 0, None)
    assert row.explanation == "植树 3 件，未达 5 件，不计分"
    assert world.household_points(world.household_a) == 0


def test_deduction_per_finding(world: World) -> None:
    world.record("public_cleaning", world.a1, quantity=4, occurrence="2026-06")  # 12 分
    row = world.record(
        "clutter", None, household=world.household_a, evidence=INSPECTION, occurrence="6 月巡查"
    )

    assert row.status == "approved"
    assert (row.scored_points, row.awarded_points, row.points) == (-5, -5, -5)
    assert row.member_id is None
    assert row.explanation == "宅前屋后乱堆物 扣 5 分"
    assert world.household_points(world.household_a) == 7
    view = world.entry(row.entry_id)
    assert view.entry.code == "sanitation_deduction"
    assert view.entry.occurred_at == EVENT
    assert sorted(p.amount for p in view.entry.postings) == [-5, 5]


def test_deduction_takes_at_most_its_maximum(world: World) -> None:
    # 本项最多扣 25 分 (盛新村: the item is worth 25, 每发现一处少得 5 分)
    world.record("public_cleaning", world.a1, quantity=10, occurrence="2026-06")  # 30 分
    row = world.record(
        "clutter", None, household=world.household_a, quantity=6, evidence=INSPECTION
    )

    assert row.scored_points == -25
    assert row.points == -25
    assert row.explanation == "宅前屋后乱堆物 6 处 × 扣 5 分 = 扣 30 分，本项最多扣 25 分"
    assert world.household_points(world.household_a) == 5


def test_a_merit_only_rule_moves_only_the_merit_score(world: World) -> None:
    row = world.record("university_admission", world.a2, evidence=CERTIFICATE)

    assert (row.points, row.merit_points) == (0, 10)
    assert row.explanation == "子女考取高校 10 分"
    assert world.household_points(world.household_a) == 0
    assert world.household_merit(world.household_a) == 10
    view = world.entry(row.entry_id)
    assert view.entry.code == "honor_award"
    merit = world.account_id(AccountKind.HOUSEHOLD, world.household_a, "merit")
    merit_issuance = world.account_id(AccountKind.ISSUANCE, None, "merit")
    assert {(p.account_id, p.amount) for p in view.entry.postings} == {
        (merit, 10),
        (merit_issuance, -10),
    }


def test_a_round_quantity_is_stored_as_written(world: World) -> None:
    row = world.record("tree_planting", world.a1, quantity=20)

    assert row.quantity == "20"
    assert world.entry(row.entry_id).entry.details["quantity"] == "20"
