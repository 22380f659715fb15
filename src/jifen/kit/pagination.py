"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


SEQ_MAX = 2**62


class CursorError(ValueError):
    """A cursor this service did not give out (or one that was altered)."""


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise CursorError(cursor) from exc
    if not isinstance(value, dict):
        raise CursorError(cursor)
    return value


def uuid_after(cursor: str | None) -> uuid.UUID | None:
    """The id a keyset page ordered by id continues after."""
    if cursor is None:
        return None
    value = decode_cursor(cursor).get("id")
    try:
        return uuid.UUID(value) if isinstance(value, str) else _invalid(cursor)
    except ValueError as exc:
        raise CursorError(cursor) from exc


def seq_before(cursor: str | None) -> int | None:
    """The sequence number a newest-first page continues before."""
    if cursor is None:
        return None
    value = decode_cursor(cursor).get("seq")
    if type(value) is not int or not 0 < value <= SEQ_MAX:
        _invalid(cursor)
    return value


def _invalid(cursor: str) -> Any:
    raise CursorError(cursor)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_of(rows: list[T], limit: int, position: Callable[[T], dict[str, Any]]) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only says there is more."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(position(rows[-1])))


def page_by_id(
    session: Any,
    query: Any,
    model: Any,
    limit: int,
    cursor: str | None,
    *,
    newest_first: bool = False,
) -> Page[Any]:
    """A page of `query` (over `model`) in id order (UUIDv7: time order), oldest or
    newest first, after the row the cursor names."""
    column = model.id
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(column < after if newest_first else column > after)
    query = query.order_by(column.desc() if newest_first else column).limit(limit + 1)
    rows = list(session.execute(query).scalars())
    return page_of(rows, limit, lambda row: {"id": row.id.hex})
