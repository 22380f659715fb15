"""Writing signed checkpoints (file first, then the database) and checking a village's
chain against them."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.checkpoints import keys
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.canonical import format_instant
from jifen.kit.clock import as_utc
from jifen.kit.ids import new_id
from jifen.models import GENESIS_HASH, Book, Checkpoint, CheckpointKey, Entry, Township, Village
from jifen.problems import NotFound
from jifen.webhooks import events

FILE_GLOB = "checkpoints-*.jsonl"
# Entries looked up at once when comparing a chain with its checkpoints.
LOOKUP_CHUNK = 500


class CheckpointsNotConfigured(Exception):
    """No signing key, or nowhere outside the database to keep the checkpoints."""


class CheckpointFileBusy(Exception):
    """Another run held the month's checkpoint file longer than LOCK_WAIT_SECONDS."""


# How long a run waits for another to finish appending (it holds the lock for a write
# and an fsync): past it, this run signs nothing and says so.
LOCK_WAIT_SECONDS = 30.0
_LOCK_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    key_id: str


def find_signer(settings: Settings) -> Signer | None:
    """The configured signing key, or None if none is configured. Raises KeyUnusable."""
    if settings.checkpoint_key_file:
        key = keys.private_key_from_file(Path(settings.checkpoint_key_file))
    elif settings.checkpoint_key is not None:
        key = keys.private_key_from_secret(settings.checkpoint_key.get_secret_value())
    else:
        return None
    public = key.public_key()
    return Signer(key, public, keys.key_id_of(public))


def require_setup(settings: Settings) -> tuple[Signer, Path]:
    """The signer and the directory, or CheckpointsNotConfigured saying what is missing."""
    signer = find_signer(settings)
    if signer is None:
        raise CheckpointsNotConfigured(
            "no signing key: set JIFEN_CHECKPOINT_KEY_FILE (make one with "
            "`jifen checkpoint-keygen --out FILE`) or JIFEN_CHECKPOINT_KEY"
        )
    if not settings.checkpoint_dir:
        raise CheckpointsNotConfigured(
            "JIFEN_CHECKPOINT_DIR is not set: a checkpoint kept only in the database "
            "does not survive a rewrite of the database"
        )
    return signer, Path(settings.checkpoint_dir)


# --- the file copy ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedStatement:
    statement: keys.Statement
    signature: str
    origin: str  # file:line, for messages

    def line(self) -> str:
        return json.dumps(
            {**self.statement.content(), "signature": self.signature},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )


def file_for(directory: Path, instant: datetime) -> Path:
    """One file a month (UTC): old months can be archived whole."""
    return directory / f"checkpoints-{as_utc(instant):%Y-%m}.jsonl"


def append(directory: Path, signed: Sequence[SignedStatement], instant: datetime) -> Path:
    """Append the lines and make them durable before the database copy is written."""
    directory.mkdir(parents=True, exist_ok=True)
    target = file_for(directory, instant)
    with target.open("a", encoding="utf-8") as out:
        # Two runs at once (a tick and an operator) never interleave their lines.
        _lock(out.fileno(), target)
        try:
            for item in signed:
                out.write(item.line() + "\n")
            out.flush()
            os.fsync(out.fileno())
        finally:
            fcntl.flock(out.fileno(), fcntl.LOCK_UN)
    return target


