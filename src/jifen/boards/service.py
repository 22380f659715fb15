"""Boards (红黑榜): create, fill (typed, CSV, or from the books), publish.

Invariants:
- a board belongs to one village; its entries name holders of that village (members and
  households) or organisations of its township; a holder is on a board at most once;
- a published board never changes: entries are added only to drafts, and publishing a
  published board is refused, so its points are booked once. Publishing decides under
  the village's books lock, so two clerks pressing "publish" at once book once;
- points reach holders only through the charter's records (records.record), one record
  per scored entry, so the charter's caps, review, floors and public notice apply: under
  a `before` notice list the entries are pending until the list closes;
- organisations hold no points: a board whose side has a rule refuses their entries;
- a published board closes (published → closed, once) when its points are settled: none
  of its records (or their corrections) awaits review and every notice list they joined
  has closed — at publishing when none joined one, otherwise in `jifen tick` right after
  the lists close, in the same transaction. It then stores the village books' chain head
  and emits board.finalized.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.boards import errors, policy
from jifen.boards.rule import BoardParams, BoardRule, Side
from jifen.charters import service as charters
from jifen.charters.document import Holder
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.models import (
    Board,
    BoardEntry,
    Household,
    HouseholdMembership,
    Member,
    NoticeList,
    NoticeListItem,
    Organisation,
    Record,
    Village,
)
from jifen.notice import service as notice
from jifen.problems import AlreadyExists, NotFound
from jifen.records import service as records
from jifen.webhooks import events

DRAFT, PUBLISHED, CLOSED = "draft", "published", "closed"
EVALUATION, BOOKS = "evaluation", "books"
RED_BLACK, STARS = "red_black", "stars"
ENTRIES_MAX = 500
CSV_BYTES_MAX = 256 * 1024
# The hour of the period's last day a board's records are dated at (local time): the
# period's own month, so its notice list is that month's.
_DATED_AT = time(12, 0)


@dataclass(frozen=True)
class EntryInput:
    holder_kind: str  # member | household | organisation
    holder_id: uuid.UUID
    side: str  # red | black
    reason: str
    rank: int | None = None
    stars: int | None = None
    points_in_period: int | None = None


# --- boards ----------------------------------------------------------------------------


_FIRST_DAY, _LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _check_board(
    kind: str, period_start_on: date, period_end_on: date, black_rule_id: str | None
) -> None:
    if period_end_on < period_start_on:
        raise errors.BoardInvalid(
            "period_end_on must not be before period_start_on",
            detail_zh="评比周期的结束日期（period_end_on）不能早于开始日期（period_start_on）",
            field="period_end_on",
        )
    for name, day in (("period_start_on", period_start_on), ("period_end_on", period_end_on)):
        if not _FIRST_DAY <= day <= _LAST_DAY:
            raise errors.BoardInvalid(
                f"{name} must be in 2000-2999",
                detail_zh=f"{name} 须在 2000 至 2999 年之间",
                field=name,
            )
    if kind == "stars" and black_rule_id is not None:
        raise errors.BoardInvalid(
            "a stars board has no black side to score",
            detail_zh="星级评比榜没有黑榜，不能设置黑榜计分规则（black_rule_id）",
            field="black_rule_id",
        )


def create_board(
    session: Session,
    *,
    village_id: uuid.UUID,
    title: str,
    kind: str,
    source: str,
    period_start_on: date,
    period_end_on: date,
    red_rule_id: str | None,
    black_rule_id: str | None,
    actor: str,
    now: datetime,
) -> Board:
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    _check_board(kind, period_start_on, period_end_on, black_rule_id)
    taken = session.execute(
        select(Board.id).where(Board.village_id == village_id, Board.title == title)
    ).scalar_one_or_none()
    if taken is not None:
        raise AlreadyExists(
            f"the village already has a board titled {title!r}",
            detail_zh=f"本村已有名为“{title}”的榜单",
            board_id=str(taken),
        )
    board = Board(
        id=new_id(),
        township_id=village.township_id,
        village_id=village_id,
        title=title,
        kind=kind,
        source=source,
        period_start_on=period_start_on,
        period_end_on=period_end_on,
        red_rule_id=red_rule_id,
        black_rule_id=black_rule_id,
        status=DRAFT,
        created_by=actor,
        created_at=now,
        published_by=None,
        published_at=None,
        closed_at=None,
        head_seq=None,
        head_hash=None,
    )
    session.add(board)
    session.flush()
    return board


def get_board(session: Session, board_id: uuid.UUID) -> Board:
    board = session.get(Board, board_id)
    if board is None:
        raise NotFound("board", board_id)
    return board


def list_boards(
    session: Session, *, village_id: uuid.UUID | None, limit: int, cursor: str | None
) -> Page[Board]:
    query = select(Board)
    if village_id is not None:
        query = query.where(Board.village_id == village_id)
    return page_by_id(session, query, Board, limit, cursor, newest_first=True)


def entries_of(session: Session, board_id: uuid.UUID) -> list[BoardEntry]:
    """A board's entries: red before black, each side by rank."""
    rows = session.execute(select(BoardEntry).where(BoardEntry.board_id == board_id)).scalars()
    return sorted(rows, key=lambda e: (e.side != Side.RED.value, e.rank, e.id))


