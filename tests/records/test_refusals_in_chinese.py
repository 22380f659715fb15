"""Recording's refusals read in Chinese for a Chinese reader (issue #13): the same facts
(ids, numbers, rule ids) in a zh-CN sentence, and the English detail as it was."""

from __future__ import annotations

import re

import pytest

from jifen.charters import errors as charter_errors
from jifen.charters.errors import fields_zh
from jifen.problems import Problem
from jifen.records import errors
from tests.records.charters import VOLUNTEER_EVIDENCE
from tests.records.world import LEADER, World

_CJK = re.compile(r"[\u4e00-\u9fff]")


def _details(problem: Problem) -> tuple[str, str]:
    return problem.body(language="en")["detail"], problem.body(language="zh")["detail"]


def test_half_a_fixed_occurrence_is_refused_in_the_rule_types_own_words(world: World) -> None:
    with pytest.raises(charter_errors.InvalidQuantity) as refused:
        world.record("public_cleaning", world.a1, quantity="1.5")

    assert _details(refused.value) == (
        "a fixed rule counts whole occurrences, not 1.5",
        "固定分值规则按整次计，数量不能是 1.5",
    )


def test_a_quantity_out_of_bounds_and_an_unknown_rule_name_their_values(world: World) -> None:
    with pytest.raises(charter_errors.InvalidQuantity) as refused:
        world.record("public_cleaning", world.a1, quantity="0")
    assert _details(refused.value) == (
        "quantity must be above 0 and at most 100000",
        "数量须大于 0 且不超过 100000",
    )

    with pytest.raises(charter_errors.UnknownRule) as unknown:
        world.record("no_such_rule", world.a1)
    english, chinese = _details(unknown.value)
    assert english.endswith("has no rule 'no_such_rule'")
    assert chinese.endswith("版章程中没有规则 no_such_rule")
    assert re.search(r"第 \d+ 版", chinese)


def test_missing_evidence_is_named_in_chinese(world: World) -> None:
    with pytest.raises(errors.EvidenceMissing) as refused:
        world.record("volunteer", world.a1, quantity=2, evidence=VOLUNTEER_EVIDENCE[:1])

    english, chinese = _details(refused.value)
    assert english.startswith("rule volunteer needs evidence: ")
    assert chinese.startswith("规则 volunteer 需要佐证：")
    assert chinese.removeprefix("规则 volunteer 需要佐证：") == "、".join(
        refused.value.extra["missing"]
    )


def test_a_records_status_is_said_in_chinese(world: World) -> None:
    row = world.record("voluntary_labor", world.a1, quantity=2, recorder=LEADER)

    with pytest.raises(errors.RecordNotRevocable) as refused:
        world.revoke(row.id)

    assert _details(refused.value) == (
        f"record {row.id} is pending",
        f"记录 {row.id} 的状态为「待审核」",
    )
    # The Chinese title is the refusal's own, the code unchanged.
    body = refused.value.body(language="zh")
    assert (body["title"], body["code"]) == ("只有已通过的记录可以撤销", "record_not_revocable")


def test_a_member_named_with_another_household_is_refused_in_chinese(world: World) -> None:
    with pytest.raises(errors.SubjectInvalid) as refused:
        world.record("public_cleaning", world.a1, household=world.household_b)

    english, chinese = _details(refused.value)
    assert english == f"member {world.a1} was not in household {world.household_b} on 2026-06-15"
    assert chinese == f"2026-06-15 当天村民 {world.a1} 不在户 {world.household_b} 中"
    assert _CJK.search(chinese) and not re.search(r"\b(is|was|not|the)\b", chinese)


def test_a_charters_error_places_read_in_chinese() -> None:
    assert fields_zh(["line 3", "(document)", "rules[0].id", "rules[0].id"]) == (
        "第 3 行、整个文件、rules[0].id"
    )