def _lock(fd: int, target: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise CheckpointFileBusy(
                    f"{target} is locked by another run for over {LOCK_WAIT_SECONDS:.0f} s"
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)


def _statement_of(data: Any) -> tuple[keys.Statement, str]:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("v") != keys.STATEMENT_VERSION or data.get("kind") != keys.STATEMENT_KIND:
        raise ValueError("not a jifen checkpoint of a known version")
    seq, head_hash, key_id, signature = (
        data.get(name) for name in ("seq", "head_hash", "key_id", "signature")
    )
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq is not a non-negative integer")
    if not all(isinstance(value, str) for value in (head_hash, key_id, signature)):
        raise ValueError("head_hash, key_id and signature must be strings")
    statement = keys.Statement(
        township_id=uuid.UUID(str(data.get("township_id"))),
        village_id=uuid.UUID(str(data.get("village_id"))),
        seq=seq,
        head_hash=str(head_hash),
        signed_at=datetime.fromisoformat(str(data.get("signed_at"))),
        key_id=str(key_id),
    )
    return statement, str(signature)


@dataclass
class Found:
    """What the checkpoint files hold, by village, and the lines that could not be read."""

    by_village: dict[uuid.UUID, list[SignedStatement]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unreadable: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def read(source: Path) -> Found:
    """Every checkpoint in a file, or in the monthly files of a directory."""
    found = Found()
    found.files = sorted(source.glob(FILE_GLOB)) if source.is_dir() else [source]
    for path in found.files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                origin = f"{path}:{number}"
                try:
                    statement, signature = _statement_of(json.loads(line))
                except (ValueError, TypeError) as exc:
                    found.unreadable.append(f"{origin}: unreadable checkpoint line ({exc})")
                    continue
                found.by_village[statement.village_id].append(
                    SignedStatement(statement, signature, origin)
                )
    return found


# --- checking a chain -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointCheck:
    village_id: uuid.UUID
    checkpoints: int
    latest: keys.Statement | None
    problems: list[str]

    @property
    def holds(self) -> bool:
        return not self.problems


def chain_end(session: Session, village_id: uuid.UUID) -> int:
    """The highest seq of the village's entries (0 for none)."""
    last = session.execute(
        select(func.max(Entry.seq)).where(Entry.village_id == village_id)
    ).scalar_one()
    return int(last or 0)


def contradictions(
    session: Session, village_id: uuid.UUID, heads: Iterable[tuple[int, str]]
) -> list[str]:
    """What in the chain contradicts these signed heads (seq, hash): the newest entries
    gone (the head rewound) or an entry whose hash is not the one signed."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for seq, head_hash in heads:
        wanted[seq].add(head_hash)
    if not wanted:
        return []
    problems = []
    end = chain_end(session, village_id)
    highest = max(wanted)
    if highest > end:
        problems.append(f"entries after sequence {end} missing (checkpoint had {highest})")
    present = sorted(seq for seq in wanted if 1 <= seq <= end)
    stored: dict[int, str] = {}
    for start in range(0, len(present), LOOKUP_CHUNK):
        chunk = present[start : start + LOOKUP_CHUNK]
        for seq, head_hash in session.execute(
            select(Entry.seq, Entry.hash).where(
                Entry.village_id == village_id, Entry.seq.in_(chunk)
            )
        ):
            stored[seq] = head_hash
    for seq in sorted(wanted):
        if seq == 0:
            if wanted[0] != {GENESIS_HASH}:
                problems.append("a checkpoint of the empty chain has a hash other than genesis")
            continue
        if seq > end:
            continue
        if seq not in stored:
            problems.append(f"entry #{seq} missing")
            continue
        changed = sorted(h for h in wanted[seq] if h != stored[seq])
        if changed:
            problems.append(
                f"entry #{seq} hash changed (checkpoint has {changed[0][:16]}…, "
                f"the chain has {stored[seq][:16]}…)"
            )
    return problems


def check(
    session: Session,
    village_id: uuid.UUID,
    signed: Sequence[SignedStatement],
    trusted: dict[str, Ed25519PublicKey],
) -> CheckpointCheck:
    """Check a village's chain against its checkpoints from the files: each signature
    must hold under a trusted key; the chain must contain every signed head."""
    problems = []
    good: list[keys.Statement] = []
    for item in signed:
        public = trusted.get(item.statement.key_id)
        at = format_instant(item.statement.signed_at)
        if public is None:
            problems.append(
                f"checkpoint of {at} ({item.origin}) is signed by key {item.statement.key_id}, "
                "which is not trusted here (give its public key with --public-key)"
            )
        elif not keys.signature_holds(public, item.statement, item.signature):
            problems.append(f"signature invalid: checkpoint of {at} ({item.origin})")
        else:
            good.append(item.statement)
    problems += contradictions(session, village_id, ((s.seq, s.head_hash) for s in good))
    latest = max(good, key=lambda s: (s.seq, as_utc(s.signed_at)), default=None)
    return CheckpointCheck(village_id, len(signed), latest, problems)


# --- writing checkpoints ----------------------------------------------------------------


@dataclass
class RunReport:
    signed: int = 0
    refused: int = 0
    path: Path | None = None
    key_id: str = ""
    # Why the run could not sign at all (an unusable key).
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.refused > 0 or self.error is not None


def last_signed_at(session: Session) -> datetime | None:
    return session.execute(select(func.max(Checkpoint.signed_at))).scalar_one()


def is_due(session: Session, *, now: datetime, every_minutes: int) -> bool:
    """Whether the last checkpoint is older than the interval. One dated after `now` does
    not hold the schedule back (a row dated ahead would otherwise stop it for good)."""
    last = last_signed_at(session)
    if last is None or as_utc(last) > as_utc(now):
        return True
    return as_utc(last) <= as_utc(now) - timedelta(minutes=every_minutes)


def _previous_contradiction(session: Session, village_id: uuid.UUID, signer: Signer) -> str | None:
    """Whether the chain contradicts the village's last checkpoint in the database (whose
    signature must hold): then its head is not signed, so that a checkpoint never
    blesses a rewound or rewritten chain."""
    previous = session.execute(
        select(Checkpoint)
        .where(Checkpoint.village_id == village_id)
        .order_by(Checkpoint.signed_at.desc(), Checkpoint.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if previous is None:
        return None
    public = signer.public_key if previous.key_id == signer.key_id else None
    if public is None:
        stored = session.get(CheckpointKey, previous.key_id)
        if stored is not None:
            with contextlib.suppress(keys.KeyUnusable, ValueError):
                public = keys.public_key_from_text(stored.public_key.encode(), "checkpoint_keys")
    statement = statement_of(previous)
    if public is None or not keys.signature_holds(public, statement, previous.signature):
        return f"the last checkpoint ({format_instant(previous.signed_at)}) does not verify"
    found = contradictions(session, village_id, [(previous.seq, previous.head_hash)])
    return "; ".join(found) if found else None


def checkpoint_data(row: Checkpoint, statement: keys.Statement) -> dict[str, Any]:
    """A checkpoint as plain JSON (events), with the exact statement that was signed."""
    return {
        "id": str(row.id),
        "seq": row.seq,
        "head_hash": row.head_hash,
        "signed_at": format_instant(row.signed_at),
        "key_id": row.key_id,
        "signature": row.signature,
        "signed_statement": statement.message().decode("utf-8"),
    }


def statement_of(row: Checkpoint) -> keys.Statement:
    return keys.Statement(
        township_id=row.township_id,
        village_id=row.village_id,
        seq=row.seq,
        head_hash=row.head_hash,
        signed_at=row.signed_at,
        key_id=row.key_id,
    )


def villages(
    session: Session, *, township: str | None = None
) -> list[tuple[uuid.UUID, uuid.UUID, str, str]]:
    """(village id, township id, code, name) of every village, or a township's (by id or
    code), in a stable order."""
    query = (
        select(Village.id, Village.township_id, Village.code, Village.name, Township.code)
        .join(Township, Township.id == Village.township_id)
        .order_by(Township.code, Village.code)
    )
    return [
        (village_id, township_id, code, name)
        for village_id, township_id, code, name, town_code in session.execute(query)
        if township in (None, town_code, str(township_id))
    ]


def write(
    database: Database,
    *,
    signer: Signer,
    directory: Path,
    now: datetime,
    township: str | None = None,
    step: Callable[[str], None],
    begin: Callable[[int], None] | None = None,
) -> RunReport:
    """Sign every village's head (or a township's): each read in a transaction of its
    own, checked against the village's last checkpoint first. The lines go to the file
    (made durable) before the rows go to the database."""
    report = RunReport(key_id=signer.key_id)
    with database.unit_of_work(write=False) as session:
        targets = villages(session, township=township)
    if township is not None and not targets:
        raise NotFound("township", township)
    if begin is not None:
        begin(len(targets))
    signed: list[SignedStatement] = []
    for village_id, township_id, code, name in targets:
        with database.unit_of_work(write=False) as session:
            book = session.get(Book, village_id)
            refusal = _previous_contradiction(session, village_id, signer)
            if book is None:
                refusal = "the village has no books"
        if refusal is not None or book is None:
            report.refused += 1
            step(f"{code} {name}: NOT SIGNED: {refusal}")
            continue
        statement = keys.Statement(
            township_id=township_id,
            village_id=village_id,
            seq=book.last_seq,
            head_hash=book.last_hash,
            signed_at=now,
            key_id=signer.key_id,
        )
        signed.append(SignedStatement(statement, keys.sign(signer.key, statement), ""))
        step(f"{code} {name}: head seq {book.last_seq} signed")
    if not signed:
        return report
    report.path = append(directory, signed, now)
    with database.unit_of_work() as session:
        if session.get(CheckpointKey, signer.key_id) is None:
            session.add(
                CheckpointKey(
                    key_id=signer.key_id,
                    public_key=base64.b64encode(keys.raw_public(signer.public_key)).decode(),
                    first_used_at=now,
                )
            )
            session.flush()
        for item in signed:
            row = Checkpoint(
                id=new_id(),
                township_id=item.statement.township_id,
                village_id=item.statement.village_id,
                seq=item.statement.seq,
                head_hash=item.statement.head_hash,
                signed_at=now,
                key_id=signer.key_id,
                signature=item.signature,
            )
            session.add(row)
            events.emit(
                session,
                event_type=events.EventType.CHECKPOINT_WRITTEN,
                township_id=row.township_id,
                village_id=row.village_id,
                data={"checkpoint": checkpoint_data(row, item.statement)},
                now=now,
            )
    report.signed = len(signed)
    return report


# --- reading the database copy (the API) ------------------------------------------------


def list_of_village(session: Session, village_id: uuid.UUID, *, limit: int) -> list[Checkpoint]:
    """The village's checkpoints, newest first (none yet: an empty list)."""
    if session.get(Book, village_id) is None:
        raise NotFound("village", village_id)
    return list(
        session.execute(
            select(Checkpoint)
            .where(Checkpoint.village_id == village_id)
            .order_by(Checkpoint.signed_at.desc(), Checkpoint.seq.desc())
            .limit(limit)
        ).scalars()
    )