def _draft(session: Session, board_id: uuid.UUID) -> Board:
    board = get_board(session, board_id)
    if board.status != DRAFT:
        raise errors.BoardAlreadyPublished(
            f"board {board.id} was published at {board.published_at}",
            detail_zh=f"榜单 {board.id} 已于 {board.published_at} 发布",
            board_id=str(board.id),
        )
    return board


# --- entries ---------------------------------------------------------------------------


def _check_holder(session: Session, board: Board, entry: EntryInput, index: int) -> None:
    field = f"entries[{index}].holder_id"
    if entry.holder_kind == "member":
        village_id = session.execute(
            select(Member.village_id).where(Member.id == entry.holder_id)
        ).scalar_one_or_none()
        ok = village_id == board.village_id
    elif entry.holder_kind == "household":
        village_id = session.execute(
            select(Household.village_id).where(Household.id == entry.holder_id)
        ).scalar_one_or_none()
        ok = village_id == board.village_id
    else:
        township_id = session.execute(
            select(Organisation.township_id).where(Organisation.id == entry.holder_id)
        ).scalar_one_or_none()
        ok = township_id == board.township_id
    if not ok:
        raise errors.BoardEntryHolderInvalid(
            f"{entry.holder_kind} {entry.holder_id} is not of this board's village",
            detail_zh=f"第 {index + 1} 条：上榜对象不属于该村",
            field=field,
        )


