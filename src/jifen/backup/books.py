"""`jifen export` and `jifen import`: a village's or township's books as JSON Lines.

The file is one JSON object per line (UTF-8, keys sorted, no spaces), each with a
`type`. The first is the header; then, in this order and sorted as shown:

    header                  format, format_version, scope, schema_revision, as_of, counts
    township                by code
    organisation            by name (a village's export: those its accounts name)
    village                 by code
    household               by village code, number
    member                  by village code, created_at, id
    household_membership    by village code, joined_on, id
    account                 by village code, id
    entry                   by village code, seq; its postings inside it, by position
    balance                 by village code, account id
    books                   by village code: the chain head (last_seq, last_hash)

Nothing else is in it: no users, API keys, OAuth clients, secrets or bindings (never
exported), and no charters, records, boards, notice lists, goods and sales, spaces,
subsidy schemes and settlements, webhooks, idempotency records or checkpoints. Entries
keep what those named (their metadata), so the books replay and verify without them.
The header's `as_of` is the last entry's recorded_at, not the time of the export, so that
exporting the same books twice gives the same bytes.

An import goes into a database holding no township, village, organisation, account or
entry. It reads the whole file first and checks every line: the header's counts, that
every row's parents came before it, every entry's hash and link to the one before,
its posting sums per asset, each posting's balance_after, and every balance and chain
head against the replay. The first failure is named by its line number and nothing is
written. Then everything is written in one database transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from jifen import __version__
from jifen.kit.canonical import format_instant
from jifen.kit.clock import as_utc
from jifen.ledger import writer
from jifen.ledger.chain import EntryRecord, PostingRecord, entry_hash
from jifen.ledger.policy import Effect, Line, delta_of
from jifen.models import (
    GENESIS_HASH,
    Account,
    AccountBalance,
    Book,
    Entry,
    Household,
    HouseholdMembership,
    Member,
    Organisation,
    Posting,
    Township,
    Village,
)
from jifen.problems import NotFound

FORMAT = "jifen-books"
FORMAT_VERSION = 1
READ_CHUNK = 2000
LINE_BYTES_MAX = 1 << 20


class ImportRefused(Exception):
    """The file is not imported; `line` is the first line that fails (0: the database)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


