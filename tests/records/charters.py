"""Charter documents for the records tests, modelled on real village schemes.

清泉村 (四川 广元): points held per household (一户一档), 贡献积分 ≤ 10 a year; with 盛新村's
宅前屋后 item (每发现一处扣 5 分, 本项最多扣 25 分, floor zero), the 垃圾分类 一年 15 分 of the
乡村治理文明积分 scheme, and 互助五兴's review (村民申报 → 小组长初审 → 两委复核).

罗峪村: the same rules with points held per member and deductions that may take the
balance below zero (spending is blocked until it is earned back), merit called 荣誉积分.

Every function returns a fresh copy: tests change them freely.
"""

from __future__ import annotations

import copy
from typing import Any

_QINGQUAN: dict[str, Any] = {
    "title": "清泉村积分制管理办法（2026 年版）",
    "effective_on": "2026-01-01",
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
            "id": "public_cleaning",
            "category": "sanitation",
            "label": "公共区域清扫",
            "type": "fixed",
            "params": {"points": 3},
            "recorders": ["village_clerk", "group_leader"],
        },
        {
            "id": "villager_meeting",
            "category": "participation",
            "label": "参加村民大会",
            "type": "fixed",
            "params": {"points": 2},
            "moves": ["points", "merit"],
            "caps": [{"per": "member", "period": "month", "max_points": 5}],
            "recorders": ["village_clerk", "check_in"],
        },
        {
            "id": "voluntary_labor",
            "category": "labor",
            "label": "义务劳动",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "1.5", "rounding": "half_up"},
            "caps": [{"per": "member", "period": "day", "max_points": 8}],
            "recorders": ["village_clerk", "group_leader", "resident"],
        },
        {
            "id": "paper_recycling",
            "category": "waste_sorting",
            "label": "回收纸皮",
            "type": "tiered",
            "params": {
                "unit": "kg",
                "mode": "marginal",
                "tiers": [{"min_quantity": 0, "points": 1}, {"min_quantity": 10, "points": 2}],
            },
        },
        {
            "id": "tree_planting",
            "category": "green_space",
            "label": "植树",
            "type": "tiered",
            "params": {
                "unit": "item",
                "mode": "step",
                "tiers": [{"min_quantity": 5, "points": 5}, {"min_quantity": 20, "points": 25}],
            },
        },
        {
            "id": "waste_sorting",
            "category": "waste_sorting",
            "label": "垃圾分类达标",
            "type": "fixed",
            "params": {"points": 5},
            "caps": [{"per": "household", "period": "year", "max_points": 15}],
        },
        {
            "id": "volunteer",
            "category": "contribution",
            "label": "志愿服务",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            "recorders": ["village_clerk", "group_leader", "resident"],
            "evidence": ["photo", "witness"],
        },
        {
            "id": "brave_deed",
            "category": "contribution",
            "label": "见义勇为",
            "type": "fixed",
            "params": {"points": 8},
            "moves": ["points", "merit"],
            "evidence": ["document"],
        },
        {
            "id": "university_admission",
            "category": "honor",
            "label": "子女考取高校",
            "type": "fixed",
            "params": {"points": 10},
            "moves": ["merit"],
            "evidence": ["document"],
        },
        {
            "id": "photo_report",
            "category": "sanitation",
            "label": "随手拍举报乱倒垃圾",
            "type": "fixed",
            "params": {"points": 1},
            "allow_repeats": True,
        },
        {
            "id": "clutter",
            "category": "sanitation",
            "label": "宅前屋后乱堆物",
            "type": "deduction",
            "params": {"points": 5, "max_points": 25},
            "recorders": ["village_clerk"],
            "evidence": ["inspector", "photo"],
        },
        {
            "id": "gambling",
            "category": "conduct",
            "label": "参与赌博",
            "type": "deduction",
            "params": {"points": 10},
            "moves": ["points", "merit"],
        },
    ],
    "category_caps": [
        {"category": "contribution", "per": "household", "period": "year", "max_points": 10}
    ],
}

INSPECTION = [
    {"kind": "inspector", "name": "镇包村干部 陈"},
    {"kind": "photo", "url": "https://files.example/clutter.jpg"},
]
VOLUNTEER_EVIDENCE = [
    {"kind": "photo", "url": "https://files.example/volunteer.jpg"},
    {"kind": "witness", "name": "村民代表 刘"},
]
CERTIFICATE = [{"kind": "document", "title": "录取通知书"}]


def qingquan(effective_on: str = "2026-01-01") -> dict[str, Any]:
    """清泉村: household points, deductions floored at zero, 文明积分."""
    document = copy.deepcopy(_QINGQUAN)
    document["effective_on"] = effective_on
    return document


def luoyu(effective_on: str = "2026-01-01") -> dict[str, Any]:
    """罗峪村: member points, deductions may go below zero, 荣誉积分."""
    document = qingquan(effective_on)
    document["title"] = "罗峪村村民积分管理办法"
    document["settings"]["points_holder"] = "member"
    document["settings"]["deduction_floor"] = "negative"
    document["settings"]["merit"]["label"] = "荣誉积分"
    return document


def rule(document: dict[str, Any], rule_id: str) -> dict[str, Any]:
    """The rule with that id in the document (to change it in place)."""
    found: dict[str, Any] = next(r for r in document["rules"] if r["id"] == rule_id)
    return found
