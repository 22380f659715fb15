"""Year-end clearing: the day the charter names, a grace into January, a balance below
zero kept or cleared, and the tick run twice or after a gap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from jifen.cli import app
from jifen.expiry.policy import CODE_CLEARED
from tests.expiry.world import World, at

END_OF_DAY = timedelta(hours=23, minutes=59, seconds=59)


def test_clearing_on_10_january_keeps_what_was_earned_since_1_january(world: World) -> None:
    """罗峪村: 兑换积分 1 月 10 日清零. Last year's points can be spent until 10 January;
    what was earned since 1 January is this year's and stays."""
    world.publish({"policy": "yearly_clear", "clear_on": "01-10"})
    li = world.member("李强")
    world.earn(li, 10, at("2025-12-20"))
    world.earn(li, 7, at("2026-01-05"))
    world.spend(li, 4, at("2026-01-08"))  # the oldest first: from December's 10

    world.tick(at("2026-01-10", 22))  # 10 January has not ended
    assert world.expiries(li) == []
    world.tick(at("2026-01-11", 0, 30))
    [cleared] = world.expiries(li)
    assert cleared.code == CODE_CLEARED
    assert cleared.amount == -6
    assert cleared.occurred_at == at("2026-01-10", 0) + END_OF_DAY
    assert cleared.details["cutoff"] == "2025-12-31"
    assert world.balance(li).posted == 7


@pytest.mark.parametrize(
    ("negative_balances", "after"), [("keep", -15), ("clear", 0)], ids=["keep", "clear"]
)
def test_a_balance_below_zero_at_the_clearing(
    world: World, negative_balances: str, after: int
) -> None:
    world.publish(
        {"policy": "yearly_clear", "clear_on": "12-31", "negative_balances": negative_balances}
    )
    zhao = world.member("赵磊")
    world.earn(zhao, 10, at("2025-03-01"))
    world.penalty(zhao, 25, at("2025-11-20"))  # 乱堆乱放: a debt of 15
    world.earn(zhao, 3, at("2026-01-02"))  # a new year's points, after the clearing

    world.tick(at("2026-01-03", 8))
    booked = world.expiries(zhao)
    assert world.balance(zhao).posted == after + 3
    if negative_balances == "keep":
        assert booked == []  # nothing to clear: the debt stays, and takes the new points
    else:
        [forgiven] = booked
        assert (forgiven.code, forgiven.amount) == (CODE_CLEARED, 15)
        assert forgiven.details["kind"] == "debt"
        assert forgiven.occurred_at == at("2025-12-31", 0) + END_OF_DAY
    world.tick(at("2026-01-04", 8))
    assert world.expiries(zhao) == booked


def test_the_tick_twice_books_nothing_twice(world: World) -> None:
    world.publish({"policy": "yearly_clear", "clear_on": "12-31"})
    li = world.member("李强")
    household = world.household_account("李家")
    world.earn(li, 12, at("2025-05-01"))
    world.earn(household, 30, at("2025-06-01"))

    first = world.tick(at("2026-01-01", 1))
    second = world.tick(at("2026-01-01", 1))
    third = world.tick(at("2026-02-01", 1))
    assert (first.entries, second.entries, third.entries) == (2, 0, 0)
    assert [e.amount for e in world.expiries(li)] == [-12]
    assert [e.amount for e in world.expiries(household)] == [-30]


def test_after_a_gap_the_tick_catches_up_year_by_year_in_order(world: World) -> None:
    world.publish({"policy": "yearly_clear", "clear_on": "12-31", "negative_balances": "clear"})
    li = world.member("李强")
    world.earn(li, 5, at("2024-03-01"))
    world.earn(li, 8, at("2025-03-01"))
    world.spend(li, 7, at("2025-04-01"))  # 5 of 2024's, 2 of 2025's
    world.penalty(li, 9, at("2025-06-01"))  # 6 of 2025's, and 3 of debt
    world.earn(li, 11, at("2026-03-01"))  # pays the 3 of debt first

    report = world.tick(at("2026-11-20", 8))  # nobody ran it for almost three years
    booked = world.expiries(li)
    assert [(e.details["kind"], e.details["on"], e.amount) for e in booked] == [
        ("debt", "2025-12-31", 3),  # 2024's points were spent; 2025 ended 3 below zero
    ]
    assert world.balance(li).posted == 11  # as if cleared on time: 2026's 11 are whole
    assert report.entries == 1

    world.earn(li, 4, at("2026-11-21"))
    world.tick(at("2027-01-01", 0, 1))
    later = world.expiries(li)[1:]
    assert [(e.details["kind"], e.details["on"], e.amount) for e in later] == [
        ("clearing", "2026-12-31", -15)
    ]
    assert world.balance(li).posted == 0


def test_a_gap_over_several_clearings_books_each_in_order(world: World) -> None:
    world.publish({"policy": "after_months", "months": 1})
    wang = world.member("王芳")
    for day, points in (("2025-01-05", 1), ("2025-02-05", 2), ("2025-03-05", 4)):
        world.earn(wang, points, at(day))

    world.tick(at("2025-05-01", 8))
    booked = world.expiries(wang)
    assert [(e.details["on"], e.amount) for e in booked] == [
        ("2025-02-04", -1),
        ("2025-03-04", -2),
        ("2025-04-04", -4),
    ]
    assert [e.seq for e in booked] == sorted(e.seq for e in booked)


def test_jifen_tick_on_the_command_line(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish({"policy": "yearly_clear", "clear_on": "12-31"})
    li = world.member("李强")
    world.earn(li, 12, at("2025-05-01"))
    monkeypatch.setenv("JIFEN_DATABASE_URL", database_url)
    runner = CliRunner()

    first = runner.invoke(app, ["tick", "--now", "2026-01-02T08:00:00"])
    assert first.exit_code == 0, first.output
    assert "1 entries booked" in first.output
    assert "2025-12-31 清零 (clearing): 1 accounts, 12" in first.output
    again = runner.invoke(app, ["tick", "--now", "2026-01-02T09:00:00+08:00"])
    assert again.exit_code == 0, again.output
    assert "0 entries booked" in again.output
    assert [e.amount for e in world.expiries(li)] == [-12]

    future = runner.invoke(app, ["tick", "--now", "2999-01-01"])
    assert future.exit_code == 2
    nonsense = runner.invoke(app, ["tick", "--now", "yesterday"])
    assert nonsense.exit_code == 2
    unknown = runner.invoke(app, ["tick", "--village", "no-such-village"])
    assert unknown.exit_code == 2


def test_a_village_whose_points_never_expire_is_left_alone(world: World) -> None:
    world.publish({"policy": "carry_over"})
    li = world.member("李强")
    world.earn(li, 12, at("2020-05-01"))
    report = world.tick(at("2026-01-02", 8))
    assert report.entries == 0
    assert [v.skipped for v in report.villages] == ["points never expire (carry_over)"]
