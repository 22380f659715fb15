"""Pydantic building blocks shared by the API schemas."""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

DETAILS_BYTES_MAX = 8192


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageRead(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > DETAILS_BYTES_MAX:
        raise ValueError(f"metadata is {size} bytes; at most {DETAILS_BYTES_MAX} allowed")
    return value


Details = Annotated[dict[str, Any], AfterValidator(_small_json)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