def add_entries(
    session: Session, *, board_id: uuid.UUID, entries: Sequence[EntryInput], now: datetime
) -> list[BoardEntry]:
    """Add entries to a draft board. An entry without a rank goes after the last of its
    side. On a stars board every entry is red and carries its stars; elsewhere none does."""
    board = _draft(session, board_id)
    existing = entries_of(session, board.id)
    if len(existing) + len(entries) > ENTRIES_MAX:
        raise errors.BoardEntriesTooMany(
            f"a board holds at most {ENTRIES_MAX} entries",
            detail_zh=f"一个榜单最多 {ENTRIES_MAX} 条",
            entries_max=ENTRIES_MAX,
        )
    held = {(e.holder_kind, e.member_id or e.household_id or e.organisation_id) for e in existing}
    last_rank = {
        side: max((e.rank for e in existing if e.side == side), default=0)
        for side in (Side.RED.value, Side.BLACK.value)
    }
    added: list[BoardEntry] = []
    for index, entry in enumerate(entries):
        if board.kind == STARS and (entry.stars is None or entry.side != Side.RED.value):
            raise errors.BoardEntryNotScorable(
                "a stars board lists red entries, each with its stars (1-5)",
                detail_zh=f"第 {index + 1} 条：星级评比榜的每一条须为红榜并注明星级",
                field=f"entries[{index}].stars",
            )
        if board.kind == RED_BLACK and entry.stars is not None:
            raise errors.BoardEntryNotScorable(
                "stars belong on a stars board; this board is red/black",
                detail_zh=f"第 {index + 1} 条：红黑榜不评星级",
                field=f"entries[{index}].stars",
            )
        _check_holder(session, board, entry, index)
        key = (entry.holder_kind, entry.holder_id)
        if key in held:
            raise errors.BoardEntryDuplicate(
                f"{entry.holder_kind} {entry.holder_id} is already on the board",
                detail_zh=f"第 {index + 1} 条：该对象已在榜上",
                field=f"entries[{index}].holder_id",
            )
        held.add(key)
        rank = entry.rank if entry.rank is not None else last_rank[entry.side] + 1
        last_rank[entry.side] = max(last_rank[entry.side], rank)
        row = BoardEntry(
            id=new_id(),
            board_id=board.id,
            holder_kind=entry.holder_kind,
            member_id=entry.holder_id if entry.holder_kind == "member" else None,
            household_id=entry.holder_id if entry.holder_kind == "household" else None,
            organisation_id=entry.holder_id if entry.holder_kind == "organisation" else None,
            side=entry.side,
            rank=rank,
            stars=entry.stars,
            reason=entry.reason,
            points_in_period=entry.points_in_period,
            record_id=None,
            created_at=now,
        )
        session.add(row)
        added.append(row)
    session.flush()
    return added


_SIDES = {
    "红": "red",
    "红榜": "red",
    "黑": "black",
    "黑榜": "black",
    "red": "red",
    "black": "black",
}
CSV_HEADERS = ("户号", "姓名", "红黑", "理由")


def entries_from_csv(session: Session, *, board_id: uuid.UUID, data: bytes) -> list[EntryInput]:
    """A committee's list as CSV (UTF-8, optionally with BOM; Excel's GB18030 too) with
    the headers 户号, 姓名, 红黑, 理由 and optionally 名次, 星级. Each row names a
    household by its number; 姓名 must be the household's name or one of its members'."""
    board = get_board(session, board_id)
    if len(data) > CSV_BYTES_MAX:
        raise errors.BoardCsvInvalid(
            f"the file is larger than {CSV_BYTES_MAX} bytes",
            detail_zh=f"文件超过 {CSV_BYTES_MAX} 字节",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise errors.BoardCsvInvalid(
                "the file is neither UTF-8 nor GB18030",
                detail_zh="文件编码既不是 UTF-8 也不是 GB18030",
            ) from None
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip() for h in reader.fieldnames or []]
    missing = [h for h in CSV_HEADERS if h not in headers]
    if missing:
        raise errors.BoardCsvInvalid(
            f"missing columns: {', '.join(missing)}",
            detail_zh=f"缺少列：{'、'.join(missing)}",
            missing=missing,
        )
    found: list[EntryInput] = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        if len(found) >= ENTRIES_MAX:
            raise errors.BoardEntriesTooMany(
                f"a board holds at most {ENTRIES_MAX} entries",
                detail_zh=f"一个榜单最多 {ENTRIES_MAX} 条",
                entries_max=ENTRIES_MAX,
            )
        side = _SIDES.get(row["红黑"])
        if side is None:
            raise _csv_row(line, "红黑", "must be 红 or 黑", "须为“红”或“黑”")
        household = session.execute(
            select(Household).where(
                Household.village_id == board.village_id, Household.number == row["户号"]
            )
        ).scalar_one_or_none()
        if household is None:
            raise _csv_row(line, "户号", "no such household number", "本村没有这个户号")
        names = {household.name, *_member_names(session, household.id)}
        if row["姓名"] not in names:
            raise _csv_row(
                line,
                "姓名",
                "is not the household's name or a member's",
                "与该户户名或成员姓名不符",
            )
        if not row["理由"]:
            raise _csv_row(line, "理由", "is empty", "不能为空")
        found.append(
            EntryInput(
                holder_kind="household",
                holder_id=household.id,
                side=side,
                reason=row["理由"][:500],
                rank=_csv_int(row.get("名次"), line, "名次", 1, 10_000),
                stars=_csv_int(row.get("星级"), line, "星级", 1, 5),
            )
        )
    return found


