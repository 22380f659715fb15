"""Cap windows, cutting awards to caps, and what a deduction takes: pure, in tables."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jifen.charters.document import Cap, CapPeriod, DeductionFloor, Holder
from jifen.charters.policy import CapDecision, CapUse, DeductionDecision, apply_caps, deduct, window

D = date

# --- windows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "on", "expected"),
    [
        (CapPeriod.DAY, D(2025, 3, 12), (D(2025, 3, 12), D(2025, 3, 13))),
        (CapPeriod.DAY, D(2025, 12, 31), (D(2025, 12, 31), D(2026, 1, 1))),
        (CapPeriod.DAY, D(2028, 2, 28), (D(2028, 2, 28), D(2028, 2, 29))),
        # weeks start on Monday: 2025-03-10 is a Monday, 2025-03-16 a Sunday
        (CapPeriod.WEEK, D(2025, 3, 10), (D(2025, 3, 10), D(2025, 3, 17))),
        (CapPeriod.WEEK, D(2025, 3, 12), (D(2025, 3, 10), D(2025, 3, 17))),
        (CapPeriod.WEEK, D(2025, 3, 16), (D(2025, 3, 10), D(2025, 3, 17))),
        (CapPeriod.WEEK, D(2025, 3, 17), (D(2025, 3, 17), D(2025, 3, 24))),
        (CapPeriod.WEEK, D(2025, 12, 31), (D(2025, 12, 29), D(2026, 1, 5))),
        (CapPeriod.MONTH, D(2025, 1, 1), (D(2025, 1, 1), D(2025, 2, 1))),
        (CapPeriod.MONTH, D(2025, 1, 31), (D(2025, 1, 1), D(2025, 2, 1))),
        (CapPeriod.MONTH, D(2025, 2, 28), (D(2025, 2, 1), D(2025, 3, 1))),
        (CapPeriod.MONTH, D(2028, 2, 29), (D(2028, 2, 1), D(2028, 3, 1))),
        (CapPeriod.MONTH, D(2025, 12, 15), (D(2025, 12, 1), D(2026, 1, 1))),
        (CapPeriod.QUARTER, D(2025, 1, 1), (D(2025, 1, 1), D(2025, 4, 1))),
        (CapPeriod.QUARTER, D(2025, 3, 31), (D(2025, 1, 1), D(2025, 4, 1))),
        (CapPeriod.QUARTER, D(2025, 4, 1), (D(2025, 4, 1), D(2025, 7, 1))),
        (CapPeriod.QUARTER, D(2025, 6, 30), (D(2025, 4, 1), D(2025, 7, 1))),
        (CapPeriod.QUARTER, D(2025, 7, 1), (D(2025, 7, 1), D(2025, 10, 1))),
        (CapPeriod.QUARTER, D(2025, 9, 30), (D(2025, 7, 1), D(2025, 10, 1))),
        (CapPeriod.QUARTER, D(2025, 10, 1), (D(2025, 10, 1), D(2026, 1, 1))),
        (CapPeriod.QUARTER, D(2025, 12, 31), (D(2025, 10, 1), D(2026, 1, 1))),
        (CapPeriod.YEAR, D(2025, 1, 1), (D(2025, 1, 1), D(2026, 1, 1))),
        (CapPeriod.YEAR, D(2028, 2, 29), (D(2028, 1, 1), D(2029, 1, 1))),
        (CapPeriod.YEAR, D(2025, 12, 31), (D(2025, 1, 1), D(2026, 1, 1))),
        (CapPeriod.EVER, D(2025, 6, 1), None),
    ],
)
def test_window(period: CapPeriod, on: date, expected: tuple[date, date] | None) -> None:
    assert window(period, on) == expected


@settings(database=None)
@given(
    period=st.sampled_from([p for p in CapPeriod if p is not CapPeriod.EVER]),
    on=st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)),
)
def test_window_contains_its_day_and_its_neighbours_share_it(period: CapPeriod, on: date) -> None:
    found = window(period, on)
    assert found is not None
    start, end = found
    assert start <= on < end
    assert window(period, start) == found
    following = window(period, end)
    assert following is not None
    assert following[0] == end


# --- caps ------------------------------------------------------------------------------


def use(
    max_points: int,
    used_points: int,
    *,
    period: CapPeriod = CapPeriod.MONTH,
    per: Holder = Holder.HOUSEHOLD,
    scope: str = "rule",
) -> CapUse:
    return CapUse(Cap(per=per, period=period, max_points=max_points), scope, used_points)


CONTRIBUTION_YEAR = use(10, 8, period=CapPeriod.YEAR, scope="category:contribution")
VOLUNTEER_MONTH = use(20, 5)
RETURN_EVER = use(30, 0, period=CapPeriod.EVER, per=Holder.MEMBER)


@pytest.mark.parametrize(
    ("points", "uses", "expected"),
    [
        # 清泉村 贡献积分 ≤ 10 a year: 8 already, 5 more asked, 2 given
        (5, [CONTRIBUTION_YEAR],
         CapDecision(2, CONTRIBUTION_YEAR,
                     "贡献类本年度每户上限 10 分，已得 8 分，本次计 2 分")),
        (10, [use(10, 10, per=Holder.MEMBER)],
         CapDecision(0, use(10, 10, per=Holder.MEMBER),
                     "本项本月每人上限 10 分，已得 10 分，本次不再计分")),
        # the cap was lowered after points were earned: more used than the cap allows
        (3, [use(10, 12, period=CapPeriod.WEEK)],
         CapDecision(0, use(10, 12, period=CapPeriod.WEEK),
                     "本项本周每户上限 10 分，已得 12 分，本次不再计分")),
        # 回村创业 +30 只计一次
        (30, [use(30, 30, period=CapPeriod.EVER, per=Holder.MEMBER)],
         CapDecision(0, use(30, 30, period=CapPeriod.EVER, per=Holder.MEMBER),
                     "本项累计每人上限 30 分，已得 30 分，本次不再计分")),
        (4, [use(5, 2, period=CapPeriod.DAY)],
         CapDecision(3, use(5, 2, period=CapPeriod.DAY),
                     "本项当日每户上限 5 分，已得 2 分，本次计 3 分")),
        (9, [use(40, 35, period=CapPeriod.QUARTER, scope="category:environment")],
         CapDecision(5, use(40, 35, period=CapPeriod.QUARTER, scope="category:environment"),
                     "environment类本季度每户上限 40 分，已得 35 分，本次计 5 分")),
        # the tightest of several caps decides, whatever its order
        (10, [VOLUNTEER_MONTH, CONTRIBUTION_YEAR, RETURN_EVER],
         CapDecision(2, CONTRIBUTION_YEAR,
                     "贡献类本年度每户上限 10 分，已得 8 分，本次计 2 分")),
        (10, [RETURN_EVER, VOLUNTEER_MONTH, CONTRIBUTION_YEAR],
         CapDecision(2, CONTRIBUTION_YEAR,
                     "贡献类本年度每户上限 10 分，已得 8 分，本次计 2 分")),
        # enough left: nothing cut
        (10, [VOLUNTEER_MONTH, RETURN_EVER], CapDecision(10, None, "")),
        (15, [VOLUNTEER_MONTH], CapDecision(15, None, "")),  # exactly what remains
        (2, [CONTRIBUTION_YEAR], CapDecision(2, None, "")),
        (7, [], CapDecision(7, None, "")),
        # only awards are capped
        (0, [use(10, 10)], CapDecision(0, None, "")),
        (-5, [use(10, 10)], CapDecision(-5, None, "")),
        (-25, [CONTRIBUTION_YEAR], CapDecision(-25, None, "")),
    ],
)  # fmt: skip
def test_apply_caps(points: int, uses: list[CapUse], expected: CapDecision) -> None:
    assert apply_caps(points, uses) == expected


def times(
    max_occurrences: int,
    used: int,
    *,
    period: CapPeriod = CapPeriod.MONTH,
    per: Holder = Holder.MEMBER,
) -> CapUse:
    cap = Cap(per=per, period=period, max_occurrences=max_occurrences)
    return CapUse(cap, "rule", used_points=used * 5, used_occurrences=used)


@pytest.mark.parametrize(
    ("points", "uses", "expected"),
    [
        # 每月每人限两次: the first and second count in full, the third scores nothing
        (5, [times(2, 0)], CapDecision(5, None, "")),
        (5, [times(2, 1)], CapDecision(5, None, "")),
        (5, [times(2, 2)],
         CapDecision(0, times(2, 2), "本项本月每人限 2 次，已记 2 次，本次不再计分")),
        # 只计一次 (ever), per household
        (30, [times(1, 1, period=CapPeriod.EVER, per=Holder.HOUSEHOLD)],
         CapDecision(0, times(1, 1, period=CapPeriod.EVER, per=Holder.HOUSEHOLD),
                     "本项累计每户限 1 次，已记 1 次，本次不再计分")),
        # beside a points cap, the tighter decides
        (8, [times(3, 1), use(10, 4, per=Holder.MEMBER)],
         CapDecision(6, use(10, 4, per=Holder.MEMBER),
                     "本项本月每人上限 10 分，已得 4 分，本次计 6 分")),
        (8, [use(10, 4, per=Holder.MEMBER), times(3, 3)],
         CapDecision(0, times(3, 3), "本项本月每人限 3 次，已记 3 次，本次不再计分")),
    ],
)  # fmt: skip
def test_occurrence_caps(points: int, uses: list[CapUse], expected: CapDecision) -> None:
    assert apply_caps(points, uses) == expected


@pytest.mark.parametrize(
    "limits",
    [{}, {"max_points": 10, "max_occurrences": 2}],
)
def test_a_cap_has_exactly_one_limit(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="exactly one of max_points and max_occurrences"):
        Cap(per=Holder.MEMBER, period=CapPeriod.MONTH, **limits)


@settings(database=None, max_examples=300)
@given(
    points=st.integers(min_value=-100, max_value=2_000),
    uses=st.lists(
        st.builds(
            use,
            max_points=st.integers(min_value=1, max_value=1_000),
            used_points=st.integers(min_value=0, max_value=1_500),
            period=st.sampled_from(list(CapPeriod)),
            per=st.sampled_from(list(Holder)),
            scope=st.sampled_from(["rule", "category:contribution"]),
        ),
        max_size=5,
    ),
)
def test_apply_caps_never_gives_more_than_any_cap_leaves(points: int, uses: list[CapUse]) -> None:
    decision = apply_caps(points, uses)
    if points <= 0:
        assert decision == CapDecision(points, None, "")
        return
    assert 0 <= decision.points <= points
    assert all(decision.points <= u.remaining for u in uses)
    assert decision.points == min([points, *(u.remaining for u in uses)])
    assert (decision.applied is None) == (decision.points == points)
    assert (decision.explanation == "") == (decision.applied is None)
    if decision.applied is not None:
        assert decision.applied in uses
        assert decision.applied.remaining == decision.points


# --- deductions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "available", "floor", "expected"),
    [
        (5, 100, DeductionFloor.ZERO, DeductionDecision(5, "")),
        (5, 5, DeductionFloor.ZERO, DeductionDecision(5, "")),
        # 扣至 0 分为止: take only what is there
        (25, 3, DeductionFloor.ZERO,
         DeductionDecision(3, "余额仅 3 分，按村规扣至 0 分为止，实扣 3 分")),
        (5, 4, DeductionFloor.ZERO,
         DeductionDecision(4, "余额仅 4 分，按村规扣至 0 分为止，实扣 4 分")),
        (5, 0, DeductionFloor.ZERO,
         DeductionDecision(0, "余额仅 0 分，按村规扣至 0 分为止，实扣 0 分")),
        (0, 0, DeductionFloor.ZERO, DeductionDecision(0, "")),
        # a negative floor takes it all; spending waits until it is earned back
        (25, 3, DeductionFloor.NEGATIVE, DeductionDecision(25, "")),
        (25, 0, DeductionFloor.NEGATIVE, DeductionDecision(25, "")),
        (25, -10, DeductionFloor.NEGATIVE, DeductionDecision(25, "")),
        (5, 100, DeductionFloor.NEGATIVE, DeductionDecision(5, "")),
    ],
)  # fmt: skip
def test_deduct(
    points: int, available: int, floor: DeductionFloor, expected: DeductionDecision
) -> None:
    assert deduct(points, available, floor) == expected


@pytest.mark.parametrize("available", [-1, -4, -300])
def test_deduct_from_a_negative_balance_under_a_zero_floor_takes_nothing(available: int) -> None:
    decision = deduct(5, available, DeductionFloor.ZERO)
    assert decision.points == 0
    assert decision.explanation.endswith("实扣 0 分")


@settings(database=None)
@given(
    points=st.integers(min_value=0, max_value=10_000),
    available=st.integers(min_value=-10_000, max_value=10_000),
)
def test_deduct_under_a_zero_floor_never_goes_below_zero(points: int, available: int) -> None:
    taken = deduct(points, available, DeductionFloor.ZERO).points
    assert 0 <= taken <= points
    assert taken == min(points, max(available, 0))
    assert deduct(points, available, DeductionFloor.NEGATIVE).points == points
