"""The charter's public_notice settings: every invalid setting names its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jifen.charters import document as charter_document
from jifen.charters.document import (
    CharterInvalid,
    NoticeMode,
    compile_charter,
    role_codes_named,
)
from tests.charters.test_document import QINGQUAN

# 民主议政日: the 25th; 7 days; late appeals for 30 days; the supervision committee decides.
SCOPE: dict[str, Any] = {
    "categories": ["contribution"],
    "mode": "before",
    "period": "monthly",
    "opens_on_day": 25,
    "days": 7,
    "appeal_days": 30,
    "deciding_role": "supervision_committee",
}


def _with_lists(*scopes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(QINGQUAN)
    data["settings"]["public_notice"] = {"lists": list(scopes)}
    return data


def _fields(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CharterInvalid) as caught:
        compile_charter(data)
    return sorted(error.field for error in caught.value.errors)


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the notice service applies the lists, to test validation on its own."""
    monkeypatch.setattr(charter_document, "NOTICE_LISTS_APPLIED", True)


def test_the_legacy_defaults_every_stored_document_carries_are_dropped() -> None:
    data = copy.deepcopy(QINGQUAN)
    data["settings"]["public_notice"] = {"days": 7, "categories": []}
    charter = compile_charter(data)
    assert charter.document.settings.public_notice.lists == []
    assert charter.document.model_dump(mode="json")["settings"]["public_notice"] == {"lists": []}


def test_legacy_days_and_categories_are_refused_naming_the_field() -> None:
    data = copy.deepcopy(QINGQUAN)
    data["settings"]["public_notice"] = {"days": 5, "categories": ["contribution"]}
    with pytest.raises(CharterInvalid) as caught:
        compile_charter(data)
    assert sorted(e.field for e in caught.value.errors) == [
        "settings.public_notice.categories",
        "settings.public_notice.days",
    ]
    assert all("settings.public_notice.lists" in e.message for e in caught.value.errors)


def test_a_stored_document_with_legacy_keys_still_loads() -> None:
    data = copy.deepcopy(QINGQUAN)
    data["settings"]["public_notice"] = {"days": 5, "categories": ["contribution"]}
    charter = compile_charter(data, stored=True)
    assert charter.document.settings.public_notice.lists == []


def test_lists_are_refused_when_the_flag_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charter_document, "NOTICE_LISTS_APPLIED", False)
    assert _fields(_with_lists(SCOPE)) == ["settings.public_notice.lists"]


def test_lists_are_accepted_now() -> None:
    assert charter_document.NOTICE_LISTS_APPLIED is True
    compile_charter(_with_lists(SCOPE))


@pytest.mark.usefixtures("applied")
def test_a_valid_setting_compiles_and_names_its_deciding_role() -> None:
    after = {**SCOPE, "categories": ["participation"], "mode": "after", "appeal_days": 0,
             "deciding_role": "village_clerk"}  # fmt: skip
    charter = compile_charter(_with_lists(SCOPE, after))
    scopes = charter.document.settings.public_notice.lists
    assert [s.mode for s in scopes] == [NoticeMode.BEFORE, NoticeMode.AFTER]
    assert scopes[0].opens_on_day == 25 and scopes[0].days == 7 and scopes[0].appeal_days == 30
    named = role_codes_named(charter.document)
    assert ("settings.public_notice.lists[0].deciding_role", "supervision_committee") in named
    assert ("settings.public_notice.lists[1].deciding_role", "village_clerk") in named


@pytest.mark.usefixtures("applied")
def test_all_categories_alone_compiles() -> None:
    charter = compile_charter(_with_lists({**SCOPE, "categories": "all"}))
    assert charter.document.settings.public_notice.lists[0].categories == "all"


P = "settings.public_notice.lists"


@pytest.mark.usefixtures("applied")
@pytest.mark.parametrize(
    ("scopes", "fields"),
    [
        pytest.param([{**SCOPE, "mode": "during"}], [f"{P}[0].mode"], id="unknown mode"),
        pytest.param([{**SCOPE, "period": "weekly"}], [f"{P}[0].period"], id="unknown period"),
        pytest.param([{**SCOPE, "opens_on_day": 31}], [f"{P}[0].opens_on_day"],
                     id="a day not every month has"),
        pytest.param([{**SCOPE, "opens_on_day": 0}], [f"{P}[0].opens_on_day"], id="day 0"),
        pytest.param([{**SCOPE, "days": 0}], [f"{P}[0].days"], id="runs no days"),
        pytest.param([{**SCOPE, "days": 61}], [f"{P}[0].days"], id="runs too long"),
        pytest.param([{**SCOPE, "appeal_days": -1}], [f"{P}[0].appeal_days"],
                     id="negative appeal window"),
        pytest.param([{**SCOPE, "deciding_role": ""}], [f"{P}[0].deciding_role"],
                     id="no deciding role"),
        pytest.param([{k: v for k, v in SCOPE.items() if k != "mode"}], [f"{P}[0].mode"],
                     id="mode missing"),
        pytest.param([{**SCOPE, "categories": []}], [f"{P}[0].categories"],
                     id="no categories"),
        pytest.param([{**SCOPE, "categories": ["contribution", "contribution"]}],
                     [f"{P}[0].categories"], id="category twice"),
        pytest.param([{**SCOPE, "categories": ["sanitation"]}], [f"{P}[0].categories[0]"],
                     id="category without rules"),
        pytest.param([SCOPE, {**SCOPE, "mode": "after"}], [f"{P}[1].categories[0]"],
                     id="category in two lists"),
        pytest.param([{**SCOPE, "categories": "all"}, {**SCOPE, "categories": ["participation"]}],
                     [f"{P}[0].categories"], id="all beside another list"),
        pytest.param([{**SCOPE, "notify": True}], [f"{P}[0].notify"],
                     id="a setting nothing reads"),
    ],
)  # fmt: skip
def test_invalid_setting_names_the_field(scopes: list[dict[str, Any]], fields: list[str]) -> None:
    assert _fields(_with_lists(*scopes)) == sorted(fields)
