"""The boards' pure parts, in tables: masking, scrubbing, placing from the books, and the
`board` rule type."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from jifen.boards.policy import (
    Standing,
    mask_household_name,
    mask_name,
    place_from_books,
    scrub,
)
from jifen.boards.rule import BoardParams, BoardRule
from jifen.charters.rules import registry
from jifen.charters.rules.protocol import Occurrence


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王五", "王*"),
        ("张三明", "张*明"),
        ("欧阳娜娜", "欧**娜"),
        ("司马相如君", "司***君"),
        ("阿依古丽·买买提", "阿******提"),
        ("李", "*"),
        ("", ""),
        (" 王 五 ", "王*"),
    ],
)
def test_names_keep_first_and_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王建国户", "王*国户"),
        ("李四家", "李*家"),
        ("张三明", "张*明"),  # no suffix: a person's name
        ("户", "*"),
        ("张家", "张*"),
        ("赵钱户", "赵*户"),
    ],
)
def test_household_names_mask_the_head_and_keep_the_suffix(name: str, masked: str) -> None:
    assert mask_household_name(name) == masked


@pytest.mark.parametrize(
    ("text", "names", "secrets", "scrubbed"),
    [
        ("王建国门前干净", ["王建国"], [], "王*国门前干净"),
        ("电话13800138000联系", [], [], "电话***********联系"),
        ("身份证11010519491231002X", [], [], "身份证******************"),
        ("尾号1234", [], ["1234"], "尾号****"),
        ("尾号12", [], ["12"], "尾号12"),  # too short to be a secret on its own
        ("张三明和张三", ["张三", "张三明"], [], "张*明和张*"),  # longest name first
        ("乱堆柴草 3 处", ["张三"], ["5678"], "乱堆柴草 3 处"),
    ],
)
def test_scrub(text: str, names: list[str], secrets: list[str], scrubbed: str) -> None:
    assert scrub(text, names=names, secrets=secrets) == scrubbed


def test_place_from_books_top_red_bottom_black_never_both() -> None:
    standings = [Standing(h, p) for h, p in [("a", 30), ("b", 20), ("c", 10), ("d", -5)]]
    placed = place_from_books(standings, red_count=2, black_count=1)
    assert [(p.holder_id, p.side, p.rank, p.points) for p in placed] == [
        ("a", "red", 1, 30),
        ("b", "red", 2, 20),
        ("d", "black", 1, -5),
    ]
    # More asked than there are: the black side takes only those not already red.
    placed = place_from_books(standings[:2], red_count=2, black_count=5)
    assert [p.side for p in placed] == ["red", "red"]
    assert place_from_books([], red_count=3, black_count=3) == []


STARS = {"side": "red", "bands": [{"min_stars": 3, "points": 10}, {"min_stars": 5, "points": 20}]}


def _score(params: dict[str, Any], quantity: int) -> tuple[int, str]:
    rule = BoardRule()
    parsed = BoardParams.model_validate(params)
    score = rule.evaluate(
        parsed, Occurrence("环境卫生红黑榜", Decimal(quantity), date(2026, 10, 31))
    )
    return score.points, score.explanation


@pytest.mark.parametrize(
    ("params", "quantity", "points", "says"),
    [
        ({"side": "red", "points": 10, "top_n": 20}, 1, 10, "红榜第 1 名，得 10 分"),
        ({"side": "red", "points": 10, "top_n": 20}, 20, 10, "第 20 名"),
        ({"side": "red", "points": 10, "top_n": 20}, 21, 0, "未在前 20 名"),
        ({"side": "red", "points": 10}, 300, 10, "第 300 名"),
        ({"side": "black", "points": 5, "top_n": 5}, 3, -5, "黑榜第 3 名，扣 5 分"),
        ({"side": "black", "points": 5, "top_n": 5}, 6, 0, "不计分"),
        (
            STARS,
            5, 20, "5 星（≥5 星档）得 20 分",
        ),
        (
            STARS,
            4, 10, "≥3 星档",
        ),
        (
            STARS,
            2, 0, "未达 3 星",
        ),
    ],
)  # fmt: skip
def test_board_rule_scores(params: dict[str, Any], quantity: int, points: int, says: str) -> None:
    scored, explanation = _score(params, quantity)
    assert scored == points
    assert says in explanation


def test_board_rule_refuses_fractions_and_too_many_stars() -> None:
    rule = BoardRule()
    by_rank = BoardParams.model_validate({"side": "red", "points": 1})
    by_stars = BoardParams.model_validate({"side": "red", "bands": [{"min_stars": 1, "points": 1}]})
    with pytest.raises(ValueError, match="whole number"):
        rule.evaluate(by_rank, Occurrence("榜", Decimal("1.5"), date(2026, 1, 1)))
    with pytest.raises(ValueError, match="at most 5"):
        rule.evaluate(by_stars, Occurrence("榜", Decimal(6), date(2026, 1, 1)))


@pytest.mark.parametrize(
    "params",
    [
        {"side": "red"},  # neither mode
        {"side": "red", "points": 5, "bands": [{"min_stars": 1, "points": 1}]},  # both
        {"side": "red", "bands": [{"min_stars": 1, "points": 1}], "top_n": 3},
        {"side": "red", "bands": [{"min_stars": 3, "points": 1}, {"min_stars": 3, "points": 2}]},
        {"side": "red", "bands": [{"min_stars": 6, "points": 1}]},
        {"side": "grey", "points": 5},
        {"side": "red", "points": 0},
        {"side": "red", "points": 5, "top_n": 0},
        {"side": "red", "points": 5, "extra": 1},
    ],
)
def test_invalid_board_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BoardParams.model_validate(params)


def test_the_board_rule_is_registered_and_deducts_only_on_the_black_side() -> None:
    rule = registry.rule_types()["board"]
    assert isinstance(rule, BoardRule)
    assert rule.is_deduction(BoardParams.model_validate({"side": "black", "points": 5}))
    assert not rule.is_deduction(BoardParams.model_validate({"side": "red", "points": 5}))