def _member_names(session: Session, household_id: uuid.UUID) -> list[str]:
    return list(
        session.execute(
            select(Member.name)
            .join(HouseholdMembership, HouseholdMembership.member_id == Member.id)
            .where(HouseholdMembership.household_id == household_id)
        ).scalars()
    )


def _csv_int(value: str | None, line: int, column: str, low: int, high: int) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise _csv_row(
            line, column, f"must be a whole number {low}-{high}", f"须为 {low}-{high} 的整数"
        )
    return int(value)


def _csv_row(line: int, column: str, message: str, message_zh: str) -> errors.BoardCsvInvalid:
    return errors.BoardCsvInvalid(
        f"line {line}, column {column}: {message}",
        detail_zh=f"第 {line} 行“{column}”列：{message_zh}",
        line=line,
        column=column,
    )


# --- from the books --------------------------------------------------------------------


def generate_from_books(
    session: Session,
    *,
    board_id: uuid.UUID,
    category: str,
    holder: Holder,
    red_count: int,
    black_count: int,
    now: datetime,
) -> list[BoardEntry]:
    """Fill a draft board from the books: the holders' booked points under one rule
    category in the board's period, the top `red_count` red and the bottom
    `black_count` black. Counted records only, as the rankings count them (the rankings
    service ranks all categories together, so the category's totals are summed here)."""
    board = _draft(session, board_id)
    if board.source != BOOKS:
        raise errors.BoardEntryNotScorable(
            "only a board whose source is `books` is generated from the books",
            detail_zh="只有来源为“账目”的榜单可由积分账目生成",
            field="source",
        )
    if entries_of(session, board.id):
        raise errors.BoardEntryDuplicate(
            "the board already has entries; generate into an empty board",
            detail_zh="榜单已有条目，只能在空榜单上生成",
        )
    key = Record.member_id if holder is Holder.MEMBER else Record.household_id
    named: Any = Member if holder is Holder.MEMBER else Household
    totals = (
        select(key.label("holder_id"), func.sum(Record.points).label("total"))
        .where(
            Record.village_id == board.village_id,
            Record.status.in_(records.COUNTED),
            Record.category == category,
            Record.occurred_on >= board.period_start_on,
            Record.occurred_on <= board.period_end_on,
            key.is_not(None),
        )
        .group_by(key)
        .subquery()
    )
    rows = session.execute(
        select(totals.c.holder_id, totals.c.total)
        .join(named, named.id == totals.c.holder_id)
        .order_by(totals.c.total.desc(), named.name, named.id)
    ).all()
    standings = [policy.Standing(str(row.holder_id), int(row.total)) for row in rows]
    placed = policy.place_from_books(standings, red_count=red_count, black_count=black_count)
    month = board.period_start_on.strftime("%Y-%m")
    inputs = [
        EntryInput(
            holder_kind=holder.value,
            holder_id=uuid.UUID(p.holder_id),
            side=p.side,
            rank=p.rank,
            reason=f"{month} 至 {board.period_end_on.isoformat()} {category} 类积分 "
            f"{p.points:+d} 分，{'红榜' if p.side == 'red' else '黑榜'}第 {p.rank} 名",
            points_in_period=p.points,
        )
        for p in placed
    ]
    return add_entries(session, board_id=board.id, entries=inputs, now=now)


# --- publishing ------------------------------------------------------------------------