def latest_of_township(session: Session, township_id: uuid.UUID) -> list[Checkpoint]:
    """The latest checkpoint of each village of the township that has one."""
    if session.get(Township, township_id) is None:
        raise NotFound("township", township_id)
    newest = (
        select(Checkpoint.village_id, func.max(Checkpoint.signed_at).label("signed_at"))
        .where(Checkpoint.township_id == township_id)
        .group_by(Checkpoint.village_id)
        .subquery()
    )
    rows = session.execute(
        select(Checkpoint)
        .join(
            newest,
            (newest.c.village_id == Checkpoint.village_id)
            & (newest.c.signed_at == Checkpoint.signed_at),
        )
        .order_by(Checkpoint.village_id, Checkpoint.seq.desc())
    ).scalars()
    latest: dict[uuid.UUID, Checkpoint] = {}
    for row in rows:
        latest.setdefault(row.village_id, row)
    return list(latest.values())


def list_keys(session: Session) -> list[CheckpointKey]:
    return list(
        session.execute(select(CheckpointKey).order_by(CheckpointKey.first_used_at)).scalars()
    )


# --- what `jifen verify` checks against -------------------------------------------------


@dataclass
class Audit:
    """The checkpoints found outside the database and the keys trusted to have signed
    them."""

    source: Path
    found: Found
    trusted: dict[str, Ed25519PublicKey]

    def check(self, session: Session, village_id: uuid.UUID) -> CheckpointCheck:
        return check(session, village_id, self.found.by_village.get(village_id, []), self.trusted)


