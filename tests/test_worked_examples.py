"""Stories from a village's year, with the balances worked out by hand.

清泉村 keeps points per household (一户一档): the member who acted is named in the
entry's metadata and the household is credited. Its charter lets a conduct penalty put a
household into debt, which blocks spending until earned back.
"""

from __future__ import annotations

from datetime import timedelta

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.tenancy import service as tenancy
from tests.factories import account_of, clock, make_household, make_member, make_village


def test_a_household_earns_spends_is_corrected_and_splits(db: Database, settings: Settings) -> None:
    now = utc_now()
    today = now.astimezone(settings.zone).date()
    with db.unit_of_work() as session:
        village = make_village(session, name="清泉村", allow_below_floor_codes=["conduct_penalty"])
        wang = make_household(session, village, number="1-01", name="王建国户")
        jianguo = make_member(
            session,
            village,
            name="王建国",
            household_id=wang.id,
            is_head=True,
            joined_on=today - timedelta(days=400),
        )
        xiaoming = make_member(
            session,
            village,
            name="王小明",
            household_id=wang.id,
            joined_on=today - timedelta(days=400),
        )
        acc = {
            "wang": account_of(session, village, AccountKind.HOUSEHOLD, wang.id),
            "issue": account_of(session, village, AccountKind.ISSUANCE),
            "shop": account_of(session, village, AccountKind.SUPERMARKET),
            "fund": account_of(session, village, AccountKind.FUND, asset=Asset.CNY),
            "funding": account_of(session, village, AccountKind.FUNDING, asset=Asset.CNY),
        }

    def book(
        code: str, lines: list[tuple[str, int]], days_ago: int = 0, **kw: object
    ) -> ledger.EntryView:
        with db.unit_of_work() as session:
            return ledger.book(
                session,
                village_id=village.id,
                code=code,
                postings=[ledger.PostingInput(acc[name].id, n) for name, n in lines],
                actor="村干部",
                clock=clock(settings),
                occurred_at=now - timedelta(days=days_ago),
                **kw,  # type: ignore[arg-type]
            )

    def balance(name: str) -> int:
        with db.unit_of_work(write=False) as session:
            return ledger.get_balance(session, acc[name].id).available

    # The village assembly puts 2,000 yuan of collective income into the exchange fund.
    book("fund_deposit", [("funding", -200_000), ("fund", 200_000)], days_ago=40)
    assert balance("fund") == 200_000  # fen

    # 义务劳动: 王建国 3 hours and 王小明 4 hours at 2 points an hour → 6 + 8 = 14.
    book("labor_award", [("issue", -6), ("wang", 6)], 30, details={"member": "王建国", "hours": 3})
    book("labor_award", [("issue", -8), ("wang", 8)], 30, details={"member": "王小明", "hours": 4})
    # Two grid workers both record the same waste-sorting check: +1 twice, one is a mistake.
    book("waste_sorting_award", [("issue", -1), ("wang", 1)], 20)
    duplicate = book("waste_sorting_award", [("issue", -1), ("wang", 1)], 20)
    assert balance("wang") == 16
    with db.unit_of_work() as session:
        ledger.reverse(
            session,
            entry_id=duplicate.entry.id,
            actor="村干部",
            clock=clock(settings),
            reason="重复录入",
        )
    assert balance("wang") == 15

    # At the points supermarket: toilet paper 5 and washing powder 8 → 15 − 13 = 2 left.
    book("redemption", [("wang", -5), ("shop", 5)], 10, details={"goods": [["卫生纸", 1, 5]]})
    book("redemption", [("wang", -8), ("shop", 8)], 10, details={"goods": [["洗衣粉", 1, 8]]})
    assert balance("wang") == 2
    # Vegetable seeds cost 20: refused, nothing booked.
    try:
        book("redemption", [("wang", -20), ("shop", 20)], 9)
        raise AssertionError("an overdraft was booked")
    except errors.InsufficientPoints as refused:
        assert refused.extra["balance_points"] == 2
    assert balance("wang") == 2

    # The red board (红榜) gives +10, pending through a 7-day public notice.
    board = book("red_board_award", [("issue", -10), ("wang", 10)], 8, is_pending=True)
    assert balance("wang") == 2  # not spendable during 公示
    with db.unit_of_work() as session:
        ledger.post_pending(session, entry_id=board.entry.id, actor="村干部", clock=clock(settings))
    assert balance("wang") == 12

    # Rubbish piled in the lane: −15, and the charter lets it put the household in debt.
    book("conduct_penalty", [("wang", -15), ("issue", 15)], 5, allow_below_floor=True)
    assert balance("wang") == -3
    # 王小明 works 2 more hours (+4): the debt is paid and 1 point is usable again.
    book("labor_award", [("issue", -4), ("wang", 4)], 3)
    assert balance("wang") == 1

    # 分户: 王小明 marries and founds his own household; by the 分户协议 he takes 1 point.
    with db.unit_of_work() as session:
        split = tenancy.split_household(
            session,
            wang.id,
            number="1-01-2",
            name="王小明户",
            member_ids=[xiaoming.id],
            head_member_id=xiaoming.id,
            on=today,
            transfer_points=1,
            actor="村干部",
            clock=clock(settings),
        )
        acc["xiaoming"] = account_of(session, village, AccountKind.HOUSEHOLD, split.household.id)
    assert (balance("wang"), balance("xiaoming")) == (0, 1)

    # The issuance account mirrors everything the village ever gave: 6+8+1+10+4 − 15 = 14,
    # and the shop holds the 13 points redeemed. Points are conserved: 14 = 13 + 0 + 1.
    assert balance("issue") == -14
    assert balance("shop") == 13
    with db.unit_of_work(write=False) as session:
        assert [m.member_id for m in tenancy.household_members(session, wang.id)] == [jianguo.id]
        tb = ledger.trial_balance(session, village.id)
        assert tb.is_balanced
        # 1 deposit, 3 labor, 2 checks + 1 reversal, 2 redemptions, hold + post, penalty,
        # transfer: 13 entries, the refused redemption left no trace.
        assert ledger.verify_books(session, village.id).entries_checked == 13
