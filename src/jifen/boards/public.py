"""What the public display reads (no sign-in): a village's published boards and its
notice lists with their objections' outcomes, every personal name masked.

Nothing here returns a phone number, an ID number, a member or household number, a
person's unmasked name, or free text that was not scrubbed against the village's own
names and numbers (policy.scrub). Objections are shown by outcome only: who raised them
and why stays with the village.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from jifen.boards import errors, policy
from jifen.boards import service as boards
from jifen.boards.schemas import (
    PublicBoardDetailRead,
    PublicBoardEntryRead,
    PublicBoardRead,
    PublicBoardsRead,
    PublicChainCheckRead,
    PublicNoticeItemRead,
    PublicNoticeListDetailRead,
    PublicNoticeListRead,
    PublicNoticeListsRead,
    PublicObjectionRead,
    PublicVillageRead,
)
from jifen.ledger import service as ledger
from jifen.ledger.policy import CODE_PENDING_VOID
from jifen.models import (
    Board,
    BoardEntry,
    Book,
    Entry,
    Household,
    Member,
    NoticeList,
    NoticeListItem,
    NoticeObjection,
    Organisation,
    Record,
    Township,
    Village,
)
from jifen.problems import NotFound

SHOWN_MAX = 100  # boards or lists per village page
ITEMS_MAX = 1000  # items of one list
_SHOWN_LIST_STATES = ("open", "closed")
SHOWN_BOARD_STATES = (boards.PUBLISHED, boards.CLOSED)


@dataclass(frozen=True)
class PublicVillage:
    township: Township
    village: Village

    def read(self) -> PublicVillageRead:
        return PublicVillageRead(township_name=self.township.name, village_name=self.village.name)


@dataclass(frozen=True)
class Secrets:
    """The village's own names and numbers, to scrub free text with."""

    names: frozenset[str]
    numbers: frozenset[str]

    def scrub(self, text: str) -> str:
        return policy.scrub(text, names=self.names, secrets=self.numbers)


def find_village(session: Session, township_code: str, village_code: str) -> PublicVillage:
    row = session.execute(
        select(Township, Village)
        .join(Village, Village.township_id == Township.id)
        .where(Township.code == township_code, Village.code == village_code)
    ).first()
    if row is None:
        raise errors.PublicVillageNotFound(
            f"no village {village_code!r} in township {township_code!r}",
            detail_zh=f"乡镇 {township_code} 没有编码为 {village_code} 的村",
        )
    return PublicVillage(row[0], row[1])


def village_of(session: Session, village_id: uuid.UUID) -> PublicVillage:
    """The village (by id) as the public display names it."""
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    township = session.get(Township, village.township_id)
    assert township is not None  # a village's township is never deleted
    return PublicVillage(township, village)


def secrets_of(session: Session, village_id: uuid.UUID) -> Secrets:
    names: set[str] = set()
    numbers: set[str] = set()
    for name, phone, tail in session.execute(
        select(Member.name, Member.phone, Member.id_number_tail).where(
            Member.village_id == village_id
        )
    ):
        names.add(name)
        numbers.update(n for n in (phone, tail) if n)
    for name, number in session.execute(
        select(Household.name, Household.number).where(Household.village_id == village_id)
    ):
        names.add(name)
        stem = name[:-1] if len(name) > 2 and name[-1] in "户家" else None
        if stem:
            names.add(stem)
        numbers.add(number)
    return Secrets(frozenset(names), frozenset(numbers))


# --- boards ----------------------------------------------------------------------------


def shown_boards(village_id: uuid.UUID) -> Select[Board]:
    """The village's boards the public sees (drafts stay with the village)."""
    return select(Board).where(Board.village_id == village_id, Board.status.in_(SHOWN_BOARD_STATES))