def audit_for(
    settings: Settings, *, source: Path | None, public_keys: Sequence[Path]
) -> Audit | None:
    """The checkpoints `verify` checks against: those of `source` (a file, or a directory
    of monthly files), else of JIFEN_CHECKPOINT_DIR; None if neither is given. Trusted
    keys: the configured signing key's public half and each of `public_keys`. Raises
    CheckpointsNotConfigured or KeyUnusable with a message for the operator."""
    if source is None:
        if not settings.checkpoint_dir:
            return None
        source = Path(settings.checkpoint_dir)
        if not source.exists():
            return Audit(source, Found(), {})
    elif not source.exists():
        raise CheckpointsNotConfigured(f"--checkpoints {source}: no such file or directory")
    trusted: dict[str, Ed25519PublicKey] = {}
    signer = find_signer(settings)
    if signer is not None:
        trusted[signer.key_id] = signer.public_key
    for path in public_keys:
        public = keys.public_key_from_file(path)
        trusted[keys.key_id_of(public)] = public
    found = read(source)
    if (found.by_village or found.unreadable) and not trusted:
        raise CheckpointsNotConfigured(
            f"{source} holds checkpoints, but no key to check them with: give "
            "--public-key FILE, or configure JIFEN_CHECKPOINT_KEY_FILE"
        )
    return Audit(source, found, trusted)


def scheduled(
    database: Database, settings: Settings, *, now: datetime, progress: Callable[[str], None]
) -> RunReport | None:
    """`jifen tick`'s part: sign every village's head when the last checkpoint is older
    than JIFEN_CHECKPOINT_EVERY_MINUTES. Without a key or a directory it says so and
    skips; None when nothing was due."""
    try:
        signer = find_signer(settings)
    except keys.KeyUnusable as exc:
        progress(f"checkpoints: NOT WRITTEN: the signing key is unusable: {exc}")
        return RunReport(error=str(exc))
    if signer is None:
        progress(
            "checkpoints: skipped: no key configured "
            "(JIFEN_CHECKPOINT_KEY_FILE or JIFEN_CHECKPOINT_KEY)"
        )
        return None
    if not settings.checkpoint_dir:
        progress("checkpoints: skipped: JIFEN_CHECKPOINT_DIR is not set")
        return None
    with database.unit_of_work(write=False) as session:
        due = is_due(session, now=now, every_minutes=settings.checkpoint_every_minutes)
    if not due:
        progress(f"checkpoints: not due (every {settings.checkpoint_every_minutes} minutes)")
        return None
    try:
        return write(
            database,
            signer=signer,
            directory=Path(settings.checkpoint_dir),
            now=now,
            step=lambda line: progress(f"checkpoint: {line}"),
        )
    except CheckpointFileBusy as exc:
        progress(f"checkpoints: NOT WRITTEN: {exc}")
        return RunReport(error=str(exc))