# --- writing --------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _line(kind: str, row: dict[str, Any]) -> bytes:
    body = {key: _text(value) for key, value in row.items()}
    body["type"] = kind
    return (
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")


def _columns(row: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


TOWNSHIP_FIELDS = ("id", "code", "name", "created_at")
ORGANISATION_FIELDS = ("id", "township_id", "name", "kind", "created_at")
VILLAGE_FIELDS = (
    "id",
    "township_id",
    "code",
    "name",
    "allow_below_floor_codes",
    "region",
    "created_at",
)
HOUSEHOLD_FIELDS = (
    "id",
    "township_id",
    "village_id",
    "number",
    "name",
    "split_from_household_id",
    "created_at",
)
MEMBER_FIELDS = (
    "id",
    "township_id",
    "village_id",
    "name",
    "phone",
    "id_number_tail",
    "deactivated_on",
    "deactivation_reason",
    "created_at",
)
MEMBERSHIP_FIELDS = (
    "id",
    "township_id",
    "village_id",
    "household_id",
    "member_id",
    "joined_on",
    "left_on",
    "is_head",
    "created_at",
)
ACCOUNT_FIELDS = (
    "id",
    "township_id",
    "village_id",
    "kind",
    "category",
    "asset",
    "balance_floor",
    "member_id",
    "household_id",
    "organisation_id",
    "owner_ref",
    "name",
    "created_at",
)
BALANCE_FIELDS = (
    "account_id",
    "township_id",
    "village_id",
    "asset",
    "posted",
    "pending_debits",
    "pending_credits",
    "last_seq",
)
BOOKS_FIELDS = ("village_id", "township_id", "last_seq", "last_hash")


@dataclass(frozen=True)
class Scope:
    township: Township
    villages: list[Village]
    village_code: str | None


def find_scope(session: Session, *, township: str | None, village: str | None) -> Scope:
    """The township (by id or code), and its villages or the one given (by id or code).
    NotFound if either is unknown; ValueError if a village code is in two townships and
    no township was given."""
    towns = list(session.execute(select(Township).order_by(Township.code)).scalars())
    if township is not None:
        towns = [t for t in towns if township in (t.code, str(t.id))]
        if not towns:
            raise NotFound("township", township)
    if village is None:
        [town] = towns  # the caller gives a township when no village is given
        villages = list(
            session.execute(
                select(Village).where(Village.township_id == town.id).order_by(Village.code)
            ).scalars()
        )
        return Scope(town, villages, None)
    town_ids = {t.id for t in towns}
    found = [
        v
        for v in session.execute(select(Village).order_by(Village.code)).scalars()
        if village in (v.code, str(v.id)) and v.township_id in town_ids
    ]
    if not found:
        raise NotFound("village", village)
    if len(found) > 1:
        raise ValueError(f"{len(found)} villages are {village!r}: give --township")
    town = session.get_one(Township, found[0].township_id)
    return Scope(town, found, found[0].code)


def schema_revision(session: Session) -> str | None:
    """The database's migration revision, as the export's header names it."""
    from alembic.runtime.migration import MigrationContext

    revision: str | None = MigrationContext.configure(session.connection()).get_current_revision()
    return revision


def export_books(
    session: Session,
    scope: Scope,
    out: IO[bytes],
    *,
    revision: str | None,
    step: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the scope's books to `out`; the counts of each kind. Run it in one read
    transaction (a snapshot): the lines then agree with each other."""
    village_ids = [v.id for v in scope.villages]
    code_of = {v.id: v.code for v in scope.villages}
    accounts = sorted(
        session.execute(select(Account).where(Account.village_id.in_(village_ids))).scalars(),
        key=lambda a: (code_of[a.village_id], str(a.id)),
    )
    organisation_query = select(Organisation).where(Organisation.township_id == scope.township.id)
    if scope.village_code is not None:
        named = {a.organisation_id for a in accounts if a.organisation_id is not None}
        organisation_query = organisation_query.where(Organisation.id.in_(named))
    organisations = sorted(
        session.execute(organisation_query).scalars(), key=lambda o: (o.name, str(o.id))
    )
    households = sorted(
        session.execute(select(Household).where(Household.village_id.in_(village_ids))).scalars(),
        key=lambda h: (code_of[h.village_id], h.number),
    )
    members = sorted(
        session.execute(select(Member).where(Member.village_id.in_(village_ids))).scalars(),
        key=lambda m: (code_of[m.village_id], format_instant(m.created_at), str(m.id)),
    )
    memberships = sorted(
        session.execute(
            select(HouseholdMembership).where(HouseholdMembership.village_id.in_(village_ids))
        ).scalars(),
        key=lambda m: (code_of[m.village_id], m.joined_on, str(m.id)),
    )
    balances = sorted(
        session.execute(
            select(AccountBalance).where(AccountBalance.village_id.in_(village_ids))
        ).scalars(),
        key=lambda b: (code_of[b.village_id], str(b.account_id)),
    )
    heads = {
        b.village_id: b
        for b in session.execute(select(Book).where(Book.village_id.in_(village_ids))).scalars()
    }
    entry_counts = {
        village_id: count
        for village_id, count in session.execute(
            select(Entry.village_id, func.count())
            .where(Entry.village_id.in_(village_ids))
            .group_by(Entry.village_id)
        )
    }
    last_recorded = session.execute(
        select(func.max(Entry.recorded_at)).where(Entry.village_id.in_(village_ids))
    ).scalar_one()
    counts = {
        "township": 1,
        "organisation": len(organisations),
        "village": len(scope.villages),
        "household": len(households),
        "member": len(members),
        "household_membership": len(memberships),
        "account": len(accounts),
        "entry": sum(entry_counts.values()),
        "balance": len(balances),
        "books": len(heads),
    }
    out.write(
        _line(
            "header",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "scope": {
                    "township": scope.township.code,
                    "village": scope.village_code,
                },
                "schema_revision": revision,
                "as_of": format_instant(last_recorded) if last_recorded else None,
                "counts": counts,
                "written_by": f"jifen {__version__}",
            },
        )
    )
    out.write(_line("township", _columns(scope.township, TOWNSHIP_FIELDS)))
    for o in organisations:
        out.write(_line("organisation", _columns(o, ORGANISATION_FIELDS)))
    for v in scope.villages:
        out.write(_line("village", _columns(v, VILLAGE_FIELDS)))
    for h in households:
        out.write(_line("household", _columns(h, HOUSEHOLD_FIELDS)))
    for m in members:
        out.write(_line("member", _columns(m, MEMBER_FIELDS)))
    for hm in memberships:
        out.write(_line("household_membership", _columns(hm, MEMBERSHIP_FIELDS)))
    for a in accounts:
        out.write(_line("account", _columns(a, ACCOUNT_FIELDS)))
    for v in scope.villages:
        written = 0
        for record in _entries_of(session, v.id):
            out.write(_line("entry", _entry_row(record)))
            written += 1
        if step is not None:
            step(f"{v.code} {v.name}: {written} entries")
    for b in balances:
        out.write(_line("balance", _columns(b, BALANCE_FIELDS)))
    for v in scope.villages:
        if v.id in heads:
            out.write(_line("books", _columns(heads[v.id], BOOKS_FIELDS)))
    return counts


def _entries_of(session: Session, village_id: uuid.UUID) -> Iterator[EntryRecord]:
    after = 0
    while True:
        rows = list(
            session.execute(
                select(Entry)
                .where(Entry.village_id == village_id, Entry.seq > after)
                .order_by(Entry.seq)
                .limit(READ_CHUNK)
            ).scalars()
        )
        if not rows:
            return
        by_entry: dict[uuid.UUID, list[PostingRecord]] = defaultdict(list)
        for p in session.execute(
            select(Posting).where(Posting.entry_id.in_([r.id for r in rows]))
        ).scalars():
            by_entry[p.entry_id].append(
                PostingRecord(
                    p.position, p.account_id, p.asset, p.amount, p.effect, p.balance_after
                )
            )
        for row in rows:
            yield EntryRecord(
                id=row.id,
                township_id=row.township_id,
                village_id=row.village_id,
                seq=row.seq,
                code=row.code,
                memo=row.memo,
                details=row.details,
                actor=row.actor,
                occurred_at=row.occurred_at,
                recorded_at=row.recorded_at,
                is_pending=row.is_pending,
                allow_below_floor=row.allow_below_floor,
                pending_entry_id=row.pending_entry_id,
                reverses_entry_id=row.reverses_entry_id,
                idempotency_key=row.idempotency_key,
                prev_hash=row.prev_hash,
                hash=row.hash,
                postings=tuple(sorted(by_entry[row.id], key=lambda p: p.position)),
            )
        after = rows[-1].seq
        session.expunge_all()


def _entry_row(e: EntryRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "township_id": e.township_id,
        "village_id": e.village_id,
        "seq": e.seq,
        "code": e.code,
        "memo": e.memo,
        "metadata": e.details,
        "actor": e.actor,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "is_pending": e.is_pending,
        "allow_below_floor": e.allow_below_floor,
        "pending_entry_id": e.pending_entry_id,
        "reverses_entry_id": e.reverses_entry_id,
        "idempotency_key": e.idempotency_key,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "postings": [
            {
                "position": p.position,
                "account_id": str(p.account_id),
                "asset": p.asset,
                "amount": p.amount,
                "effect": p.effect,
                "balance_after": p.balance_after,
            }
            for p in e.postings
        ],
    }


# --- reading --------------------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Counts(_Row):
    township: int
    organisation: int
    village: int
    household: int
    member: int
    household_membership: int
    account: int
    entry: int
    balance: int
    books: int


class ScopeLine(_Row):
    township: str
    village: str | None


class HeaderLine(_Row):
    type: Literal["header"]
    format: Literal["jifen-books"]
    format_version: int
    scope: ScopeLine
    schema_revision: str | None
    as_of: datetime | None
    counts: Counts
    written_by: str


class TownshipLine(_Row):
    type: Literal["township"]
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class OrganisationLine(_Row):
    type: Literal["organisation"]
    id: uuid.UUID
    township_id: uuid.UUID
    name: str
    kind: str
    created_at: datetime


class VillageLine(_Row):
    type: Literal["village"]
    id: uuid.UUID
    township_id: uuid.UUID
    code: str
    name: str
    allow_below_floor_codes: list[str]
    region: str | None
    created_at: datetime


class HouseholdLine(_Row):
    type: Literal["household"]
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    number: str
    name: str
    split_from_household_id: uuid.UUID | None
    created_at: datetime


class MemberLine(_Row):
    type: Literal["member"]
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    name: str
    phone: str | None
    id_number_tail: str | None
    deactivated_on: date | None
    deactivation_reason: str | None
    created_at: datetime


class MembershipLine(_Row):
    type: Literal["household_membership"]
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID
    joined_on: date
    left_on: date | None
    is_head: bool
    created_at: datetime


class AccountLine(_Row):
    type: Literal["account"]
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    kind: str
    category: str
    asset: str
    balance_floor: int | None
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    owner_ref: str
    name: str
    created_at: datetime


class PostingLine(_Row):
    position: int
    account_id: uuid.UUID
    asset: str
    amount: int
    effect: Literal["posted", "pending", "pending_posted", "pending_voided"]
    balance_after: int


class EntryLine(_Row):
    type: Literal["entry"]
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    code: str
    memo: str
    metadata: dict[str, Any]
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
    postings: list[PostingLine]


class BalanceLine(_Row):
    type: Literal["balance"]
    account_id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    asset: str
    posted: int
    pending_debits: int
    pending_credits: int
    last_seq: int


class BooksLine(_Row):
    type: Literal["books"]
    village_id: uuid.UUID
    township_id: uuid.UUID
    last_seq: int
    last_hash: str


_KINDS: dict[str, type[_Row]] = {
    "header": HeaderLine,
    "township": TownshipLine,
    "organisation": OrganisationLine,
    "village": VillageLine,
    "household": HouseholdLine,
    "member": MemberLine,
    "household_membership": MembershipLine,
    "account": AccountLine,
    "entry": EntryLine,
    "balance": BalanceLine,
    "books": BooksLine,
}
_ORDER = list(_KINDS)
_OBJECT = TypeAdapter(dict[str, Any])


def _parse(number: int, raw: bytes) -> _Row:
    if len(raw) > LINE_BYTES_MAX:
        raise ImportRefused(number, f"longer than {LINE_BYTES_MAX} bytes")
    try:
        body = _OBJECT.validate_json(raw)
    except ValidationError:
        raise ImportRefused(number, "not a JSON object") from None
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ImportRefused(number, f"unknown line type {kind!r}")
    if (number == 1) != (kind == "header"):
        raise ImportRefused(
            number, "the first line must be the header" if number == 1 else "a second header"
        )
    if kind == "header" and body.get("format_version") != FORMAT_VERSION:
        raise ImportRefused(
            number,
            f"format_version {body.get('format_version')!r}: this jifen reads {FORMAT_VERSION}",
        )
    try:
        return _KINDS[kind].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ImportRefused(number, f"{kind}: {where}: {first['msg']}") from None


@dataclass
class _Village:
    id: uuid.UUID
    township_id: uuid.UUID
    code: str
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    entries: set[uuid.UUID] = field(default_factory=set)
    books_seen: bool = False


@dataclass
class _Balance:
    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0
    last_seq: int = 0


@dataclass
class Loaded:
    """A file that verified, ready to write."""

    header: HeaderLine
    rows: dict[str, list[dict[str, Any]]]
    entries: list[EntryRecord]
    heads: list[writer.BooksHead]
    balances: list[dict[str, Any]]

    def entries_of(self, village_id: uuid.UUID) -> int:
        return sum(1 for e in self.entries if e.village_id == village_id)


def _model_row(line: _Row) -> dict[str, Any]:
    row = line.model_dump()
    row.pop("type")
    return row


def load(lines: Iterable[bytes]) -> Loaded:
    """Read and check a whole export; ImportRefused names the first line that fails."""
    counts: dict[str, int] = defaultdict(int)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    header: HeaderLine | None = None
    townships: set[uuid.UUID] = set()
    organisations: dict[uuid.UUID, uuid.UUID] = {}
    villages: dict[uuid.UUID, _Village] = {}
    households: dict[uuid.UUID, uuid.UUID] = {}
    members: dict[uuid.UUID, uuid.UUID] = {}
    accounts: dict[uuid.UUID, AccountLine] = {}
    replayed: dict[uuid.UUID, _Balance] = {}
    balances_seen: set[uuid.UUID] = set()
    entries: list[EntryRecord] = []
    entry_village: dict[uuid.UUID, uuid.UUID] = {}
    pending_open: set[uuid.UUID] = set()
    resolved: set[uuid.UUID] = set()
    reversed_: set[uuid.UUID] = set()
    heads: list[writer.BooksHead] = []
    balances: list[dict[str, Any]] = []
    splits: list[tuple[int, uuid.UUID, uuid.UUID]] = []
    last_order = 0
    number = 0

    def refuse(reason: str) -> ImportRefused:
        return ImportRefused(number, reason)

    def village_of(village_id: uuid.UUID, township_id: uuid.UUID) -> _Village:
        v = villages.get(village_id)
        if v is None:
            raise refuse(f"village {village_id} is not in the file before this line")
        if v.township_id != township_id:
            raise refuse(f"township_id is not that of village {v.code}")
        return v

    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            raise refuse("empty line")
        line = _parse(number, raw)
        kind = line.type  # type: ignore[attr-defined]
        if number == 1:
            if not isinstance(line, HeaderLine):
                raise refuse("the first line must be the header")
            if line.format_version != FORMAT_VERSION:
                raise refuse(
                    f"format_version {line.format_version}: this jifen reads {FORMAT_VERSION}"
                )
            header = line
            continue
        order = _ORDER.index(kind)
        if isinstance(line, HeaderLine):
            raise refuse("a second header")
        if order < last_order:
            raise refuse(f"a {kind} line after the {_ORDER[last_order]} lines")
        last_order = order
        counts[kind] += 1
        if isinstance(line, TownshipLine):
            townships.add(line.id)
        elif isinstance(line, OrganisationLine):
            if line.township_id not in townships:
                raise refuse(f"township {line.township_id} is not in the file")
            organisations[line.id] = line.township_id
        elif isinstance(line, VillageLine):
            if line.township_id not in townships:
                raise refuse(f"township {line.township_id} is not in the file")
            villages[line.id] = _Village(line.id, line.township_id, line.code)
        elif isinstance(line, HouseholdLine):
            village_of(line.village_id, line.township_id)
            if line.split_from_household_id is not None:
                splits.append((number, line.split_from_household_id, line.village_id))
            households[line.id] = line.village_id
        elif isinstance(line, MemberLine):
            # Every household is read by now: the households they split from are known.
            for at, split, village_id in splits:
                if households.get(split) != village_id:
                    raise ImportRefused(at, f"household {split} is not in the village")
            splits.clear()
            village_of(line.village_id, line.township_id)
            members[line.id] = line.village_id
        elif isinstance(line, MembershipLine):
            village_of(line.village_id, line.township_id)
            if households.get(line.household_id) != line.village_id:
                raise refuse(f"household {line.household_id} is not in the village")
            if members.get(line.member_id) != line.village_id:
                raise refuse(f"member {line.member_id} is not in the village")
        elif isinstance(line, AccountLine):
            village_of(line.village_id, line.township_id)
            owners = {
                "member": (line.member_id, members),
                "household": (line.household_id, households),
            }
            for owner_kind, (owner_id, known) in owners.items():
                if owner_id is not None and known.get(owner_id) != line.village_id:
                    raise refuse(f"{owner_kind} {owner_id} is not in the village")
            if (
                line.organisation_id is not None
                and organisations.get(line.organisation_id) != line.township_id
            ):
                raise refuse(f"organisation {line.organisation_id} is not in the file")
            accounts[line.id] = line
            replayed[line.id] = _Balance()
        elif isinstance(line, EntryLine):
            v = village_of(line.village_id, line.township_id)
            if v.books_seen:
                raise refuse("an entry after its books line")
            record = _check_entry(
                line,
                v,
                accounts,
                replayed,
                entry_village=entry_village,
                pending_open=pending_open,
                resolved=resolved,
                reversed_=reversed_,
                refuse=refuse,
            )
            entries.append(record)
        elif isinstance(line, BalanceLine):
            village_of(line.village_id, line.township_id)
            account = accounts.get(line.account_id)
            if account is None or account.village_id != line.village_id:
                raise refuse(f"account {line.account_id} is not in the village")
            if line.account_id in balances_seen:
                raise refuse(f"a second balance of account {line.account_id}")
            balances_seen.add(line.account_id)
            expected = replayed[line.account_id]
            stated = _Balance(line.posted, line.pending_debits, line.pending_credits, line.last_seq)
            if line.asset != account.asset or stated != expected:
                raise refuse(
                    f"balance of account {line.account_id} says {stated}, "
                    f"its postings give {expected}"
                )
            balances.append(_model_row(line))
        elif isinstance(line, BooksLine):
            v = village_of(line.village_id, line.township_id)
            if v.books_seen:
                raise refuse(f"a second books line for village {v.code}")
            if (line.last_seq, line.last_hash) != (v.last_seq, v.last_hash):
                raise refuse(
                    f"the books of village {v.code} end at seq {line.last_seq}, "
                    f"but the entries end at seq {v.last_seq}: entries are missing or "
                    "the head was altered"
                )
            v.books_seen = True
            heads.append(writer.BooksHead(v.id, v.township_id, v.last_seq, v.last_hash))
        if not isinstance(line, EntryLine | BalanceLine | BooksLine):
            rows[kind].append(_model_row(line))

    number += 1  # what fails now fails at the end of the file
    for at, split, village_id in splits:  # a file with households but no members
        if households.get(split) != village_id:
            raise ImportRefused(at, f"household {split} is not in the village")
    if header is None:
        raise refuse("the file is empty")
    stated_counts = header.counts.model_dump()
    for kind, stated in stated_counts.items():
        if counts[kind] != stated:
            raise refuse(f"the header counts {stated} {kind} lines, the file has {counts[kind]}")
    for v in villages.values():
        if not v.books_seen:
            raise refuse(f"no books line for village {v.code}")
    missing = sorted(str(a) for a in accounts.keys() - balances_seen)
    if missing:
        raise refuse(f"no balance line for account {missing[0]}")
    return Loaded(header, rows, entries, heads, balances)


def _check_entry(
    line: EntryLine,
    v: _Village,
    accounts: dict[uuid.UUID, AccountLine],
    replayed: dict[uuid.UUID, _Balance],
    *,
    entry_village: dict[uuid.UUID, uuid.UUID],
    pending_open: set[uuid.UUID],
    resolved: set[uuid.UUID],
    reversed_: set[uuid.UUID],
    refuse: Callable[[str], ImportRefused],
) -> EntryRecord:
    if line.seq != v.last_seq + 1:
        raise refuse(f"entry seq {line.seq} of village {v.code}: expected seq {v.last_seq + 1}")
    if line.prev_hash != v.last_hash:
        raise refuse(f"entry seq {line.seq}: prev_hash does not match the previous entry's hash")
    if line.id in entry_village:
        raise refuse(f"entry {line.id} is in the file twice")
    postings = sorted(line.postings, key=lambda p: p.position)
    if len(postings) < 2 or [p.position for p in postings] != list(range(len(postings))):
        raise refuse(f"entry seq {line.seq}: postings must be positions 0, 1, ... (two at least)")
    records = [
        PostingRecord(p.position, p.account_id, p.asset, p.amount, p.effect, p.balance_after)
        for p in postings
    ]
    record = EntryRecord(
        id=line.id,
        township_id=line.township_id,
        village_id=line.village_id,
        seq=line.seq,
        code=line.code,
        memo=line.memo,
        details=line.metadata,
        actor=line.actor,
        occurred_at=as_utc(line.occurred_at),
        recorded_at=as_utc(line.recorded_at),
        is_pending=line.is_pending,
        allow_below_floor=line.allow_below_floor,
        pending_entry_id=line.pending_entry_id,
        reverses_entry_id=line.reverses_entry_id,
        idempotency_key=line.idempotency_key,
        prev_hash=line.prev_hash,
        hash=line.hash,
        postings=tuple(records),
    )
    if entry_hash(record) != line.hash:
        raise refuse(f"entry seq {line.seq}: its content does not match its hash")
    sums: dict[str, int] = defaultdict(int)
    after: dict[uuid.UUID, _Balance] = {}
    for p in postings:
        account = accounts.get(p.account_id)
        if account is None or account.village_id != v.id:
            raise refuse(f"entry seq {line.seq}: account {p.account_id} is not in the village")
        if p.asset != account.asset:
            raise refuse(f"entry seq {line.seq}: account {p.account_id} holds {account.asset}")
        if p.amount == 0:
            raise refuse(f"entry seq {line.seq}: a posting of 0")
        sums[p.asset] += p.amount
        state = after.get(p.account_id) or replayed[p.account_id]
        delta = delta_of(Line(p.account_id, p.amount, Effect(p.effect)))
        state = _Balance(
            state.posted + delta.posted,
            state.pending_debits + delta.pending_debits,
            state.pending_credits + delta.pending_credits,
            line.seq,
        )
        if state.pending_debits < 0 or state.pending_credits < 0:
            raise refuse(f"entry seq {line.seq}: releases more than account {p.account_id} holds")
        if p.balance_after != state.posted:
            raise refuse(
                f"entry seq {line.seq}: balance_after {p.balance_after} of account "
                f"{p.account_id}, its postings give {state.posted}"
            )
        after[p.account_id] = state
    unbalanced = sorted(asset for asset, total in sums.items() if total)
    if unbalanced:
        raise refuse(f"entry seq {line.seq}: postings do not sum to zero in {unbalanced[0]}")
    for target, kept, what in (
        (line.pending_entry_id, resolved, "resolves"),
        (line.reverses_entry_id, reversed_, "reverses"),
    ):
        if target is None:
            continue
        if entry_village.get(target) != v.id:
            raise refuse(f"entry seq {line.seq} {what} entry {target}, not before it")
        if target in kept:
            raise refuse(f"entry seq {line.seq} {what} entry {target} a second time")
        if what == "resolves" and target not in pending_open:
            raise refuse(f"entry seq {line.seq} resolves entry {target}, which is not pending")
    replayed.update(after)
    entry_village[line.id] = v.id
    if line.is_pending:
        pending_open.add(line.id)
    if line.pending_entry_id is not None:
        resolved.add(line.pending_entry_id)
        pending_open.discard(line.pending_entry_id)
    if line.reverses_entry_id is not None:
        reversed_.add(line.reverses_entry_id)
    v.last_seq, v.last_hash = line.seq, line.hash
    return record


_TENANCY_TABLES: list[tuple[str, Any]] = [
    ("township", Township),
    ("organisation", Organisation),
    ("village", Village),
    ("household", Household),
    ("member", Member),
    ("household_membership", HouseholdMembership),
    ("account", Account),
]


def is_empty(session: Session) -> str | None:
    """None if the database holds no books; otherwise what it holds."""
    for name, model in (
        ("townships", Township),
        ("villages", Village),
        ("organisations", Organisation),
        ("accounts", Account),
        ("entries", Entry),
    ):
        count = session.execute(select(func.count()).select_from(model)).scalar_one()
        if count:
            return f"{count} {name}"
    return None


def write(session: Session, loaded: Loaded, *, chunk: int = 1000) -> None:
    """Insert a verified file into an empty database (the caller's transaction)."""
    held = is_empty(session)
    if held is not None:
        raise ImportRefused(0, f"the database is not empty (it holds {held}): nothing imported")
    connection = session.connection()
    for kind, model in _TENANCY_TABLES:
        table: Table = model.__table__
        rows = loaded.rows.get(kind, [])
        if kind == "household":
            rows = _parents_first(rows)
        for start in range(0, len(rows), chunk):
            connection.execute(insert(table), rows[start : start + chunk])
    writer.restore_books(
        session, heads=loaded.heads, balances=loaded.balances, entries=loaded.entries
    )


def _parents_first(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Households that split from another come after it (the export's order is by number)."""
    placed: set[uuid.UUID] = set()
    ordered: list[dict[str, Any]] = []
    waiting = list(rows)
    while waiting:
        still = [r for r in waiting if r["split_from_household_id"] not in placed | {None}]
        ready = [r for r in waiting if r not in still]
        if not ready:  # load() saw every parent before its child: cannot happen
            raise ImportRefused(0, "households split from each other in a cycle")
        ordered += ready
        placed |= {r["id"] for r in ready}
        waiting = still
    return ordered


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def export_path(
    session: Session,
    scope: Scope,
    out: Path,
    *,
    revision: str | None,
    step: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Export to a file, written whole and then renamed (never half a file under its name)."""
    import os

    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as handle:
            counts = export_books(session, scope, handle, revision=revision, step=step)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return counts
