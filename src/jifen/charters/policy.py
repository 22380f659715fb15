"""Pure charter decisions: cap windows, cutting an award to what a cap leaves, and what a
deduction takes when the balance is short. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from jifen.charters.document import Cap, CapPeriod, DeductionFloor, Holder

PERIOD_LABELS = {
    CapPeriod.DAY: "当日",
    CapPeriod.WEEK: "本周",
    CapPeriod.MONTH: "本月",
    CapPeriod.QUARTER: "本季度",
    CapPeriod.YEAR: "本年度",
    CapPeriod.EVER: "累计",
}
HOLDER_LABELS = {Holder.MEMBER: "每人", Holder.HOUSEHOLD: "每户"}
# Names of the usual categories, for explanations; a charter's own category shows its code.
CATEGORY_LABELS = {
    "labor": "劳动",
    "sanitation": "环境卫生",
    "waste_sorting": "垃圾分类",
    "green_space": "认领绿地",
    "board": "红黑榜",
    "conduct": "文明行为",
    "participation": "参与",
    "contribution": "贡献",
    "study": "学习培训",
    "family": "家风",
}


def window(period: CapPeriod, on: date) -> tuple[date, date] | None:
    """The cap window [start, end) containing `on`; None for a lifetime cap."""
    if period is CapPeriod.DAY:
        return on, on + timedelta(days=1)
    if period is CapPeriod.WEEK:
        start = on - timedelta(days=on.weekday())
        return start, start + timedelta(days=7)
    if period is CapPeriod.MONTH:
        start = on.replace(day=1)
        return start, _add_months(start, 1)
    if period is CapPeriod.QUARTER:
        start = on.replace(month=(on.month - 1) // 3 * 3 + 1, day=1)
        return start, _add_months(start, 3)
    if period is CapPeriod.YEAR:
        return on.replace(month=1, day=1), on.replace(year=on.year + 1, month=1, day=1)
    return None


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.month - 1 + months
    return first_of_month.replace(year=first_of_month.year + index // 12, month=index % 12 + 1)


# What an occurrence cap leaves of an award while occurrences remain: all of it.
_UNLIMITED = 10**12


@dataclass(frozen=True)
class CapUse:
    """A cap that applies to an award, and how much of it the holder already used: the
    points and the number of records that scored, in the cap's window."""

    cap: Cap
    scope: str  # "rule" or "category:<category>"
    used_points: int
    used_occurrences: int = 0

    @property
    def remaining(self) -> int:
        """The points the cap still lets through (all, or none, for an occurrence cap)."""
        if self.cap.max_points is not None:
            return max(0, self.cap.max_points - self.used_points)
        assert self.cap.max_occurrences is not None
        return 0 if self.used_occurrences >= self.cap.max_occurrences else _UNLIMITED

    def describe(self) -> str:
        category = self.scope.split(":", 1)[-1]
        what = "本项" if self.scope == "rule" else f"{CATEGORY_LABELS.get(category, category)}类"
        where = f"{what}{PERIOD_LABELS[self.cap.period]}{HOLDER_LABELS[self.cap.per]}"
        if self.cap.max_points is None:
            return f"{where}限 {self.cap.max_occurrences} 次，已记 {self.used_occurrences} 次"
        return f"{where}上限 {self.cap.max_points} 分，已得 {self.used_points} 分"


@dataclass(frozen=True)
class CapDecision:
    points: int
    applied: CapUse | None
    explanation: str  # empty when no cap cut the award


def apply_caps(points: int, uses: Sequence[CapUse]) -> CapDecision:
    """Cut an award to what the tightest cap leaves (possibly zero)."""
    if points <= 0 or not uses:
        return CapDecision(points, None, "")
    tightest = min(uses, key=lambda use: use.remaining)
    if tightest.remaining >= points:
        return CapDecision(points, None, "")
    allowed = tightest.remaining
    tail = f"本次计 {allowed} 分" if allowed else "本次不再计分"
    return CapDecision(allowed, tightest, f"{tightest.describe()}，{tail}")


@dataclass(frozen=True)
class DeductionDecision:
    points: int  # what is taken (positive)
    explanation: str


def deduct(points: int, available: int, floor: DeductionFloor) -> DeductionDecision:
    """What a deduction of `points` takes from a balance of `available`."""
    if floor is DeductionFloor.NEGATIVE or points <= max(available, 0):
        return DeductionDecision(points, "")
    taken = max(available, 0)
    return DeductionDecision(taken, f"余额仅 {available} 分，按村规扣至 0 分为止，实扣 {taken} 分")