def shown_lists(village_id: uuid.UUID) -> Select[NoticeList]:
    """The village's notice lists that have opened (scheduled ones are not public yet)."""
    return select(NoticeList).where(
        NoticeList.village_id == village_id, NoticeList.state.in_(_SHOWN_LIST_STATES)
    )


def _published(session: Session, village_id: uuid.UUID) -> list[Board]:
    return list(
        session.execute(
            shown_boards(village_id)
            .order_by(Board.published_at.desc(), Board.id.desc())
            .limit(SHOWN_MAX)
        ).scalars()
    )


def board_reads(session: Session, place: PublicVillage, rows: list[Board]) -> list[PublicBoardRead]:
    """Boards of the village as the public sees them (titles scrubbed)."""
    secrets = secrets_of(session, place.village.id)
    return [_board_read(board, secrets) for board in rows]


def _board_read(board: Board, secrets: Secrets) -> PublicBoardRead:
    return PublicBoardRead(
        id=board.id,
        title=secrets.scrub(board.title),
        kind=board.kind,
        period_start_on=board.period_start_on,
        period_end_on=board.period_end_on,
        published_at=board.published_at,
        closed_at=board.closed_at,
        head_seq=board.head_seq,
        head_hash=board.head_hash,
    )


def list_boards(session: Session, place: PublicVillage) -> PublicBoardsRead:
    secrets = secrets_of(session, place.village.id)
    return PublicBoardsRead(
        village=place.read(),
        boards=[_board_read(b, secrets) for b in _published(session, place.village.id)],
    )


def _holder_names(session: Session, entries: list[BoardEntry]) -> dict[uuid.UUID, str]:
    """Each entry's holder's name as the public sees it."""
    shown: dict[uuid.UUID, str] = {}
    member_ids = [e.member_id for e in entries if e.member_id]
    household_ids = [e.household_id for e in entries if e.household_id]
    organisation_ids = [e.organisation_id for e in entries if e.organisation_id]
    if member_ids:
        for id_, name in session.execute(
            select(Member.id, Member.name).where(Member.id.in_(member_ids))
        ):
            shown[id_] = policy.mask_name(name)
    if household_ids:
        for id_, name in session.execute(
            select(Household.id, Household.name).where(Household.id.in_(household_ids))
        ):
            shown[id_] = policy.mask_household_name(name)
    if organisation_ids:
        for id_, name in session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(organisation_ids))
        ):
            shown[id_] = name  # not personal information
    return shown


