"""The demo villages' charters, modelled on real schemes (../shared/VILLAGE-SCHEMES.md):
清泉村 keeps household files with capped components (A3) and a 盛新-style deduction per
finding (A4); 新华村 keeps individual points with the fixed awards of the 福州 and
mangchou templates (A7, A8)."""

from __future__ import annotations

from typing import Any

GROUP_LEADER_ROLE = "group_leader"

QINGQUAN_REVIEW: dict[str, Any] = {
    "stages": [
        {"id": "first_review", "label": "初审", "roles": [GROUP_LEADER_ROLE, "village_clerk"]},
        {"id": "final_review", "label": "复核", "roles": ["village_clerk"]},
    ],
    # A 组长's records wait for the 两委's 复核; a resident's own report waits for both.
    "required": {
        GROUP_LEADER_ROLE: ["final_review"],
        "resident": ["first_review", "final_review"],
    },
}


QINGQUAN_BOARD_NOTICE: dict[str, Any] = {
    "categories": ["board"],
    "mode": "before",
    "period": "monthly",
    "opens_on_day": 1,
    "days": 31,
    "appeal_days": 30,
    "deciding_role": "village_clerk",
}


def qingquan(effective_on: str, labor_points_per_hour: str) -> dict[str, Any]:
    return {
        "title": f"清泉村村规民约积分制（{effective_on[:4]} 年）",
        "effective_on": effective_on,
        "settings": {
            "points_holder": "household",
            "deduction_floor": "zero",
            "merit": {"enabled": True, "label": "文明积分", "deductions_lower": True},
            "review": QINGQUAN_REVIEW,
            "expiry": {"policy": "carry_over"},
            # The boards' points wait out a month's public notice (先公示后生效): a month's
            # list opens on the 1st of the next and runs 31 days, so last month's is open
            # on any day of this one.
            "public_notice": {"lists": [QINGQUAN_BOARD_NOTICE]},
        },
        "rules": [
            {
                "id": "labor_hour",
                "category": "labor",
                "label": "义务劳动",
                "type": "per_unit",
                "params": {
                    "unit": "hour",
                    "points_per_unit": labor_points_per_hour,
                    "rounding": "half_up",
                },
                "moves": ["points", "merit"],
                "caps": [{"per": "member", "period": "day", "max_points": 16}],
                "recorders": ["village_clerk", GROUP_LEADER_ROLE, "resident", "check_in"],
                "evidence": ["photo"],
            },
            {
                "id": "waste_sorting_check",
                "category": "waste_sorting",
                "label": "垃圾分类检查合格",
                "type": "fixed",
                "params": {"points": 1},
                "caps": [{"per": "household", "period": "month", "max_points": 4}],
                "recorders": ["village_clerk", GROUP_LEADER_ROLE],
            },
            {
                "id": "volunteer_service",
                "category": "contribution",
                "label": "志愿服务",
                "type": "fixed",
                "params": {"points": 5},
                "moves": ["points", "merit"],
                "recorders": ["village_clerk", "resident"],
                "evidence": ["witness"],
            },
            {
                "id": "brave_deed",
                "category": "contribution",
                "label": "见义勇为",
                "type": "fixed",
                "params": {"points": 10},
                "moves": ["points", "merit"],
                "recorders": ["village_clerk"],
                "evidence": ["document"],
            },
            {
                "id": "lane_rubbish",
                "category": "sanitation",
                "label": "宅前屋后乱堆乱放",
                "type": "deduction",
                "params": {"points": 5, "max_points": 25},
                "moves": ["points", "merit"],
                "recorders": ["village_clerk"],
                "evidence": ["photo", "inspector"],
            },
            {
                "id": "hygiene_red",
                "category": "board",
                "label": "环境卫生红榜",
                "type": "board",
                "params": {"side": "red", "points": 5},
            },
            {
                "id": "hygiene_black",
                "category": "board",
                "label": "环境卫生黑榜",
                "type": "board",
                "params": {"side": "black", "points": 2},
            },
            {
                "id": "green_space_care",
                "category": "green_space",
                "label": "认领绿地巡查合格",
                "type": "fixed",
                "params": {"points": 2},
                "recorders": ["village_clerk", GROUP_LEADER_ROLE],
                "evidence": ["photo"],
            },
            {
                "id": "green_space_neglect",
                "category": "green_space",
                "label": "认领绿地巡查不合格",
                "type": "deduction",
                "params": {"points": 1},
                "recorders": ["village_clerk", GROUP_LEADER_ROLE],
                "evidence": ["photo"],
            },
        ],
        # Adopted green spaces are inspected weekly (认领绿地每周巡查).
        "inspections": [
            {
                "space_kind": "green_space",
                "cadence": "week",
                "passed_rule": "green_space_care",
                "failed_rule": "green_space_neglect",
            }
        ],
        # 贡献积分 ≤ 10 a year per household (清泉村).
        "category_caps": [
            {"category": "contribution", "per": "household", "period": "year", "max_points": 10}
        ],
    }


def xinhua(effective_on: str) -> dict[str, Any]:
    return {
        "title": f"新华村文明积分细则（{effective_on[:4]} 年）",
        "effective_on": effective_on,
        "settings": {
            "points_holder": "member",
            "deduction_floor": "negative",
            "expiry": {"policy": "yearly_clear", "clear_on": "01-10"},
        },
        "rules": [
            {
                "id": "assembly",
                "category": "participation",
                "label": "参加村议事活动",
                "type": "fixed",
                "params": {"points": 5},
                "caps": [{"per": "member", "period": "month", "max_points": 5}],
            },
            {
                "id": "volunteer",
                "category": "contribution",
                "label": "参加志愿服务活动",
                "type": "fixed",
                "params": {"points": 10},
                "recorders": ["village_clerk", "check_in"],
            },
            {
                "id": "waste_sorting",
                "category": "waste_sorting",
                "label": "垃圾分类",
                "type": "fixed",
                "params": {"points": 1},
                "caps": [{"per": "member", "period": "year", "max_points": 15}],
            },
            {
                "id": "recyclables",
                "category": "waste_sorting",
                "label": "回收纸皮",
                "type": "tiered",
                "params": {
                    "unit": "kg",
                    "mode": "marginal",
                    "tiers": [
                        {"min_quantity": "0", "points": "0.5"},
                        {"min_quantity": "10", "points": "1"},
                    ],
                    "rounding": "down",
                },
                "allow_repeats": True,
            },
            {
                "id": "gambling",
                "category": "conduct",
                "label": "参与赌博",
                "type": "deduction",
                "params": {"points": 20},
                "evidence": ["document"],
            },
        ],
    }
