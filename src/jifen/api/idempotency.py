"""Idempotency-Key for POST requests.

A retry with the same key and the same request gets the first (successful) response
again and books nothing new; the same key with another request is refused. The stored
response is written in the same database transaction as the work it describes, so
either both exist or neither does. Refusals are not stored: a retry is judged afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.kit.canonical import canonical_json, sha256_hex
from jifen.models import IdempotencyRecord
from jifen.problems import IdempotencyKeyReused, ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: bytes


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """Same request, same hash — whatever the JSON's key order or spacing."""
    try:
        normalised = canonical_json(json.loads(body)) if body else b""
    except (ValueError, RecursionError):
        # Not JSON the app could read either: the request will be refused on its own.
        normalised = body
    return sha256_hex(method.encode(), b" ", path.encode(), b"?", query.encode(), b"\n", normalised)


def check_key(key: str, length_max: int) -> None:
    if not key or len(key) > length_max or not key.isprintable():
        message = f"{HEADER} must be 1-{length_max} printable characters"
        raise ValidationFailed(
            message,
            errors=[{"location": ["header", HEADER], "message": message, "type": "value_error"}],
        )


def lookup(session: Session, *, principal: str, key: str, fingerprint: str) -> Stored | None:
    record = session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
        )
    ).scalar_one_or_none()
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"{HEADER} {key!r} was first used for {record.method} {record.path} with another body",
            idempotency_key=key,
        )
    return Stored(record.status_code, record.response_body)
