"""Expiring-points API shapes, with the examples the OpenAPI document shows."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field

from jifen.expiry.service import Expiring, HolderExpiring
from jifen.kit.schemas import Schema

_EXAMPLE: dict[str, Any] = {
    "account_id": "01936f0e-7b5a-7c2d-9f00-00000000d001",
    "holder": "household",
    "member_id": None,
    "household_id": "01936f0e-7b5a-7c2d-9f00-00000000b001",
    "name": "王建国",
    "points": 35,
    "expiring": [
        {"expires_on": "2026-01-10", "points": 35, "kind": "clearing", "policy": "yearly_clear"}
    ],
}


class ExpiringRead(Schema):
    expires_on: date = Field(
        description="The last day these points can be spent: they are gone at its end "
        "(a day already past means the next `jifen tick` takes them)"
    )
    points: int = Field(description="Points that expire then, as the account stands now")
    kind: Literal["expiry", "clearing"] = Field(
        description="expiry: earned lots reaching their age (after_months); clearing: the "
        "yearly clearing (yearly_clear)"
    )
    policy: str = Field(description="The charter's expiry policy that makes them expire")

    @classmethod
    def of(cls, item: Expiring) -> ExpiringRead:
        return cls(
            expires_on=item.on,
            points=item.points,
            kind=item.kind.value,  # type: ignore[arg-type]  # never "debt": not listed
            policy=item.policy,
        )


class HolderExpiringRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    account_id: uuid.UUID = Field(description="The holder's spendable points account")
    holder: Literal["member", "household"]
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    name: str = Field(description="The account's name: the member's, or the household's")
    points: int = Field(description="All the points listed below")
    expiring: list[ExpiringRead] = Field(description="By day, earliest first")

    @classmethod
    def of(cls, item: HolderExpiring) -> HolderExpiringRead:
        holder = item.holder
        return cls(
            account_id=holder.account_id,
            holder=holder.kind,  # type: ignore[arg-type]  # member or household
            member_id=holder.member_id,
            household_id=holder.household_id,
            name=holder.name,
            points=item.points,
            expiring=[ExpiringRead.of(e) for e in item.expiring],
        )