def _resolutions(session: Session, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For pending entries: what resolved them (posted or voided), if anything did."""
    if not entry_ids:
        return {}
    found: dict[uuid.UUID, str] = {}
    for pending_id, code in session.execute(
        select(Entry.pending_entry_id, Entry.code).where(Entry.pending_entry_id.in_(entry_ids))
    ):
        if pending_id is not None:
            found[pending_id] = "voided" if code == CODE_PENDING_VOID else "posted"
    for reversed_id in session.execute(
        select(Entry.reverses_entry_id).where(Entry.reverses_entry_id.in_(entry_ids))
    ).scalars():
        if reversed_id is not None:
            found.setdefault(reversed_id, "reversed")
    return found


def _entry_states(session: Session, rows: list[Record]) -> dict[uuid.UUID, str]:
    """A record's points as the public sees them: counted, pending, voided, reversed,
    awaiting review, revoked, or none (scored zero)."""
    entry_ids = [r.entry_id for r in rows if r.entry_id]
    pending = (
        set(
            session.execute(
                select(Entry.id).where(Entry.id.in_(entry_ids), Entry.is_pending.is_(True))
            ).scalars()
        )
        if entry_ids
        else set()
    )
    resolved = _resolutions(session, entry_ids)
    states: dict[uuid.UUID, str] = {}
    for row in rows:
        if row.status == "pending":
            states[row.id] = "awaiting_review"
        elif row.status == "revoked":
            states[row.id] = "revoked"
        elif row.entry_id is None:
            states[row.id] = "none"
        elif row.entry_id in pending:
            outcome = resolved.get(row.entry_id, "pending")
            states[row.id] = "counted" if outcome == "posted" else outcome
        else:
            states[row.id] = resolved.get(row.entry_id, "counted")
    return states


def get_board(session: Session, place: PublicVillage, board_id: uuid.UUID) -> PublicBoardDetailRead:
    board = session.get(Board, board_id)
    if (
        board is None
        or board.village_id != place.village.id
        or board.status not in SHOWN_BOARD_STATES
    ):
        raise NotFound("board", board_id)
    entries = boards.entries_of(session, board.id)
    names = _holder_names(session, entries)
    found = boards.records_of(session, entries)
    states = _entry_states(session, list(found.values()))
    secrets = secrets_of(session, place.village.id)
    shown: list[PublicBoardEntryRead] = []
    for entry in entries:
        holder_id = entry.member_id or entry.household_id or entry.organisation_id
        record = found.get(entry.record_id) if entry.record_id else None
        shown.append(
            PublicBoardEntryRead(
                name=names.get(holder_id, "") if holder_id else "",
                holder_kind=entry.holder_kind,
                side=entry.side,
                rank=entry.rank,
                stars=entry.stars,
                reason=secrets.scrub(entry.reason),
                points=record.points if record else None,
                points_state=states.get(record.id) if record else None,
            )
        )
    return PublicBoardDetailRead(
        **_board_read(board, secrets).model_dump(), village=place.read(), entries=shown
    )


# --- notice lists ----------------------------------------------------------------------


def _list_read(notice_list: NoticeList, item_count: int) -> PublicNoticeListRead:
    return PublicNoticeListRead(
        id=notice_list.id,
        mode=notice_list.mode,
        period_start_on=notice_list.period_start_on,
        period_end_on=notice_list.period_end_on,
        opens_on=notice_list.opens_on,
        closes_on=notice_list.closes_on,
        appeal_until=notice_list.appeal_until,
        state=notice_list.state,
        item_count=item_count,
        head_seq=notice_list.head_seq,
        head_hash=notice_list.head_hash,
    )


def list_notice_lists(session: Session, place: PublicVillage) -> PublicNoticeListsRead:
    """The village's lists that have opened (scheduled ones are not public yet)."""
    rows = list(
        session.execute(
            shown_lists(place.village.id)
            .order_by(NoticeList.opens_on.desc(), NoticeList.id.desc())
            .limit(SHOWN_MAX)
        ).scalars()
    )
    return PublicNoticeListsRead(village=place.read(), lists=notice_list_reads(session, rows))


def notice_list_reads(session: Session, rows: list[NoticeList]) -> list[PublicNoticeListRead]:
    """Notice lists as the public sees them, each with its number of items."""
    counts: dict[uuid.UUID, int] = {}
    if rows:
        for list_id in session.execute(
            select(NoticeListItem.list_id).where(NoticeListItem.list_id.in_([r.id for r in rows]))
        ).scalars():
            counts[list_id] = counts.get(list_id, 0) + 1
    return [_list_read(r, counts.get(r.id, 0)) for r in rows]


def notice_items(session: Session, list_id: uuid.UUID) -> list[NoticeListItem]:
    """A list's items in the order the public display shows them."""
    return list(
        session.execute(
            select(NoticeListItem)
            .where(NoticeListItem.list_id == list_id)
            .order_by(NoticeListItem.created_at, NoticeListItem.id)
            .limit(ITEMS_MAX)
        ).scalars()
    )


def get_notice_list(
    session: Session, place: PublicVillage, list_id: uuid.UUID
) -> PublicNoticeListDetailRead:
    notice_list = session.get(NoticeList, list_id)
    if (
        notice_list is None
        or notice_list.village_id != place.village.id
        or notice_list.state not in _SHOWN_LIST_STATES
    ):
        raise NotFound("notice list", list_id)
    items = notice_items(session, notice_list.id)
    found = (
        {
            r.id: r
            for r in session.execute(
                select(Record).where(Record.id.in_([i.record_id for i in items]))
            ).scalars()
        }
        if items
        else {}
    )
    objections: dict[uuid.UUID, list[PublicObjectionRead]] = {}
    if items:
        for row in session.execute(
            select(NoticeObjection)
            .where(NoticeObjection.list_id == notice_list.id)
            .order_by(NoticeObjection.created_at, NoticeObjection.id)
        ).scalars():
            objections.setdefault(row.item_id, []).append(
                PublicObjectionRead(
                    kind=row.kind,
                    state=row.state,
                    raised_on=row.raised_on,
                    decided_on=row.decided_on,
                )
            )
    names = _record_holder_names(session, list(found.values()))
    resolved = _resolutions(session, [i.entry_id for i in items])
    secrets = secrets_of(session, place.village.id)
    shown: list[PublicNoticeItemRead] = []
    for item in items:
        record = found[item.record_id]
        if item.mode == "before":
            state = {"posted": "posted", "voided": "voided"}.get(
                resolved.get(item.entry_id, ""), "pending"
            )
        else:
            state = "reversed" if resolved.get(item.entry_id) == "reversed" else "counted"
        shown.append(
            PublicNoticeItemRead(
                name=names.get(record.id, ""),
                label=secrets.scrub(record.explanation)[:200],
                occurred_on=record.occurred_on,
                points=record.points,
                state=state,
                objections=objections.get(item.id, []),
            )
        )
    return PublicNoticeListDetailRead(
        **_list_read(notice_list, len(items)).model_dump(), village=place.read(), items=shown
    )


def _record_holder_names(session: Session, rows: list[Record]) -> dict[uuid.UUID, str]:
    """Whose points each record moved, masked: the household where the charter holds
    points per household, otherwise the member."""
    member_ids = {r.member_id for r in rows if r.member_id}
    household_ids = {r.household_id for r in rows if r.household_id}
    members: dict[uuid.UUID, str] = {}
    households: dict[uuid.UUID, str] = {}
    if member_ids:
        for id_, name in session.execute(
            select(Member.id, Member.name).where(Member.id.in_(member_ids))
        ):
            members[id_] = name
    if household_ids:
        for id_, name in session.execute(
            select(Household.id, Household.name).where(Household.id.in_(household_ids))
        ):
            households[id_] = name
    shown: dict[uuid.UUID, str] = {}
    for row in rows:
        if row.holder == "household" and row.household_id in households:
            shown[row.id] = policy.mask_household_name(households[row.household_id])
        elif row.member_id in members:
            shown[row.id] = policy.mask_name(members[row.member_id])
    return shown


# --- checking a printed list against the chain -----------------------------------------


def check_chain(
    session: Session, place: PublicVillage, *, seq: int, hash_: str | None
) -> PublicChainCheckRead:
    """Entry `seq` of the village's books, and whether the chain from the first entry
    through it is intact (every hash recomputed, every link checked): what anyone
    holding a printed list or board (its chain head, 第 N 笔 and a hash) checks it with.
    Hashes and numbers only: nothing personal. Not found beyond the head or below 1."""
    village_id = place.village.id
    book = session.get(Book, village_id)
    current_seq = book.last_seq if book is not None else 0
    if not 1 <= seq <= current_seq:
        raise NotFound("chain entry", seq)
    stored = session.execute(
        select(Entry.hash).where(Entry.village_id == village_id, Entry.seq == seq)
    ).scalar_one_or_none()
    verification = ledger.verify_books(session, village_id, up_to_seq=seq)
    return PublicChainCheckRead(
        seq=seq,
        hash=stored,
        intact=verification.is_intact and stored is not None,
        current_seq=current_seq,
        matches=None if hash_ is None else stored is not None and hash_.lower() == stored,
    )
