"""Idempotency-Key for POST requests.

A retry with the same key and the same request gets the first (successful) response
again and books nothing new; the same key with another request is refused. The stored
response is written in the same database transaction as the work it describes, so
either both exist or neither does. Refusals are not stored: a retry is judged afresh.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from jifen.db import BATCH_AWARE, BatchParticipant, Database, current_batch, write_batch
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


def without_boundary(content_type: str, body: bytes) -> bytes:
    """A multipart body with its boundary replaced by a fixed one: a client picks a new
    boundary for each request, so a retried upload would otherwise never hash the same."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return body
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return body.replace(b"--" + value.strip().strip('"').encode("latin-1"), b"--boundary")
    return body


def check_key(key: str, length_max: int) -> None:
    if not key or len(key) > length_max or not key.isprintable():
        message = f"{HEADER} must be 1-{length_max} printable characters"
        message_zh = f"{HEADER} 应为 1 至 {length_max} 个可打印字符"
        error = {"location": ["header", HEADER], "message": message, "type": "value_error"}
        raise ValidationFailed(
            message,
            detail_zh=f"请求头 {HEADER}：{message_zh}",
            errors=[{**error, "message_zh": message_zh}],
        )


@dataclass(frozen=True)
class _Record:
    method: str
    path: str
    request_hash: str
    status_code: int
    response_body: bytes


_records = cast(Table, IdempotencyRecord.__table__)
_INSERT = insert(_records).inline()
# Records this transaction stored are in its write batch (_Written): the database is
# asked only about the others, and needs no flush first.
_LOOKUP = (
    select(
        _records.c.method,
        _records.c.path,
        _records.c.request_hash,
        _records.c.status_code,
        _records.c.response_body,
    )
    .where(_records.c.principal == bindparam("principal"), _records.c.key == bindparam("key"))
    .execution_options(**BATCH_AWARE)
)


_LOOKUP_MANY = select(
    _records.c.principal,
    _records.c.key,
    _records.c.method,
    _records.c.path,
    _records.c.request_hash,
    _records.c.status_code,
    _records.c.response_body,
).execution_options(**BATCH_AWARE)


class _Written(BatchParticipant):
    """The records stored by this transaction, by (principal, key); and, for a group
    commit, those its units announced they would look up, read in one statement."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], _Record] = {}
        self.expected: set[tuple[str, str]] = set()
        self.absent: set[tuple[str, str]] = set()

    def prefetch(self, connection: Connection) -> None:
        wanted = self.expected - self.records.keys() - self.absent
        self.expected.clear()
        if not wanted:
            return
        rows = connection.execute(
            # An OR of equalities uses the (principal, key) index on both databases, where
            # SQLite plans a row-value IN over the whole index.
            _LOOKUP_MANY.where(
                or_(
                    *(
                        and_(_records.c.principal == principal, _records.c.key == key)
                        for principal, key in sorted(wanted)
                    )
                )
            )
        ).all()
        for row in rows:
            self.records[(row.principal, row.key)] = _Record(*row[2:])
        self.absent |= wanted - self.records.keys()


def expect(session: Session, *, principal: str, key: str) -> None:
    """Announce a lookup of this key (group commit: read with the others' at once)."""
    _written(session).expected.add((principal, key))


def _written(session: Session) -> _Written:
    written: _Written = write_batch(session).participant("idempotency", _Written)
    return written


def lookup(session: Session, *, principal: str, key: str, fingerprint: str) -> Stored | None:
    batch = current_batch(session)
    written: _Written | None = batch.participant_if_any("idempotency") if batch else None
    record = written.records.get((principal, key)) if written else None
    if record is None and written is not None and (principal, key) in written.absent:
        return None
    if record is None:
        row = (
            session.connection()
            .execute(_LOOKUP, {"principal": principal, "key": key})
            .one_or_none()
        )
        record = _Record(*row) if row is not None else None
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"{HEADER} {key!r} was first used for {record.method} {record.path} with another body",
            detail_zh=f"幂等键 {key!r} 已用于请求 {record.method} {record.path}，且请求内容不同",
            idempotency_key=key,
        )
    return Stored(record.status_code, record.response_body)


def store(
    session: Session,
    *,
    principal: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    status_code: int,
    body: bytes,
    now: datetime,
) -> None:
    """Keep the answer, in the transaction of the work it describes."""
    batch = write_batch(session)
    written = _written(session)
    written.records[(principal, key)] = _Record(method, path, fingerprint, status_code, body)
    batch.remember(lambda: written.records.pop((principal, key), None))
    batch.defer(
        _INSERT,
        {
            "principal": principal,
            "key": key,
            "method": method,
            "path": path,
            "request_hash": fingerprint,
            "status_code": status_code,
            "response_body": body,
            "created_at": now,
        },
    )


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    purged: int
    batches: int


_PURGE_CHUNK = 200  # pairs per DELETE statement: well under any driver's parameter limit


def purge_expired(
    database: Database,
    *,
    now: datetime,
    progress: Callable[[str], None] = lambda _line: None,
) -> PurgeReport:
    """Delete the stored answers older than the retention (JIFEN_IDEMPOTENCY_RETENTION_DAYS),
    oldest first, each batch of JIFEN_IDEMPOTENCY_PURGE_BATCH rows in a transaction of its
    own, so that no lock is held long and an interrupted purge simply resumes next time.

    A retry of a purged key is judged afresh; the ledger still refuses to book it twice,
    because an entry's (village, actor, idempotency key) is unique."""
    settings = database.settings
    cutoff = now - timedelta(days=settings.idempotency_retention_days)
    oldest = (
        select(_records.c.principal, _records.c.key)
        .where(_records.c.created_at < cutoff)
        .order_by(_records.c.created_at, _records.c.principal, _records.c.key)
        .limit(settings.idempotency_purge_batch)
    )
    purged = batches = 0
    while True:
        with database.unit_of_work() as session:
            pairs = [(row.principal, row.key) for row in session.execute(oldest)]
            for start in range(0, len(pairs), _PURGE_CHUNK):
                chunk = pairs[start : start + _PURGE_CHUNK]
                session.execute(
                    delete(_records).where(
                        _records.c.created_at < cutoff,
                        or_(
                            *(
                                and_(_records.c.principal == principal, _records.c.key == key)
                                for principal, key in chunk
                            )
                        ),
                    )
                )
        if not pairs:
            break
        purged += len(pairs)
        batches += 1
        progress(f"idempotency records older than {cutoff.isoformat()}: {purged} purged")
        if len(pairs) < settings.idempotency_purge_batch:
            break
    return PurgeReport(cutoff=cutoff, purged=purged, batches=batches)
