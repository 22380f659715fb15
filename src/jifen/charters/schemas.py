"""Charter API shapes, with the examples the OpenAPI document shows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import ConfigDict, Field

from jifen.kit.schemas import Schema

EXAMPLE_CHARTER: dict[str, Any] = {
    "title": "清泉村村规民约积分制（2026 年修订）",
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
        "public_notice": {"days": 7, "categories": []},
        "expiry": {"policy": "carry_over", "clear_on": "01-01"},
    },
    "rules": [
        {
            "id": "labor_hour",
            "category": "labor",
            "label": "义务劳动",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            "moves": ["points", "merit"],
            "caps": [{"per": "member", "period": "day", "max_points": 16}],
            "recorders": ["village_clerk", "group_leader", "resident", "check_in"],
            "evidence": ["photo"],
        },
        {
            "id": "lane_rubbish",
            "category": "sanitation",
            "label": "房前屋后乱堆乱放",
            "type": "deduction",
            "params": {"points": 5, "max_points": 25},
            "moves": ["points"],
            "recorders": ["village_clerk"],
            "evidence": ["photo", "inspector"],
        },
    ],
    "category_caps": [],
}

EXAMPLE_CHARTER_YAML = """\
title: 清泉村村规民约积分制（2026 年修订）
effective_on: 2026-01-01
settings:
  points_holder: household
rules:
  - id: meeting
    category: participation
    label: 参加村民大会
    type: fixed
    params: {points: 2}
"""


_VERSION_EXAMPLE: dict[str, Any] = {
    "id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f",
    "village_id": "01936f0e-7b5a-7c2d-9f00-000000000001",
    "version": 2,
    "title": EXAMPLE_CHARTER["title"],
    "effective_on": "2026-01-01",
    "status": "published",
    "document_sha256": "9f2c…",
    "created_at": "2025-12-20T02:00:00Z",
    "created_by": "user:01936f0e-…",
    "published_at": "2025-12-28T02:00:00Z",
    "published_by": "user:01936f0e-…",
    "document": EXAMPLE_CHARTER,
}


class RuleTypeRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "per_unit",
                    "label": "按数量计分",
                    "params_schema": {"type": "object"},
                    "distribution": "jifen",
                }
            ]
        }
    )

    name: str = Field(description="what charters write as a rule's `type`")
    label: str
    params_schema: dict[str, Any] = Field(description="JSON Schema of the rule's `params`")
    distribution: str | None = Field(description="the Python package that registered it")


class CharterVersionRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [_VERSION_EXAMPLE]},
    )

    id: uuid.UUID
    village_id: uuid.UUID
    version: int
    title: str
    effective_on: date
    status: str = Field(description="draft or published")
    document_sha256: str
    created_at: datetime
    created_by: str
    published_at: datetime | None
    published_by: str | None
    document: dict[str, Any]


class CharterVersionSummary(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    key: value
                    for key, value in _VERSION_EXAMPLE.items()
                    if key not in ("created_by", "published_by", "document")
                }
            ]
        },
    )

    id: uuid.UUID
    village_id: uuid.UUID
    version: int
    title: str
    effective_on: date
    status: str
    document_sha256: str
    created_at: datetime
    published_at: datetime | None
