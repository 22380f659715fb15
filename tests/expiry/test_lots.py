"""Lots and FIFO worked by hand, booked in the ledger and expired by the tick.

The story (after_months = 12, the villages' time zone): 王芳 earns 10 points on
15 January 2025 and 20 on 10 March; on 2 April she redeems 15. The oldest points go
first: the January lot gives its 10, the March lot 5, leaving 15 of it.

- January's lot would expire at the end of 14 January 2026: nothing is left of it, so
  nothing is booked.
- March's lot expires at the end of 9 March 2026: its 15 points go then.
"""

from __future__ import annotations

from datetime import timedelta

from jifen.expiry.policy import CODE_EXPIRED
from tests.expiry.world import World, at

AFTER_12_MONTHS = {"policy": "after_months", "months": 12}


def test_the_oldest_points_are_spent_first_and_the_rest_expires_on_its_day(
    world: World,
) -> None:
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    world.spend(wang, 15, at("2025-04-02"))

    # 14 January 2026 is the January lot's last day; nothing of it is left anyway.
    world.tick(at("2026-01-14", 23, 59))
    world.tick(at("2026-01-15", 9))
    assert world.expiries(wang) == []
    assert world.balance(wang).posted == 15

    # 9 March 2026 is the March lot's last day: its 15 points may still be spent...
    world.tick(at("2026-03-09", 23, 59))
    assert world.expiries(wang) == []
    # ...and are gone once it has ended.
    report = world.tick(at("2026-03-10", 0, 5))
    [expired] = world.expiries(wang)
    assert expired.code == CODE_EXPIRED
    assert expired.amount == -15
    assert expired.occurred_at == at("2026-03-09", 23, 59) + timedelta(seconds=59)
    assert expired.details["on"] == "2026-03-09"
    assert expired.details["policy"] == "after_months"
    assert [points for _seq, points in expired.details["lots"]] == [15]
    assert world.balance(wang).posted == 0
    assert report.entries == 1


def test_a_refund_puts_the_points_back_into_the_lots_they_came_from(world: World) -> None:
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    spent = world.spend(wang, 15, at("2025-04-02"))
    world.refund(spent, at("2025-05-06"))  # back: 10 to January's lot, 5 to March's

    world.tick(at("2026-01-15", 8))
    [january] = world.expiries(wang)
    assert (january.amount, january.details["on"]) == (-10, "2026-01-14")
    assert world.balance(wang).posted == 20

    world.tick(at("2026-03-10", 8))
    january, march = world.expiries(wang)
    assert (march.amount, march.details["on"]) == (-20, "2026-03-09")
    assert world.balance(wang).posted == 0


def test_a_refund_after_the_lot_expired_expires_at_the_next_tick(world: World) -> None:
    """The refunded points belong to January's lot, which has expired: they go at the
    next tick, in an entry of their own, dated when they came back."""
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    spent = world.spend(wang, 15, at("2025-04-02"))
    world.tick(at("2026-01-15", 8))
    assert world.expiries(wang) == []  # January's lot was spent

    world.refund(spent, at("2026-02-01"))
    world.tick(at("2026-02-02", 8))
    [late] = world.expiries(wang)
    assert late.amount == -10
    assert late.details["on"] == "2026-01-14"
    assert late.occurred_at == at("2026-02-01")  # not before the points came back
    assert late.idempotency_key is not None and late.idempotency_key.endswith(":2026-01-14:1")
    assert world.balance(wang).posted == 20


def test_a_revoked_award_takes_its_own_lot(world: World) -> None:
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    january = world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    world.refund(january, at("2025-02-01"))  # not FIFO: January's own lot goes

    world.tick(at("2026-01-20", 8))
    assert world.expiries(wang) == []
    world.tick(at("2026-03-10", 8))
    [march] = world.expiries(wang)
    assert march.amount == -20


def test_held_points_are_left_alone_and_expire_once_released(world: World) -> None:
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    hold = world.hold(wang, 4, at("2026-01-14", 18))  # the till holds 4 on the last day

    world.tick(at("2026-01-15", 8))
    [first] = world.expiries(wang)
    assert first.amount == -6  # only what was available
    assert world.balance(wang).pending_debits == 4

    world.void(hold, at("2026-01-16", 9))  # the sale did not go through
    world.tick(at("2026-01-17", 8))
    first, second = world.expiries(wang)
    assert second.amount == -4
    assert second.occurred_at == at("2026-01-16", 9)
    assert second.idempotency_key is not None and second.idempotency_key.endswith(":2")
    assert world.balance(wang).posted == 0


def test_pending_points_do_not_expire_and_earn_a_lot_when_posted(world: World) -> None:
    world.publish({"policy": "after_months", "months": 1})
    wang = world.member("王芳")
    pending = world.award_pending(wang, 8, at("2025-06-01"))  # 公示: not yet usable
    world.tick(at("2025-06-05", 8))
    world.post(pending, at("2025-06-08"))  # usable from 8 June: the lot's day
    world.tick(at("2025-07-01", 8))  # a lot of 1 June would have gone at the end of 30 June
    world.tick(at("2025-07-07", 20))
    assert world.expiries(wang) == []
    world.tick(at("2025-07-08", 8))  # the lot of 8 June counts through 7 July
    [expired] = world.expiries(wang)
    assert (expired.amount, expired.details["on"]) == (-8, "2025-07-07")


def test_a_partial_supermarket_refund_restores_the_lot_it_came_from(world: World) -> None:
    """The supermarket refunds single lines as entries of their own naming the sale."""
    world.publish(AFTER_12_MONTHS)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    sale = world.spend(wang, 15, at("2025-04-02"))  # January's 10, March's 5
    world.partial_refund(wang, sale, 12, at("2025-04-03"))  # March's 5, then January's 7

    world.tick(at("2026-01-15", 8))
    [january] = world.expiries(wang)
    assert (january.amount, january.details["on"]) == (-7, "2026-01-14")
    world.tick(at("2026-03-10", 8))
    assert [e.amount for e in world.expiries(wang)] == [-7, -20]
