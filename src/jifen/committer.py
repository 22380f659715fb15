"""Group commit: writes that arrive together are committed together.

One thread per database — the committer — takes the write units that are waiting (up
to `write_group_max`, gathering for at most `write_window_ms_max` while more keep
arriving under load), runs them one after another, in order, in ONE database
transaction, commits once, and only then gives each caller its own result. On SQLite the
group shares one fsync; on PostgreSQL one commit round trip; and the deferred rows of
the whole group (ledger.writer, db.WriteBatch) go in a few multi-row statements.

A unit that fails refuses only itself:
- if it had written nothing to the database yet (the usual refusal: insufficient
  points, a duplicate, a bad target), what it deferred in the write batch is taken back
  and the next unit runs;
- if it had (or the database refused one of its statements), the transaction is rolled
  back and the group runs again without it. If the group's own writes are refused when
  they reach the database (a unique key another process took first), each unit is run
  again in a transaction of its own, so that the refusal reaches only its unit.

Every wait is bounded. A unit that could not start within `write_wait_timeout_seconds`
never runs and its caller gets DatabaseUnavailable (503, nothing written). A unit that
started finishes within the watchdog's deadline of its group (db.Watchdog). On
PostgreSQL a unit that needs a second village's books while another transaction holds
them is put back for the next group rather than wait holding the first village's lock:
groups never wait for one another in a cycle.

Callers: `await committer.run(work)` from the event loop, `committer.run_sync(work)`
from any other thread; `work(session)` is a plain function that may be run more than
once (after a rollback), and must not commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from jifen.db import Database, DatabaseUnavailable, RunAgainLater, pipelined, write_batch

T = TypeVar("T")
log = logging.getLogger(__name__)

# Redos of one group before its remaining units run one per transaction.
REDOS_MAX = 4
_UNFINISHED_ZH = "写入未能及时完成，结果未知"


@dataclass(eq=False)
class _Unit:
    work: Callable[[Session], Any]
    deadline: float
    # Announces what the work will read (WriteBatch.prefetch reads it for the group).
    prepare: Callable[[Session], None] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: Any = None
    started: bool = False
    cancelled: bool = False
    outcome: tuple[Any, BaseException | None] | None = field(default=None, repr=False)


@dataclass
class CommitterStats:
    groups: int = 0
    units: int = 0
    redos: int = 0
    solo_runs: int = 0
    requeued: int = 0
    expired: int = 0
    largest_group: int = 0


class Committer:
    def __init__(
        self,
        db: Database,
        *,
        group_max: int,
        window_seconds_max: float,
        wait_timeout_seconds: float,
    ) -> None:
        self.db = db
        self.group_max = group_max
        self.window_seconds_max = window_seconds_max
        self.wait_timeout_seconds = wait_timeout_seconds
        self.stats = CommitterStats()
        self._queue: deque[_Unit] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Mean group size of late: under load the committer waits a little for more.
        self._group_mean = 1.0
        # When the running group started (monotonic), for readiness checks.
        self.busy_since: float | None = None
        # Told each group's size as it starts (jifen.observability's histogram).
        self._observers: list[Callable[[int], None]] = []

    # --- submitting ------------------------------------------------------------------------

    def _submit(self, *units: _Unit) -> None:
        """Queue the units together: they run in this order, in as few groups as the
        group limit allows."""
        with self._cond:
            if self._stopping:
                raise DatabaseUnavailable("the service is shutting down", detail_zh="服务正在关闭")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jifen-committer", daemon=True
                )
                self._thread.start()
            self._queue.extend(units)
            self._cond.notify()

    def _cancel(self, unit: _Unit) -> bool:
        """Withdraw a unit that has not started; True if it never will."""
        with self._cond:
            if unit.started:
                return False
            unit.cancelled = True
            return True

    async def run(
        self, work: Callable[[Session], T], prepare: Callable[[Session], None] | None = None
    ) -> T:
        """Run `work` in the next group; its result once the group has committed.
        `prepare(session)` may announce what it will read (see WriteBatch.prefetch)."""
        loop = asyncio.get_running_loop()
        unit = _Unit(
            work,
            time.monotonic() + self.wait_timeout_seconds,
            prepare,
            loop=loop,
            future=loop.create_future(),
        )
        self._submit(unit)
        return await self._outcome(unit)

    async def run_all(
        self,
        works: list[Callable[[Session], T]],
        prepares: list[Callable[[Session], None] | None] | None = None,
    ) -> list[T | BaseException]:
        """Run the works one after another, together (in one group, as far as the group
        limit allows); each one's result, or what it raised."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.wait_timeout_seconds
        units = [
            _Unit(work, deadline, prepare, loop=loop, future=loop.create_future())
            for work, prepare in zip(works, prepares or [None] * len(works), strict=True)
        ]
        self._submit(*units)
        return await asyncio.gather(*(self._outcome(u) for u in units), return_exceptions=True)

    async def _outcome(self, unit: _Unit) -> Any:
        try:
            return await asyncio.wait_for(
                asyncio.shield(unit.future), max(unit.deadline - time.monotonic(), 0)
            )
        except TimeoutError:
            if self._cancel(unit):
                self.stats.expired += 1
                raise self._expired() from None
        # It started: its group ends within the watchdog's deadline.
        try:
            return await asyncio.wait_for(unit.future, self._group_bound())
        except TimeoutError:
            raise DatabaseUnavailable(
                "the write did not finish in time; its outcome is unknown",
                detail_zh=_UNFINISHED_ZH,
                outcome="unknown",
            ) from None

    def run_sync(self, work: Callable[[Session], T]) -> T:
        """`run` for callers outside the event loop (commands, tests, benchmarks)."""
        unit = _Unit(
            work,
            time.monotonic() + self.wait_timeout_seconds,
            future=concurrent.futures.Future(),
        )
        self._submit(unit)
        result: T = self._outcome_sync(unit)
        return result

    def run_all_sync(
        self,
        works: list[Callable[[Session], T]],
        prepares: list[Callable[[Session], None] | None] | None = None,
    ) -> list[T | BaseException]:
        """`run_all` for callers outside the event loop."""
        deadline = time.monotonic() + self.wait_timeout_seconds
        units = [
            _Unit(work, deadline, prepare, future=concurrent.futures.Future())
            for work, prepare in zip(works, prepares or [None] * len(works), strict=True)
        ]
        self._submit(*units)
        outcomes: list[T | BaseException] = []
        for unit in units:
            try:
                outcomes.append(self._outcome_sync(unit))
            except Exception as exc:  # each unit's own refusal, in its place
                outcomes.append(exc)
        return outcomes

    def _outcome_sync(self, unit: _Unit) -> Any:
        try:
            return unit.future.result(max(unit.deadline - time.monotonic(), 0))
        except concurrent.futures.TimeoutError:
            if self._cancel(unit):
                self.stats.expired += 1
                raise self._expired() from None
        try:
            return unit.future.result(self._group_bound())
        except concurrent.futures.TimeoutError:
            raise DatabaseUnavailable(
                "the write did not finish in time; its outcome is unknown",
                detail_zh=_UNFINISHED_ZH,
                outcome="unknown",
            ) from None

    def _expired(self) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"the write waited {self.wait_timeout_seconds:g} s for its turn and was "
            "withdrawn; nothing was written",
            detail_zh=f"该写入排队等待了 {self.wait_timeout_seconds:g} 秒仍未轮到，已撤回，"
            "未写入任何内容",
        )

    def _group_bound(self) -> float:
        return self.db.operation_timeout_seconds + 5.0

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the thread; later submissions are refused."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def add_observer(self, observer: Callable[[int], None]) -> None:
        """Call `observer(size)` for every group, in the committer's thread."""
        self._observers.append(observer)

    @property
    def is_alive(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- the committer thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            if not group:
                continue
            self.busy_since = time.monotonic()
            try:
                self._execute(group)
            except BaseException as exc:  # a bug in the committer itself
                log.exception("group commit failed")
                for unit in group:
                    if unit.outcome is None and unit.started:
                        unit.outcome = (None, exc)
            finally:
                self.busy_since = None
            self._settle(group)

    def _take(self) -> list[_Unit] | None:
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            if self._group_mean > 1.5 and len(self._queue) < self.group_max:
                # Under load: let the writes that are on their way arrive, as long as
                # they keep coming, up to the window.
                end = time.monotonic() + self.window_seconds_max
                step = self.window_seconds_max / 8
                while len(self._queue) < self.group_max:
                    before = len(self._queue)
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(step, remaining))
                    if len(self._queue) == before:
                        break
            group: list[_Unit] = []
            now = time.monotonic()
            while self._queue and len(group) < self.group_max:
                unit = self._queue.popleft()
                if unit.cancelled:
                    continue
                if unit.deadline < now:
                    # Its caller is about to give up: do not start what it will not see.
                    unit.cancelled = True
                    continue
                unit.started = True
                group.append(unit)
        self._group_mean = 0.8 * self._group_mean + 0.2 * max(len(group), 1)
        return group

    def _settle(self, group: list[_Unit]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Unit]] = {}
        for unit in group:
            if not unit.started:
                continue  # put back for the next group: settled there
            if unit.loop is None:
                result, error = unit.outcome or (None, RuntimeError("no outcome"))
                if error is None:
                    unit.future.set_result(result)
                else:
                    unit.future.set_exception(error)
            else:
                by_loop.setdefault(unit.loop, []).append(unit)
        for loop, units in by_loop.items():
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_on_loop, units)

    def _execute(self, group: list[_Unit]) -> None:
        self.stats.groups += 1
        self.stats.units += len(group)
        self.stats.largest_group = max(self.stats.largest_group, len(group))
        for observer in self._observers:
            observer(len(group))
        pending = list(group)
        redos = 0
        while pending:
            if redos > REDOS_MAX:
                for unit in pending:
                    self._execute_alone(unit)
                return
            rerun, later = self._attempt(pending)
            if later:
                self._requeue(later)
            if rerun is None:
                return
            redos += 1
            self.stats.redos += 1
            pending = rerun

    def _attempt(self, units: list[_Unit]) -> tuple[list[_Unit] | None, list[_Unit]]:
        """Run the units in one transaction. Returns (units to run again, or None when
        the group is settled; units to put back for the next group)."""
        session = self.db.session(write=True)
        results: list[tuple[_Unit, Any, BaseException | None]] = []
        later: list[_Unit] = []
        committing = False
        try:
            with self.db.watchdog.deadline(self.db.operation_timeout_seconds):
                batch = write_batch(session)
                batch.grouped = True
                for unit in units:
                    if unit.prepare is not None:
                        unit.prepare(session)
                # What the units announced, read in a statement or two for them all.
                batch.prefetch()
                for unit in units:
                    mark = batch.mark()
                    try:
                        result = unit.work(session)
                        # Its ORM changes go now, so that a later unit's refusal cannot
                        # take them back.
                        session.flush()
                    except BaseException as exc:
                        if not isinstance(exc, Exception) or _is_group_failure(exc):
                            raise
                        if _can_take_back(session, batch, mark, exc):
                            batch.undo(mark)
                            _forget_orm_changes(session)
                            if isinstance(exc, RunAgainLater):
                                later.append(unit)
                            else:
                                results.append((unit, None, exc))
                            continue
                        # It wrote before it failed: run the group again without it.
                        unit.outcome = (None, _as_unavailable(exc, committing=False))
                        session.rollback()
                        rest = [u for u in units if u is not unit and u not in later]
                        return rest, later
                    results.append((unit, result, None))
                with pipelined(session) as commit:
                    batch.flush()
                    committing = True
                    commit()
                session.commit()
        except BaseException as exc:
            _quietly_roll_back(session)
            if _refused_by_database(exc) and len(units) > 1:
                # The group's own deferred writes were refused (a unique key taken by
                # another process meanwhile): find whose, one unit at a time.
                for unit in units:
                    if unit not in later:
                        self._execute_alone(unit)
                return None, later
            failure = _as_unavailable(exc, committing)
            for unit in units:
                if unit not in later:
                    unit.outcome = (None, failure)
            return None, later
        finally:
            session.close()
        for unit, result, error in results:
            unit.outcome = (result, error)
        return None, later

    def _execute_alone(self, unit: _Unit) -> None:
        self.stats.solo_runs += 1
        session = self.db.session(write=True)
        committing = False
        try:
            with self.db.watchdog.deadline(self.db.operation_timeout_seconds):
                result = unit.work(session)
                with pipelined(session) as commit:
                    write_batch(session).flush()
                    committing = True
                    commit()
                session.commit()
            unit.outcome = (result, None)
        except BaseException as exc:
            _quietly_roll_back(session)
            if isinstance(exc, RunAgainLater):
                unit.outcome = (
                    None,
                    DatabaseUnavailable(
                        "the books stayed busy; try again", detail_zh="账本一直忙碌，请重试"
                    ),
                )
            elif isinstance(exc, Exception) and (
                _refused_by_database(exc) or (not _is_group_failure(exc) and not committing)
            ):
                unit.outcome = (None, exc)
            else:
                unit.outcome = (None, _as_unavailable(exc, committing))
        finally:
            session.close()

    def _requeue(self, units: list[_Unit]) -> None:
        self.stats.requeued += len(units)
        with self._cond:
            for unit in reversed(units):
                unit.started = False
                self._queue.appendleft(unit)
            self._cond.notify()


