"""Pydantic building blocks shared by the API schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

T = TypeVar("T")

DETAILS_BYTES_MAX = 8192


INSTANT_MIN = datetime(2000, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2999, 12, 31, tzinfo=UTC)


class Invalid(ValueError):
    """A validator's refusal that says it in Chinese too: a 422's `errors` carry
    `message_zh` from it (a plain ValueError gets a general Chinese message)."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.message_zh = message_zh


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class InputSchema(Schema):
    """A request body."""

    @field_validator("*", mode="after")
    @classmethod
    def _text_has_no_nul(cls, value: object) -> object:
        # PostgreSQL cannot store NUL in text, and no client has a reason to send it.
        if _has_nul(value):
            raise Invalid("text must not contain NUL characters", "文本不得包含 NUL 字符")
        return value


class PageRead(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN or Infinity: not JSON, and not storable everywhere
        raise Invalid(
            "metadata must not contain NaN or Infinity", "metadata 不得包含 NaN 或 Infinity"
        ) from exc
    size = len(text.encode())
    if size > DETAILS_BYTES_MAX:
        raise Invalid(
            f"metadata is {size} bytes; at most {DETAILS_BYTES_MAX} allowed",
            f"metadata 为 {size} 字节，最多允许 {DETAILS_BYTES_MAX} 字节",
        )
    return value


def _in_range(value: datetime) -> datetime:
    if not INSTANT_MIN <= value <= INSTANT_MAX:
        raise Invalid(
            f"must lie between {INSTANT_MIN.year} and {INSTANT_MAX.year}",
            f"应在 {INSTANT_MIN.year} 年至 {INSTANT_MAX.year} 年之间",
        )
    return value


def _whole(value: object) -> object:
    # JSON Schema's integer is any number with no fraction (1.0 is one): accept those, and
    # refuse what a lax int would coerce from other types (strings, booleans).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a whole number", "应为整数")
    if isinstance(value, float):
        if not value.is_integer():
            raise Invalid("must be a whole number", "应为整数")
        return int(value)
    return value


# A whole number as JSON Schema means it (the schema says `integer`).
WholeNumber = Annotated[int, BeforeValidator(_whole)]

# Any JSON value without NUL characters (PostgreSQL cannot store them), as the schema says.
_DETAIL_TEXT = {"type": "string", "pattern": "^[^\\x00]*$"}
_DETAILS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": _DETAIL_TEXT,
    "additionalProperties": {"$ref": "#/components/schemas/DetailValue"},
}
DETAIL_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _DETAIL_TEXT,
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": "#/components/schemas/DetailValue"}},
        {
            "type": "object",
            "propertyNames": _DETAIL_TEXT,
            "additionalProperties": {"$ref": "#/components/schemas/DetailValue"},
        },
    ]
}

Details = Annotated[dict[str, Any], AfterValidator(_small_json), WithJsonSchema(_DETAILS_SCHEMA)]
# An instant with its UTC offset (a bare local time would be ambiguous), within sane years.
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
