"""Charter documents: a realistic charter compiles, and every invalid one names its field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from jifen.charters.document import (
    CharterDocument,
    CharterInvalid,
    DeductionFloor,
    Evidence,
    Holder,
    Track,
    compile_charter,
    parse_text,
    role_codes_named,
)
from jifen.charters.rules.builtin import Deduction, PerUnit, PerUnitParams, Rounding, Unit
from jifen.charters.rules.protocol import Occurrence

# 清泉村 (一户一档, 贡献积分 ≤ 10) with 盛新村's 宅前屋后 item (25, 每处扣 5) and 互助五兴's
# review: 村民申报 → 小组长初审 → 两委复核.
QINGQUAN: dict[str, Any] = {
    "title": "清泉村积分制管理办法（2025 年修订）",
    "effective_on": "2025-01-01",
    "settings": {
        "points_holder": "household",
        "deduction_floor": "zero",
        "merit": {"enabled": True, "label": "文明积分", "deductions_lower": True},
        "review": {
            "stages": [
                {"id": "first_review", "label": "初审", "roles": ["group_leader", "village_clerk"]},
                {"id": "final_review", "label": "复核", "roles": ["village_clerk"]},
            ],
            "required": {
                "group_leader": ["final_review"],
                "resident": ["first_review", "final_review"],
            },
        },
        "expiry": {"policy": "carry_over"},
    },
    "rules": [
        {
            "id": "villager_meeting",
            "category": "participation",
            "label": "参加村民大会",
            "type": "fixed",
            "params": {"points": 2},
            "moves": ["points", "merit"],
            "recorders": ["village_clerk", "check_in"],
        },
        {
            "id": "volunteer",
            "category": "contribution",
            "label": "志愿服务",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            "caps": [{"per": "household", "period": "month", "max_points": 10}],
            "recorders": ["group_leader", "resident"],
            "evidence": ["photo", "witness"],
        },
        {
            "id": "paper_recycling",
            "category": "environment",
            "label": "回收纸皮",
            "type": "tiered",
            "params": {
                "unit": "kg",
                "mode": "marginal",
                "tiers": [{"min_quantity": 0, "points": 1}, {"min_quantity": 10, "points": 2}],
            },
        },
        {
            "id": "clutter",
            "category": "environment",
            "label": "宅前屋后乱堆物",
            "type": "deduction",
            "params": {"points": 5, "max_points": 25},
            "moves": ["points", "merit"],
            "recorders": ["grid_worker"],
            "evidence": ["inspector", "photo"],
        },
        {
            "id": "return_to_start_business",
            "category": "honor",
            "label": "回村创业",
            "type": "fixed",
            "params": {"points": 30},
            "caps": [{"per": "member", "period": "ever", "max_points": 30}],
            "evidence": ["document"],
            "description": "只计一次",
        },
    ],
    "category_caps": [
        {"category": "contribution", "per": "household", "period": "year", "max_points": 10}
    ],
}

QINGQUAN_YAML = """\
title: 清泉村积分制管理办法（2025 年修订）
effective_on: 2025-01-01
settings:
  points_holder: household
  deduction_floor: zero
  merit: {enabled: true, label: 文明积分, deductions_lower: true}
  review:
    stages:
      - {id: first_review, label: 初审, roles: [group_leader, village_clerk]}
      - {id: final_review, label: 复核, roles: [village_clerk]}
    required:
      group_leader: [final_review]
      resident: [first_review, final_review]   # 村民申报: 小组长初审, 两委复核
  expiry: {policy: carry_over}
rules:
  - id: villager_meeting
    category: participation
    label: 参加村民大会
    type: fixed
    params: {points: 2}
    moves: [points, merit]
    recorders: [village_clerk, check_in]
  - id: volunteer
    category: contribution
    label: 志愿服务
    type: per_unit
    params: {unit: hour, points_per_unit: "2", rounding: half_up}
    caps:
      - {per: household, period: month, max_points: 10}
    recorders: [group_leader, resident]
    evidence: [photo, witness]
  - id: paper_recycling
    category: environment
    label: 回收纸皮
    type: tiered
    params:
      unit: kg
      mode: marginal
      tiers:
        - {min_quantity: 0, points: 1}
        - {min_quantity: 10, points: 2}
  - id: clutter
    category: environment
    label: 宅前屋后乱堆物
    type: deduction
    params: {points: 5, max_points: 25}   # 每处扣 5 分, 扣完为止
    moves: [points, merit]
    recorders: [grid_worker]
    evidence: [inspector, photo]
  - id: return_to_start_business
    category: honor
    label: 回村创业
    type: fixed
    params: {points: 30}
    caps:
      - {per: member, period: ever, max_points: 30}
    evidence: [document]
    description: 只计一次
