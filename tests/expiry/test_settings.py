"""The charter's expiry settings: what each policy reads, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from jifen.charters.document import (
    CharterInvalid,
    ExpiryPolicy,
    NegativeBalances,
    compile_charter,
)
from tests.expiry.world import charter


def _settings(**settings: Any) -> dict[str, Any]:
    document = charter({})
    document["settings"] = settings
    return document


def _fields(document: dict[str, Any]) -> list[str]:
    with pytest.raises(CharterInvalid) as caught:
        compile_charter(document)
    return sorted(e.field for e in caught.value.errors)


@pytest.mark.parametrize(
    ("expiry", "fields"),
    [
        pytest.param({"policy": "yearly_clear"}, ["settings.expiry.clear_on"], id="no day"),
        pytest.param({"policy": "after_months"}, ["settings.expiry.months"], id="no months"),
        pytest.param(
            {"policy": "carry_over", "months": 12}, ["settings.expiry.months"], id="months, never"
        ),
        pytest.param(
            {"policy": "yearly_clear", "clear_on": "12-31", "months": 12},
            ["settings.expiry.months"],
            id="months with yearly_clear",
        ),
        pytest.param(
            {"policy": "after_months", "months": 6, "clear_on": "12-31"},
            ["settings.expiry.clear_on"],
            id="a day with after_months",
        ),
        pytest.param(
            {"policy": "carry_over", "clear_on": "12-31"},
            ["settings.expiry.clear_on"],
            id="a day, never",
        ),
        pytest.param(
            {"policy": "after_months", "months": 6, "negative_balances": "clear"},
            ["settings.expiry.negative_balances"],
            id="clearing debts without a clearing",
        ),
        pytest.param(
            {"policy": "carry_over", "notice_days": 7},
            ["settings.expiry.notice_days"],
            id="notice of nothing",
        ),
        pytest.param(
            {"policy": "yearly_clear", "clear_on": "02-29"},
            ["settings.expiry.clear_on"],
            id="not every year",
        ),
        pytest.param(
            {"policy": "yearly_clear", "clear_on": "04-31"},
            ["settings.expiry.clear_on"],
            id="no such day",
        ),
        pytest.param(
            {"policy": "yearly_clear", "clear_on": "1-10"}, ["settings.expiry.clear_on"], id="M-DD"
        ),
        pytest.param(
            {"policy": "after_months", "months": 0}, ["settings.expiry.months"], id="0 months"
        ),
        pytest.param(
            {"policy": "after_months", "months": 6, "notice_days": 400},
            ["settings.expiry.notice_days"],
            id="notice too long",
        ),
        pytest.param({"policy": "never"}, ["settings.expiry.policy"], id="unknown policy"),
    ],
)
def test_refused(expiry: dict[str, Any], fields: list[str]) -> None:
    assert _fields(_settings(expiry=expiry)) == fields


def test_each_policy_with_what_it_reads() -> None:
    yearly = compile_charter(
        _settings(
            expiry={
                "policy": "yearly_clear",
                "clear_on": "01-10",
                "negative_balances": "clear",
                "notice_days": 15,
            }
        )
    ).document.settings.expiry
    assert (yearly.policy, yearly.clear_on, yearly.negative_balances) == (
        ExpiryPolicy.YEARLY_CLEAR,
        "01-10",
        NegativeBalances.CLEAR,
    )
    assert yearly.notice_days_in_effect == 15
    monthly = compile_charter(
        _settings(expiry={"policy": "after_months", "months": 24})
    ).document.settings.expiry
    assert (monthly.months, monthly.notice_days_in_effect) == (24, 30)
    never = compile_charter(_settings()).document.settings.expiry
    assert (never.policy, never.expires, never.notice_days_in_effect) == (
        ExpiryPolicy.CARRY_OVER,
        False,
        0,
    )


def test_documents_stored_before_expiry_was_applied_still_load() -> None:
    """They carry `clear_on: 01-01` under carry_over (the default then); it is dropped."""
    stored = compile_charter(_settings(expiry={"policy": "carry_over", "clear_on": "01-01"}))
    assert stored.document.settings.expiry.clear_on is None
    dumped = stored.document.model_dump(mode="json")["settings"]["expiry"]
    assert dumped["clear_on"] is None
    assert compile_charter(charter({}) | {"settings": {"expiry": dumped}})


def test_point_value() -> None:
    assert compile_charter(_settings()).document.settings.point_value_fen == 100
    assert compile_charter(_settings(point_value_fen=1)).document.settings.point_value_fen == 1
    assert _fields(_settings(point_value_fen=0)) == ["settings.point_value_fen"]
    assert _fields(_settings(point_value_fen=2.5)) == ["settings.point_value_fen"]