def _settle_on_loop(units: list[_Unit]) -> None:
    for unit in units:
        if unit.future.done():
            continue
        result, error = unit.outcome or (None, RuntimeError("no outcome"))
        if error is None:
            unit.future.set_result(result)
        else:
            unit.future.set_exception(error)


def _is_group_failure(exc: BaseException) -> bool:
    """Whether the whole transaction is lost, not just the unit's part: the connection
    is gone (a restart, the watchdog) or the database could not be reached."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _refused_by_database(exc: BaseException) -> bool:
    """The database refused a statement (a constraint), as opposed to not answering:
    nothing was committed, and running the units one by one finds whose it was."""
    return isinstance(exc, DBAPIError) and not _is_group_failure(exc) and not _is_operational(exc)


def _is_operational(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


def _can_take_back(session: Session, batch: Any, mark: tuple[int, int], exc: Exception) -> bool:
    if isinstance(exc, SQLAlchemyError):
        # The database refused a statement (on PostgreSQL the transaction is aborted).
        return False
    return bool(batch.can_undo(mark)) and not session.deleted


def _forget_orm_changes(session: Session) -> None:
    for obj in list(session.new):
        session.expunge(obj)
    for obj in list(session.dirty):
        session.expire(obj)


def _quietly_roll_back(session: Session) -> None:
    try:
        session.rollback()
    except Exception:
        log.debug("rollback failed", exc_info=True)


def _as_unavailable(exc: BaseException, committing: bool) -> BaseException:
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, DBAPIError) and (_is_operational(exc) or exc.connection_invalidated):
        return DatabaseUnavailable(
            "the database did not answer in time"
            + ("; the commit was under way, so its outcome is unknown" if committing else ""),
            detail_zh="数据库未能及时响应" + ("；提交已在进行中，结果未知" if committing else ""),
            outcome="unknown" if committing else "not_written",
        )
    return exc
