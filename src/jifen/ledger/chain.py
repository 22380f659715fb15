"""Entries as plain records, and the hash that chains them in a village's books."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jifen.kit.canonical import canonical_json, sha256_hex

CHAIN_VERSION = 1


@dataclass(frozen=True)
class PostingRecord:
    position: int
    account_id: uuid.UUID
    asset: str
    amount: int
    effect: str
    balance_after: int


@dataclass(frozen=True)
class EntryRecord:
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    code: str
    memo: str
    details: dict[str, Any]
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    is_pending: bool
    allow_below_floor: bool
    pending_entry_id: uuid.UUID | None
    reverses_entry_id: uuid.UUID | None
    idempotency_key: str | None
    prev_hash: str
    hash: str
    postings: tuple[PostingRecord, ...]


def entry_hash(entry: EntryRecord) -> str:
    """SHA-256 over the canonical JSON of everything in the entry but its own hash."""
    content = {
        "v": CHAIN_VERSION,
        "id": entry.id,
        "township_id": entry.township_id,
        "village_id": entry.village_id,
        "seq": entry.seq,
        "code": entry.code,
        "memo": entry.memo,
        "metadata": entry.details,
        "actor": entry.actor,
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
        "is_pending": entry.is_pending,
        "allow_below_floor": entry.allow_below_floor,
        "pending_entry_id": entry.pending_entry_id,
        "reverses_entry_id": entry.reverses_entry_id,
        "idempotency_key": entry.idempotency_key,
        "prev_hash": entry.prev_hash,
        "postings": [
            [p.position, p.account_id, p.asset, p.amount, p.effect, p.balance_after]
            for p in sorted(entry.postings, key=lambda p: p.position)
        ],
    }
    return sha256_hex(canonical_json(content))
