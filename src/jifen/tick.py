"""The clock's work (`jifen tick`), and the optional in-process scheduler that runs it.

One tick, in order: open and close the public notice lists that fell due (posting held
entries) and close the boards they settle; book the points expiries and year-end
clearings that fell due and announce points about to expire; on a tick of every village,
purge idempotency records past their retention and sign the villages' chain heads when a
checkpoint is due.

Invariants:
- a tick is safe to run twice, at any time, and after days of not running: each part
  books what fell due by `now` once and catches up in order. Two ticks at once (a cron
  job and a scheduler, or two replicas) book nothing twice: each part decides under the
  village's books lock what is still due;
- the scheduler is off unless JIFEN_TICK_EVERY_MINUTES is set; it runs a tick when it
  starts and then every N minutes, and a failed tick is logged and retried at the next
  round, never taking the server down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jifen.api import idempotency
from jifen.checkpoints import service as checkpoints
from jifen.config import Settings
from jifen.db import Database
from jifen.expiry import service as expiry
from jifen.kit.clock import utc_now
from jifen.notice import service as notice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    at: datetime
    notice: notice.NoticeTickReport
    expiry: expiry.TickReport
    # Only on a tick of every village (idempotency records and checkpoints are not a
    # village's); checkpoints also None when none was due.
    purged: idempotency.PurgeReport | None
    signed: checkpoints.RunReport | None

    @property
    def failed(self) -> bool:
        return bool(
            self.expiry.failed
            or self.notice.failed
            or (self.signed is not None and self.signed.failed)
        )

    def summary(self, settings: Settings) -> str:
        line = (
            f"tick at {self.at.isoformat()}: {self.expiry.entries} entries booked, "
            f"{self.expiry.notices} notices of points expiring, "
            f"notice lists {self.notice.opened} opened and {self.notice.closed} closed "
            f"({self.notice.posted} held entries posted), "
            f"{self.notice.boards_closed} boards closed"
        )
        if self.purged is not None:
            line += (
                f", {self.purged.purged} idempotency records older than "
                f"{settings.idempotency_retention_days} days purged"
            )
        if self.signed is not None:
            line += f", {self.signed.signed} village heads signed into checkpoints"
            if self.signed.refused:
                line += f" ({self.signed.refused} NOT SIGNED)"
        return line


def run(
    database: Database,
    settings: Settings,
    *,
    now: datetime,
    village: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> TickReport:
    """One tick by `now`, for every village or the one named (id or code). Raises
    NotFound for an unknown village."""
    # Notice lists first: points posted at a list's closing are then seen by expiry.
    listed = notice.tick(database, now=now, village=village, progress=progress)
    expired = expiry.tick(database, now=now, village=village, progress=progress)
    purged = signed = None
    if village is None:
        purged = idempotency.purge_expired(database, now=now, progress=progress)
        # Last: the heads signed include what this tick booked.
        signed = checkpoints.scheduled(database, settings, now=now, progress=progress)
    return TickReport(now, listed, expired, purged, signed)


class Scheduler:
    """Runs a tick every `settings.tick_every_minutes` in a daemon thread of the server.

    `clock` gives the instant each round ticks by (the wall clock by default); `rounds`
    counts finished rounds and `round_done` is set after each, so a caller (a test) can
    wait for a round with a bound instead of sleeping.
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if settings.tick_every_minutes < 1:
            raise ValueError("the scheduler needs JIFEN_TICK_EVERY_MINUTES of at least 1")
        self.database = database
        self.settings = settings
        self.clock = clock
        self.rounds = 0
        self.last: TickReport | None = None
        self.round_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> TickReport | None:
        """One round; a failure is logged (and the round counted) rather than raised."""
        report = None
        try:
            report = run(self.database, self.settings, now=self.clock(), progress=log.debug)
            self.last = report
            log.info("%s", report.summary(self.settings))
        except Exception:
            log.exception("scheduled tick failed; the next round tries again")
        finally:
            self.rounds += 1
            self.round_done.set()
        return report

    def _loop(self) -> None:
        interval = self.settings.tick_every_minutes * 60.0
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(interval)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="jifen-tick", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the round in progress (waiting at most `timeout` seconds for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