category_caps:
  - {category: contribution, per: household, period: year, max_points: 10}
"""


def test_a_realistic_charter_compiles() -> None:
    charter = compile_charter(copy.deepcopy(QINGQUAN))
    document = charter.document

    assert document.effective_on == date(2025, 1, 1)
    assert document.settings.points_holder is Holder.HOUSEHOLD
    assert document.settings.deduction_floor is DeductionFloor.ZERO
    assert document.settings.merit.enabled is True
    assert list(charter.rules) == [
        "villager_meeting",
        "volunteer",
        "paper_recycling",
        "clutter",
        "return_to_start_business",
    ]
    assert [r.id for r in charter.rules.values() if r.is_deduction] == ["clutter"]

    volunteer = charter.rule("volunteer")
    assert volunteer is not None
    assert isinstance(volunteer.rule_type, PerUnit)
    assert volunteer.params == PerUnitParams(
        unit=Unit.HOUR, points_per_unit=Decimal(2), rounding=Rounding.HALF_UP
    )
    assert volunteer.document.moves == [Track.POINTS]  # the default
    assert volunteer.document.evidence == [Evidence.PHOTO, Evidence.WITNESS]
    assert volunteer.document.caps[0].max_points == 10
    score = volunteer.rule_type.evaluate(
        volunteer.params, Occurrence("志愿服务", Decimal("2.5"), date(2025, 3, 1))
    )
    assert (score.points, score.explanation) == (
        5,
        "志愿服务 2.5 小时 × 2 分/小时 = 5 分",
    )

    clutter = charter.rule("clutter")
    assert clutter is not None
    assert isinstance(clutter.rule_type, Deduction)
    assert clutter.document.moves == [Track.POINTS, Track.MERIT]
    assert charter.rule("paper_recycling").document.recorders == ["village_clerk"]  # default
    assert charter.rule("no_such_rule") is None

    assert charter.review_stages_for("resident") == ["first_review", "final_review"]
    assert charter.review_stages_for("group_leader") == ["final_review"]
    assert charter.review_stages_for("village_clerk") == []  # counts at once
    assert charter.stage("first_review").label == "初审"
    assert charter.stage("first_review").roles == ["group_leader", "village_clerk"]
    assert charter.stage("final_review").label == "复核"
    assert charter.stage("final_review").roles == ["village_clerk"]

    (category_cap,) = document.category_caps
    assert (category_cap.category, category_cap.per, category_cap.max_points) == (
        "contribution",
        Holder.HOUSEHOLD,
        10,
    )


@pytest.mark.parametrize("media_type", ["application/yaml", "application/x-yaml", "text/yaml"])
def test_yaml_compiles_to_the_same_charter_as_json(media_type: str) -> None:
    from_yaml = compile_charter(parse_text(QINGQUAN_YAML, media_type))
    from_json = compile_charter(
        parse_text(json.dumps(QINGQUAN, ensure_ascii=False, indent=2), "application/json")
    )
    assert from_yaml == from_json
    assert from_json == compile_charter(copy.deepcopy(QINGQUAN))


# --- invalid documents -----------------------------------------------------------------


def minimal() -> dict[str, Any]:
    return {
        "title": "盛新村积分制细则",
        "effective_on": "2025-01-01",
        "settings": {
            "review": {
                "stages": [
                    {"id": "first_review", "label": "初审", "roles": ["group_leader"]},
                    {"id": "final_review", "label": "复核", "roles": ["village_clerk"]},
                ],
                "required": {
                    "group_leader": ["final_review"],
                    "resident": ["first_review", "final_review"],
                },
            }
        },
        "rules": [
            {
                "id": "meeting",
                "category": "participation",
                "label": "参加村民大会",
                "type": "fixed",
                "params": {"points": 2},
            },
            {
                "id": "volunteer",
                "category": "contribution",
                "label": "志愿服务",
                "type": "per_unit",
                "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            },
            {
                "id": "clutter",
                "category": "environment",
                "label": "宅前屋后乱堆物",
                "type": "deduction",
                "params": {"points": 5, "max_points": 25},
            },
        ],
    }


def test_the_minimal_document_is_valid() -> None:
    assert set(compile_charter(minimal()).rules) == {"meeting", "volunteer", "clutter"}


def _rule(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["rules"][index].update(changes)


def _params(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["rules"][index]["params"].update(changes)


def _settings(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["settings"].update(changes)


def _review(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["settings"]["review"].update(changes)


STAGE = {"id": "first_review", "label": "再审", "roles": ["township_admin"]}
CAP = {"per": "household", "period": "month", "max_points": 10}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        # shape (pydantic)
        pytest.param(lambda d: d.pop("title"), ["title"], id="missing title"),
        pytest.param(lambda d: d.update(title=""), ["title"], id="empty title"),
        pytest.param(lambda d: d.pop("rules"), ["rules"], id="missing rules"),
        pytest.param(lambda d: d.update(rules=[]), ["rules"], id="no rules"),
        pytest.param(lambda d: d.update(version=2), ["version"], id="unknown key"),
        pytest.param(lambda d: d.update(effective_on="2025-02-30"), ["effective_on"],
                     id="no such day"),
        pytest.param(lambda d: d.update(effective_on="下个月"), ["effective_on"],
                     id="not a date"),
        pytest.param(_rule(0, id="Meeting 1"), ["rules[0].id"], id="rule id pattern"),
        pytest.param(_rule(0, category="村务/党建"), ["rules[0].category"], id="category pattern"),
        pytest.param(_rule(0, label=""), ["rules[0].label"], id="empty label"),
        pytest.param(_rule(0, points=2), ["rules[0].points"], id="unknown rule key"),
        pytest.param(_rule(0, moves=["points", "points"]), ["rules[0].moves"],
                     id="repeated move"),
        pytest.param(_rule(0, moves=["cash"]), ["rules[0].moves[0]"], id="unknown track"),
        pytest.param(_rule(0, moves=[]), ["rules[0].moves"], id="no moves"),
        pytest.param(_rule(0, recorders=["village_clerk", "village_clerk"]),
                     ["rules[0].recorders"], id="repeated recorder"),
        pytest.param(_rule(1, evidence=["photo", "video"]), ["rules[1].evidence[1]"],
                     id="unknown evidence"),
        pytest.param(_rule(1, caps=[{**CAP, "period": "fortnight"}]),
                     ["rules[1].caps[0].period"], id="unknown cap period"),
        pytest.param(_rule(1, caps=[{**CAP, "max_points": 0}]),
                     ["rules[1].caps[0].max_points"], id="cap of zero"),
        pytest.param(_settings(points_holder="family"), ["settings.points_holder"],
                     id="unknown holder"),
        pytest.param(_settings(expiry={"policy": "yearly_clear", "clear_on": "13-01"}),
                     ["settings.expiry.clear_on"], id="clear_on month 13"),
        pytest.param(_settings(public_notice={"days": 61}), ["settings.public_notice.days"],
                     id="notice too long"),
        pytest.param(_review(stages=[{**STAGE, "roles": []}]),
                     ["settings.review.stages[0].roles"], id="stage without roles"),
        pytest.param(_review(stages=[{**STAGE, "id": f"s{i}"} for i in range(5)]),
                     ["settings.review.stages"], id="too many stages"),
        pytest.param(_review(required={"group_leader": "final_review"}),
                     ["settings.review.required.group_leader"], id="required not a list"),
        pytest.param(lambda d: d.update(category_caps=[{**CAP, "category": "环境"}]),
                     ["category_caps[0].category"], id="category cap pattern"),
        # rule types and parameters
        pytest.param(_rule(1, type="bonus"), ["rules[1].type"], id="unknown type"),
        pytest.param(_rule(0, params={}), ["rules[0].params.points"], id="missing param"),
        pytest.param(_params(0, points=0), ["rules[0].params.points"], id="fixed points 0"),
        pytest.param(_params(0, per="household"), ["rules[0].params.per"],
                     id="unknown param"),
        pytest.param(_params(1, points_per_unit="0"), ["rules[1].params.points_per_unit"],
                     id="per_unit rate 0"),
        pytest.param(_rule(0, type="per_unit",
                           params={"unit": "hour", "points_per_unit": -1,
                                   "rounding": "half_up"}),
                     ["rules[0].params.points_per_unit"], id="per_unit rate negative"),
        pytest.param(_params(1, unit="jin", rounding="round"),
                     ["rules[1].params.unit", "rules[1].params.rounding"],
                     id="two bad params"),
        pytest.param(_params(2, max_points=4), ["rules[2].params"], id="max below points"),
        pytest.param(_rule(1, type="tiered",
                           params={"unit": "kg", "mode": "marginal",
                                   "tiers": [{"min_quantity": 10, "points": 2},
                                             {"min_quantity": 0, "points": 1}]}),
                     ["rules[1].params.tiers"], id="tiers not ascending"),
        pytest.param(_rule(1, type="tiered",
                           params={"unit": "kg", "mode": "marginal",
                                   "tiers": [{"min_quantity": 0, "points": 1},
                                             {"min_quantity": 10, "points": -2}]}),
                     ["rules[1].params.tiers[1].points"], id="negative tier"),
        # cross-references
        pytest.param(_rule(2, id="meeting"), ["rules[2].id"], id="duplicate rule id"),
        pytest.param(_rule(0, moves=["points", "merit"]), ["rules[0].moves"],
                     id="merit while merit is off"),
        pytest.param(lambda d: (_settings(merit={"enabled": True, "deductions_lower": False})(d),
                                _rule(2, moves=["merit"])(d)),
                     ["rules[2].moves"], id="deduction lowers merit"),
        pytest.param(_rule(2, caps=[CAP]), ["rules[2].caps"], id="deduction with caps"),
        pytest.param(_review(required={"group_leader": ["second_review"]}),
                     ["settings.review.required.group_leader[0]"], id="required missing stage"),
        pytest.param(_review(required={"resident": ["first_review", "first_review"]}),
                     ["settings.review.required.resident"], id="required stage twice"),
        pytest.param(lambda d: d["settings"]["review"]["stages"].append(STAGE),
                     ["settings.review.stages[0].id", "settings.review.stages[2].id"],
                     id="duplicate stage id"),
        pytest.param(lambda d: d.update(category_caps=[{**CAP, "category": "sanitation"}]),
                     ["category_caps[0].category"], id="category cap without rules"),
        pytest.param(_settings(public_notice={"categories": ["environment", "sanitation"]}),
                     ["settings.public_notice.categories"], id="legacy notice categories"),
        pytest.param(_settings(public_notice={"days": 5}), ["settings.public_notice.days"],
                     id="legacy notice days"),
    ],
)  # fmt: skip
def test_invalid_document_names_the_field(
    change: Callable[[dict[str, Any]], object], fields: list[str]
) -> None:
    document = minimal()
    change(document)
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(document)
    assert [error.field for error in raised.value.errors] == fields
    assert all(error.message for error in raised.value.errors)


@pytest.mark.parametrize("data", [None, [], "清泉村", 42])
def test_a_document_that_is_not_a_mapping(data: object) -> None:
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(data)
    assert [error.field for error in raised.value.errors] == ["(document)"]


def test_every_shape_error_is_reported_at_once() -> None:
    document = minimal()
    del document["title"]
    document["effective_on"] = "2025-13-01"
    document["rules"][0]["id"] = "Meeting 1"
    document["rules"][2]["evidence"] = ["video"]
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(document)
    assert [error.field for error in raised.value.errors] == [
        "title",
        "effective_on",
        "rules[0].id",
        "rules[2].evidence[0]",
    ]


def test_every_rule_and_reference_error_is_reported_at_once() -> None:
    document = minimal()
    document["rules"][0]["params"] = {"points": 0}
    document["rules"][1]["type"] = "bonus"
    document["rules"][2]["caps"] = [CAP]
    document["settings"]["review"]["required"]["group_leader"] = ["second_review"]
    document["category_caps"] = [{**CAP, "category": "sanitation"}]
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(document)
    assert [error.field for error in raised.value.errors] == [
        "rules[0].params.points",
        "rules[1].type",
        "rules[2].caps",
        "settings.review.required.group_leader[0]",
        "category_caps[0].category",
    ]
    assert "rules[0].params.points" in str(raised.value)


@pytest.mark.parametrize(
    "broken",
    [{"params": {"points": 0}}, {"type": "bonus"}],
    ids=["bad params", "unknown type"],
)
def test_duplicate_id_is_reported_even_when_the_first_rule_is_broken(
    broken: dict[str, Any],
) -> None:
    document = minimal()
    document["rules"][0].update(broken)
    document["rules"][1]["id"] = "meeting"
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(document)
    assert "rules[1].id" in [error.field for error in raised.value.errors]


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("title: 清泉村\nrules:\n  - id: meeting\n   category: labor\n", "line 4"),
        ("title: 清泉村\n  effective_on: 2025-01-01\n", "line 2"),
        ("title: [清泉村\n", "line 2"),
        ('title: "清泉村\n', "line 2"),
    ],
)
def test_yaml_syntax_error_names_the_line(text: str, line: str) -> None:
    with pytest.raises(CharterInvalid) as raised:
        parse_text(text, "application/yaml")
    (error,) = raised.value.errors
    assert error.field.startswith("line ")
    assert error.field == line
    assert "not valid YAML" in error.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"title": "清泉村",\n "rules": [\n}', "line 3"),
        ('{"title": "清泉村"\n "rules": []}', "line 2"),
        ("{'title': '清泉村'}", "line 1"),
        ("", "line 1"),
    ],
)
def test_json_syntax_error_names_the_line(text: str, line: str) -> None:
    with pytest.raises(CharterInvalid) as raised:
        parse_text(text, "application/json")
    (error,) = raised.value.errors
    assert error.field.startswith("line ")
    assert error.field == line
    assert "not valid JSON" in error.message


def test_yaml_impossible_date_is_a_charter_error() -> None:
    with pytest.raises(CharterInvalid):
        parse_text("title: 清泉村\neffective_on: 2025-13-01\n", "application/yaml")


def test_parse_text_reads_plain_data() -> None:
    assert parse_text('{"title": "清泉村"}', "application/json; charset=utf-8") == {
        "title": "清泉村"
    }
    assert parse_text("effective_on: 2025-01-01\n", "application/yaml") == {
        "effective_on": date(2025, 1, 1)
    }


# --- role codes ------------------------------------------------------------------------


def test_role_codes_named_skips_resident_and_check_in() -> None:
    document = minimal()
    document["rules"][0]["recorders"] = ["village_clerk", "check_in"]
    document["rules"][1]["recorders"] = ["resident", "group_leader"]
    document["settings"]["review"]["stages"][0]["roles"] = ["group_leader", "village_clerk"]
    assert role_codes_named(CharterDocument.model_validate(document)) == [
        ("rules[0].recorders[0]", "village_clerk"),
        ("rules[1].recorders[1]", "group_leader"),
        ("rules[2].recorders[0]", "village_clerk"),  # the default recorder
        ("settings.review.stages[0].roles[0]", "group_leader"),
        ("settings.review.stages[0].roles[1]", "village_clerk"),
        ("settings.review.stages[1].roles[0]", "village_clerk"),
        ("settings.review.required.group_leader", "group_leader"),
    ]


def test_role_codes_named_in_the_realistic_charter() -> None:
    named = role_codes_named(compile_charter(copy.deepcopy(QINGQUAN)).document)
    assert {code for _, code in named} == {"village_clerk", "group_leader", "grid_worker"}
    assert ("rules[3].recorders[0]", "grid_worker") in named
    assert not [field for field, code in named if code in ("resident", "check_in")]
