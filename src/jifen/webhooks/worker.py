"""The delivery worker: dispatches outbox events and sends due deliveries, in a loop.

It runs inside `jifen serve` (a daemon thread) or on its own (`jifen worker`). Several
workers may run against one PostgreSQL database: they queue on the outbox rows and skip
each other's claimed deliveries.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import httpx

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.webhooks import delivery, ssrf

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 1.0
# After an unexpected error (the database is away, say) the loop waits this long.
ERROR_PAUSE_SECONDS = 5.0
# After a round that found work but less than a full batch, the loop waits this long:
# under a steady stream of bookings the events gather into batches, and the worker's
# short write transactions stay out of the way of the bookings' group commits.
BUSY_PAUSE_SECONDS = 0.2


@dataclass(frozen=True)
class RunCounts:
    events_dispatched: int
    deliveries_created: int
    sent: int
    succeeded: int
    retrying: int
    failed: int

    @property
    def is_idle(self) -> bool:
        return self.events_dispatched == 0 and self.sent == 0

    @property
    def is_full(self) -> bool:
        """A batch was full: more is waiting, go on at once."""
        return self.events_dispatched >= delivery.DISPATCH_BATCH or self.sent >= delivery.SEND_BATCH


class DeliveryWorker:
    def __init__(
        self, db: Database, settings: Settings, *, http_client: httpx.Client | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self._owns_client = http_client is None
        self.http_client = http_client or httpx.Client(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> RunCounts:
        """Dispatch one batch of events, then send one batch of due deliveries."""
        with self.db.unit_of_work(write=True) as session:
            dispatched = delivery.dispatch(session, now=now or utc_now())
        sent = delivery.send_due(
            lambda: self.db.unit_of_work(write=True),
            self.http_client,
            now or utc_now(),
            attempts_max=self.settings.webhook_attempts_max,
            policy=ssrf.UrlPolicy.from_settings(self.settings),
        )
        return RunCounts(
            dispatched.events,
            dispatched.deliveries,
            sent.sent,
            sent.succeeded,
            sent.retrying,
            sent.failed,
        )

    def run_forever(
        self, stop_event: threading.Event, poll_interval: float = POLL_INTERVAL_SECONDS
    ) -> None:
        """Run until `stop_event` is set; sleep when there was nothing to do, and a little
        when there was less than a batch."""
        while not stop_event.is_set():
            try:
                counts = self.run_once()
            except Exception:
                log.exception("webhook delivery round failed")
                stop_event.wait(ERROR_PAUSE_SECONDS)
                continue
            if counts.is_idle:
                stop_event.wait(poll_interval)
            elif not counts.is_full:
                stop_event.wait(min(poll_interval, BUSY_PAUSE_SECONDS))

    def start_in_thread(self, poll_interval: float = POLL_INTERVAL_SECONDS) -> threading.Thread:
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever,
            args=(self._stop, poll_interval),
            name="jifen-webhooks",
            daemon=True,
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (waiting for the round in progress) and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(
                timeout if timeout is not None else self.settings.webhook_timeout_seconds + 5
            )
            self._thread = None
        if self._owns_client:
            self.http_client.close()