def _rules_of(
    session: Session, board: Board, on: date
) -> tuple[uuid.UUID, dict[str, tuple[str, BoardParams]]]:
    """The board's rules per side, checked against the charter in force on `on`."""
    version, charter = charters.charter_in_force(session, board.village_id, on)
    found: dict[str, tuple[str, BoardParams]] = {}
    for side, rule_id in ((Side.RED, board.red_rule_id), (Side.BLACK, board.black_rule_id)):
        if rule_id is None:
            continue
        rule = charter.rule(rule_id)
        if (
            rule is None
            or not isinstance(rule.rule_type, BoardRule)
            or not isinstance(rule.params, BoardParams)
            or rule.params.side is not side
        ):
            raise errors.BoardRuleInvalid(
                f"charter version {version.version} (in force on {on}) has no board rule "
                f"{rule_id!r} for the {side.value} side",
                detail_zh=f"现行村规民约（第 {version.version} 版）没有用于"
                f"{'红榜' if side is Side.RED else '黑榜'}的红黑榜规则 {rule_id}",
                rule_id=rule_id,
                side=side.value,
            )
        found[side.value] = (rule_id, rule.params)
    return version.id, found


def dated_at(board: Board, clock: ledger.Clock) -> datetime:
    """When a board's records occurred: midday of the period's last day (local), or now
    if the board is published before its period ends."""
    end = datetime.combine(board.period_end_on, _DATED_AT, tzinfo=clock.settings.zone)
    return min(end, clock.now)


def publish(
    session: Session, *, board_id: uuid.UUID, recorder: records.Recorder, clock: ledger.Clock
) -> tuple[Board, list[Record]]:
    """Publish a draft board and book each scored entry as one record of its side's rule.

    The books lock is taken before the board is read again, so of two publications at
    once the second sees the first's `published` and is refused: the points book once.
    """
    board = get_board(session, board_id)
    writer.lock_books(session, board.village_id)
    session.refresh(board)
    board = _draft(session, board_id)
    if clock.local_date(clock.now) < board.period_start_on:
        raise errors.BoardPeriodNotOver(
            f"the board's period starts on {board.period_start_on}",
            detail_zh=f"榜单的评比周期从 {board.period_start_on} 开始，尚未开始不能发布",
            period_start_on=board.period_start_on.isoformat(),
        )
    occurred_at = dated_at(board, clock)
    booked: list[Record] = []
    entries = entries_of(session, board.id)
    if board.red_rule_id or board.black_rule_id:
        _version_id, rules = _rules_of(session, board, clock.local_date(occurred_at))
        for entry in entries:
            scored = rules.get(entry.side)
            if scored is None:
                continue
            rule_id, params = scored
            if entry.holder_kind == "organisation":
                raise errors.BoardEntryNotScorable(
                    "an organisation holds no points; its side has a board rule",
                    detail_zh="组织不持有积分：该侧有计分规则，不能列入组织",
                    entry_id=str(entry.id),
                )
            quantity = entry.stars if params.by_stars else entry.rank
            if quantity is None:
                raise errors.BoardEntryNotScorable(
                    f"rule {rule_id} scores by stars and the entry has none",
                    detail_zh="该规则按星级计分，此条目未评星级",
                    entry_id=str(entry.id),
                )
            row = records.record(
                session,
                records.RecordRequest(
                    village_id=board.village_id,
                    rule_id=rule_id,
                    member_id=entry.member_id,
                    household_id=entry.household_id,
                    quantity=Decimal(quantity),
                    occurred_at=occurred_at,
                    occurrence=f"board:{board.id.hex}",
                    note=f"{board.title}：{entry.reason}"[:500],
                ),
                recorder=recorder,
                clock=clock,
            )
            entry.record_id = row.id
            booked.append(row)
    board.status = PUBLISHED
    board.published_at = clock.now
    board.published_by = recorder.actor
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.BOARD_PUBLISHED,
        township_id=board.township_id,
        village_id=board.village_id,
        data={
            "board": summary(board),
            **_counts(entries),
            "record_ids": [str(r.id) for r in booked],
        },
        now=clock.now,
    )
    # Nothing under a notice list (no notice mode, or nothing scored): settled at once.
    if _is_settled(session, board):
        _close(session, board, clock)
    return board, booked


