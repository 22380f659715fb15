"""The pure ledger rules, in tables: no database."""

from __future__ import annotations

import uuid

import pytest

from jifen.ledger import errors
from jifen.ledger.policy import (
    AccountKind,
    AccountState,
    Asset,
    Delta,
    Effect,
    Line,
    check_balanced,
    check_code,
    check_shape,
    default_floor,
    delta_of,
    floor_breaches,
    insufficient,
)

A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))
V = uuid.UUID(int=99)


@pytest.mark.parametrize(
    ("effect", "amount", "expected"),
    [
        (Effect.POSTED, 5, Delta(posted=5)),
        (Effect.POSTED, -5, Delta(posted=-5)),
        (Effect.PENDING, -5, Delta(pending_debits=5)),
        (Effect.PENDING, 5, Delta(pending_credits=5)),
        (Effect.PENDING_POSTED, -5, Delta(posted=-5, pending_debits=-5)),
        (Effect.PENDING_POSTED, 5, Delta(posted=5, pending_credits=-5)),
        (Effect.PENDING_VOIDED, -5, Delta(pending_debits=-5)),
        (Effect.PENDING_VOIDED, 5, Delta(pending_credits=-5)),
    ],
)
def test_delta_of_each_effect(effect: Effect, amount: int, expected: Delta) -> None:
    assert delta_of(Line(A, amount, effect)) == expected


@pytest.mark.parametrize(
    ("effect", "available_change"),
    [
        (Effect.POSTED, -5),
        (Effect.PENDING, -5),  # a hold counts against what may be spent
        (Effect.PENDING_POSTED, 0),  # posting a hold changes nothing available
        (Effect.PENDING_VOIDED, 5),  # voiding releases it
    ],
)
def test_available_change_of_a_debit(effect: Effect, available_change: int) -> None:
    assert delta_of(Line(A, -5, effect)).available == available_change


def _state(posted: int, floor: int | None = 0, pending_debits: int = 0) -> AccountState:
    return AccountState(A, V, Asset.POINTS, floor, posted, pending_debits, 0)


@pytest.mark.parametrize(
    ("state", "line", "breached"),
    [
        (_state(10), Line(A, -10), False),  # down to the floor exactly
        (_state(10), Line(A, -11), True),
        (_state(10, pending_debits=4), Line(A, -7), True),  # holds count
        (_state(10, pending_debits=4), Line(A, -6), False),
        (_state(10, pending_debits=4), Line(A, -4, Effect.PENDING_POSTED), False),
        (_state(-20), Line(A, 5), False),  # a debt can always be paid into
        (_state(-20), Line(A, -1), True),  # and blocks spending
        (_state(0, floor=None), Line(A, -1000), False),  # issuance has no floor
        (_state(0, floor=-50), Line(A, -50), False),  # an explicit credit line
        (_state(0, floor=-50), Line(A, -51), True),
    ],
)
def test_floor_breaches(state: AccountState, line: Line, breached: bool) -> None:
    assert bool(floor_breaches([line], {A: state})) is breached


def test_insufficient_names_the_asset_and_figures() -> None:
    [breach] = floor_breaches([Line(A, -12)], {A: _state(10, pending_debits=3)})
    problem = insufficient(breach)
    assert problem.code == "insufficient_points"
    assert problem.extra["balance_points"] == 7
    assert problem.extra["requested_points"] == 12
    money = AccountState(A, V, Asset.CNY, 0, 100, 0, 0)
    [breach] = floor_breaches([Line(A, -101)], {A: money})
    assert insufficient(breach).code == "insufficient_funds"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([Line(A, 5)], errors.TooFewPostings),
        ([Line(A, 5), Line(A, -5)], errors.DuplicateAccount),
        ([Line(A, 0), Line(B, 0)], errors.AmountOutOfRange),
        ([Line(A, 10**13), Line(B, -(10**13))], errors.AmountOutOfRange),
        ([Line(uuid.UUID(int=i), 1) for i in range(65)], errors.TooManyPostings),
    ],
)
def test_check_shape_refuses(lines: list[Line], problem: type[Exception]) -> None:
    with pytest.raises(problem):
        check_shape(lines, postings_max=64, amount_abs_max=10**12)


def test_check_balanced_per_asset() -> None:
    assets = {A: Asset.POINTS, B: Asset.POINTS, C: Asset.CNY}
    check_balanced([Line(A, -3), Line(B, 3)], assets)
    with pytest.raises(errors.UnbalancedEntry) as refused:
        check_balanced([Line(A, -3), Line(B, 2)], assets)
    assert refused.value.extra["sums"] == {"POINTS": -1}
    # Points and fen never offset each other.
    with pytest.raises(errors.UnbalancedEntry):
        check_balanced([Line(A, -3), Line(C, 3)], assets)


@pytest.mark.parametrize("code", ["labor_award", "redemption", "a1"])
def test_check_code_accepts(code: str) -> None:
    check_code(code)


@pytest.mark.parametrize("code", ["reversal", "pending_post", "Labor", "a", "x-y", "1abc", ""])
def test_check_code_refuses(code: str) -> None:
    with pytest.raises(errors.InvalidEntryCode):
        check_code(code)


def test_default_floors() -> None:
    assert default_floor(AccountKind.MEMBER) == 0
    assert default_floor(AccountKind.HOUSEHOLD) == 0
    assert default_floor(AccountKind.FUND) == 0
    assert default_floor(AccountKind.ISSUANCE) is None
    assert default_floor(AccountKind.SUPERMARKET) is None