# --- closing ---------------------------------------------------------------------------


def _counts(entries: Sequence[BoardEntry]) -> dict[str, int]:
    return {
        "entry_count": len(entries),
        "red_count": sum(1 for e in entries if e.side == Side.RED.value),
        "black_count": sum(1 for e in entries if e.side == Side.BLACK.value),
    }


def _records_of_board(session: Session, board: Board) -> list[Record]:
    """The records the board booked and their corrections (an amendment replaces a
    record by a new one, which may join a later notice list)."""
    wanted = {e.record_id for e in entries_of(session, board.id) if e.record_id is not None}
    seen: set[uuid.UUID] = set()
    found: list[Record] = []
    for _ in range(records.AMENDMENT_CHAIN_MAX + 1):
        if not wanted:
            break
        rows = list(session.execute(select(Record).where(Record.id.in_(wanted))).scalars())
        found += rows
        seen |= wanted
        wanted = {r.amended_by_record_id for r in rows if r.amended_by_record_id} - seen
    return found


def _is_settled(session: Session, board: Board) -> bool:
    """Whether the board's points are settled: none of its records awaits review (its
    points are not booked yet) and every notice list they joined has closed (what it
    held is then posted, or held by an objection, which is the list's business)."""
    rows = _records_of_board(session, board)
    if any(r.status == records.PENDING for r in rows):
        return False
    if not rows:
        return True
    waiting = session.execute(
        select(NoticeListItem.id)
        .join(NoticeList, NoticeList.id == NoticeListItem.list_id)
        .where(
            NoticeListItem.record_id.in_([r.id for r in rows]),
            NoticeList.state != notice.CLOSED,
        )
        .limit(1)
    ).first()
    return waiting is None


def _close(session: Session, board: Board, clock: ledger.Clock) -> None:
    head = ledger.chain_head(session, board.village_id)
    board.status = CLOSED
    board.closed_at = clock.now
    board.head_seq = head.seq
    board.head_hash = head.hash
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.BOARD_FINALIZED,
        township_id=board.township_id,
        village_id=board.village_id,
        data={"board": summary(board), **_counts(entries_of(session, board.id))},
        now=clock.now,
    )


def close_settled(session: Session, *, village_id: uuid.UUID, clock: ledger.Clock) -> int:
    """Close the village's published boards whose points are settled, oldest first;
    how many closed. `jifen tick` calls it right after the village's notice lists close
    (notice.apply_due), in the same transaction and under the books lock, so a board
    closes once: a closed board is never looked at again."""
    writer.lock_books(session, village_id)
    due = (
        session.execute(
            select(Board)
            .where(Board.village_id == village_id, Board.status == PUBLISHED)
            .order_by(Board.published_at, Board.id)
        )
        .scalars()
        .all()
    )
    closed = 0
    for board in due:
        if _is_settled(session, board):
            _close(session, board, clock)
            closed += 1
    return closed


def summary(board: Board) -> dict[str, Any]:
    """The board as plain JSON, for events (no personal data)."""
    return {
        "id": str(board.id),
        "title": board.title,
        "kind": board.kind,
        "source": board.source,
        "period_start_on": board.period_start_on.isoformat(),
        "period_end_on": board.period_end_on.isoformat(),
        "status": board.status,
        "published_at": board.published_at.isoformat() if board.published_at else None,
        "closed_at": board.closed_at.isoformat() if board.closed_at else None,
        "head_seq": board.head_seq,
        "head_hash": board.head_hash,
    }


def records_of(session: Session, entries: Sequence[BoardEntry]) -> dict[uuid.UUID, Record]:
    ids = [e.record_id for e in entries if e.record_id is not None]
    if not ids:
        return {}
    rows = session.execute(select(Record).where(Record.id.in_(ids))).scalars()
    return {row.id: row for row in rows}
