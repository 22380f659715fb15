"""A real `jifen serve` while its database is stopped, frozen or locked by another process.

What the service promises (README, db.py): every wait on the database is bounded, and past
the bound the API answers 503 problem+json (`service_unavailable`, an `outcome`, and
Retry-After) instead of hanging or failing with a 500; /healthz answers from the event
loop whatever the database does; /readyz says 503 while the database cannot answer; and
when the database is back, the service recovers by itself, with books that hold exactly
the entries it acknowledged.

The PostgreSQL tests stop and freeze a throwaway cluster of their own (conftest.py), so
they run once, whatever backends the rest of the suite runs on; the SQLite test makes its
own database file.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from jifen.migrate import upgrade
from tests.liveness.conftest import Cluster, Server, admin_key, poll

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
REPLAYED_HEADER = "Idempotent-Replayed"
RETRY_AFTER_SECONDS = 1

# Short bounds, so that an outage is noticed in seconds (defaults: 15 s statements).
STATEMENT_TIMEOUT_MS = 2000
CONNECT_TIMEOUT_SECONDS = 2
WRITE_WAIT_TIMEOUT_SECONDS = 2
PG_BOUNDS = {
    "db_statement_timeout_ms": str(STATEMENT_TIMEOUT_MS),
    "db_lock_timeout_ms": "1000",
    "db_connect_timeout_seconds": str(CONNECT_TIMEOUT_SECONDS),
    "write_wait_timeout_seconds": str(WRITE_WAIT_TIMEOUT_SECONDS),
    "retry_after_seconds": str(RETRY_AFTER_SECONDS),
    "webhook_worker_in_process": "false",
}
# The longest a request may take to be refused while PostgreSQL is down or frozen: a new
# connection gives up after the connect timeout (2 s); a statement on a frozen server is
# broken off by the watchdog after statement timeout + 1 s (3 s, checked every 0.25 s); a
# write waits at most the write wait (2 s) for its turn at the committer. Even all three
# in a row make 7.25 s; the rest is slack for two busy cores.
ANSWER_BOUND_SECONDS = 10.0
# On SQLite a writer waits 500 ms for the lock another process holds.
SQLITE_LOCK_TIMEOUT_MS = 500
SQLITE_ANSWER_BOUND_SECONDS = 3.0
# /healthz never touches the database; /readyz gives its probe 2 s.
HEALTHZ_BOUND_SECONDS = 1.0
READYZ_BOUND_SECONDS = 3.0
# After the database is back, the first write books within this (a pooled connection the
# outage broke fails one request and is replaced).
RECOVERY_BOUND_SECONDS = 20.0

_keys = itertools.count(1)


def new_key(prefix: str) -> str:
    return f"{prefix}-{next(_keys)}-{uuid.uuid4().hex[:8]}"


def timed(send: Callable[[], httpx.Response], what: str) -> tuple[httpx.Response, float]:
    """Send a request; its response and how long it took. No answer at all fails."""
    started = time.monotonic()
    try:
        response = send()
    except httpx.TimeoutException as exc:
        elapsed = time.monotonic() - started
        raise AssertionError(f"{what}: no answer after {elapsed:.1f} s ({exc!r})") from exc
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, elapsed: float, bound: float) -> dict[str, Any]:
    """A 503 service_unavailable problem with an outcome and Retry-After, within `bound`."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == "service_unavailable", body
    assert body["status"] == 503, body
    assert body["outcome"] in ("not_written", "unknown"), body
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS), response.headers
    assert elapsed < bound, f"503 after {elapsed:.2f} s, past the bound of {bound} s"
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


# --- the books under test -------------------------------------------------------------------


@dataclass
class Attempt:
    """A POST /v1/entries and what became of it."""

    key: str
    amount: int
    status: int
    outcome: str | None
    seconds: float


@dataclass
class Books:
    """A village with one member, built over the API, and the entries booked into it."""

    client: httpx.Client
    village_id: str
    issuance_id: str
    member_account_id: str
    acknowledged: list[Attempt] = field(default_factory=list)
    refused: list[Attempt] = field(default_factory=list)
    # (outcome, whether its retry was a replay) of each refused entry, once settled.
    settled: list[tuple[str | None, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, client: httpx.Client) -> Books:
        suffix = uuid.uuid4().hex[:8]
        township = ok(
            client.post("/v1/townships", json={"code": f"t{suffix}", "name": "测试镇"}), 201
        )
        village = ok(
            client.post(
                "/v1/villages",
                json={"township_id": township["id"], "code": f"v{suffix}", "name": "测试村"},
            ),
            201,
        )
        member = ok(
            client.post("/v1/members", json={"village_id": village["id"], "name": "张三"}), 201
        )
        issuance = _points_account(client, "general", village_id=village["id"], kind="issuance")
        mine = _points_account(
            client, "main", village_id=village["id"], kind="member", member_id=member["id"]
        )
        return cls(client, village["id"], issuance, mine)

    def post_entry(self, key: str, amount: int) -> httpx.Response:
        body = {
            "village_id": self.village_id,
            "code": "labor_award",
            "memo": f"义务劳动 {amount} 分",
            "postings": [
                {"account_id": self.issuance_id, "amount": -amount},
                {"account_id": self.member_account_id, "amount": amount},
            ],
        }
        return self.client.post("/v1/entries", json=body, headers={"Idempotency-Key": key})

    def book(self, amount: int, bound: float = ANSWER_BOUND_SECONDS, key: str = "") -> Attempt:
        """POST an entry: it is booked (201) or refused with 503 within `bound`."""
        key = key or new_key("entry")
        response, seconds = timed(lambda: self.post_entry(key, amount), f"POST entry {key}")
        outcome = None
        if response.status_code == 201:
            assert response.json()["village_id"] == self.village_id
            assert seconds < bound, f"booked after {seconds:.2f} s, past the bound of {bound} s"
        else:
            outcome = assert_unavailable(response, seconds, bound)["outcome"]
        attempt = Attempt(key, amount, response.status_code, outcome, seconds)
        with self._lock:
            (self.acknowledged if outcome is None else self.refused).append(attempt)
        return attempt

    def book_until_booked(self, amount: int, what: str) -> tuple[float, int]:
        """Retry one new entry (one Idempotency-Key, as a client should) until it books;
        the seconds that took and the refusals before it."""
        key = new_key("recovery")
        attempts: list[Attempt] = []

        def books() -> bool:
            attempts.append(self.book(amount, key=key))
            return attempts[-1].status == 201

        seconds = poll(books, what, RECOVERY_BOUND_SECONDS)
        # Its refusals were retried with the same key: they are this booking.
        with self._lock:
            self.refused = [a for a in self.refused if a.key != key]
        return seconds, len(attempts) - 1

    def settle_refused(self) -> None:
        """Retry every refused entry with its own key, now that the database answers.

        One refused as `not_written` kept nothing: its retry books it anew (no replay).
        One whose outcome was `unknown` answers 201 either way — replayed if it was kept.
        """
        refused, self.refused = self.refused, []
        for attempt in refused:
            response = self.post_entry(attempt.key, attempt.amount)
            assert response.status_code == 201, (attempt, response.status_code, response.text)
            replayed = REPLAYED_HEADER in response.headers
            if attempt.outcome == "not_written":
                assert not replayed, f"{attempt} was answered 'not_written' but was kept"
            self.settled.append((attempt.outcome, replayed))
            self.acknowledged.append(attempt)

    def fill_pool(self, connections: int = 8) -> None:
        """Make the server hold several pooled connections (concurrent reads)."""
        with ThreadPoolExecutor(max_workers=connections) as pool:
            for response in pool.map(lambda _: self.balance(), range(connections)):
                ok(response)

    def assert_steady(self, count: int = 10) -> None:
        """Recovered for good: a run of writes and reads all succeed (no broken connection
        left in the pool to fail a later request)."""
        statuses = [self.book(1).status for _ in range(count)]
        statuses += [self.balance().status_code for _ in range(count)]
        assert statuses == [201] * count + [200] * count, statuses

    def balance(self) -> httpx.Response:
        return self.client.get(f"/v1/accounts/{self.member_account_id}/balance")

    def assert_books_hold_what_was_acknowledged(self) -> None:
        """The member's balance is the sum of the 201s; the chain and balances verify."""
        expected = sum(attempt.amount for attempt in self.acknowledged)
        assert ok(self.balance())["posted"] == expected, self.acknowledged
        verification = ok(self.client.get(f"/v1/villages/{self.village_id}/verification"))
        assert verification["is_intact"], verification
        assert verification["entries_checked"] == len(self.acknowledged), verification
        assert verification["balance_mismatches"] == [], verification


def _points_account(client: httpx.Client, category: str, **params: str) -> str:
    """The id of the one POINTS account of this category that the filter finds."""
    found = [
        account["id"]
        for account in ok(client.get("/v1/accounts", params=params))["items"]
        if account["category"] == category and account["asset"] == "POINTS"
    ]
    assert len(found) == 1, (params, found)
    return str(found[0])


@contextmanager
def api(server: Server, key: str) -> Iterator[httpx.Client]:
    """An admin's client; its timeout is well past the bound, so a hang shows as one."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=ANSWER_BOUND_SECONDS + 20,
    ) as client:
        yield client


def readyz(server: Server) -> httpx.Response:
    response, seconds = timed(
        lambda: httpx.get(f"{server.base_url}/readyz", timeout=ANSWER_BOUND_SECONDS + 20),
        "/readyz",
    )
    assert seconds < READYZ_BOUND_SECONDS, f"/readyz took {seconds:.2f} s"
    return response


def assert_not_ready(server: Server) -> None:
    response = readyz(server)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    assert "retry-after" in response.headers, response.headers
    body = response.json()
    assert body["code"] == "service_unavailable", body
    assert body["checks"]["database"]["status"] == "unavailable", body


def poll_ready(server: Server) -> float:
    def ready() -> bool:
        response = readyz(server)
        if response.status_code == 200:
            assert response.json()["status"] == "ready", response.text
            return True
        assert response.status_code == 503, response.text
        return False

    return poll(ready, "/readyz to answer 200 again", RECOVERY_BOUND_SECONDS)


class HealthWatch:
    """Asks /healthz every 50 ms in a thread of its own while the block runs; every answer
    must be 200 within HEALTHZ_BOUND_SECONDS."""

    def __init__(self, server: Server) -> None:
        self.url = f"{server.base_url}/healthz"
        self.answers: list[tuple[int | str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-watch", daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEALTHZ_BOUND_SECONDS + 10)

    def _run(self) -> None:
        with httpx.Client(timeout=HEALTHZ_BOUND_SECONDS + 5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                status: int | str
                try:
                    response = client.get(self.url)
                    status = response.status_code
                    if response.json() != {"status": "ok"}:
                        status = f"{status} {response.text}"
                except (httpx.HTTPError, ValueError) as exc:
                    status = repr(exc)
                self.answers.append((status, time.monotonic() - started))
                self._stop.wait(0.05)

    @property
    def slowest(self) -> float:
        return max(seconds for _, seconds in self.answers)

    def assert_healthy(self) -> None:
        assert self.answers, "/healthz was never asked"
        bad = [(status, seconds) for status, seconds in self.answers if status != 200]
        assert not bad, f"/healthz failed: {bad[:5]}"
        assert self.slowest < HEALTHZ_BOUND_SECONDS, f"/healthz took {self.slowest:.2f} s"


def assert_live(server: Server) -> None:
    response, seconds = timed(
        lambda: httpx.get(f"{server.base_url}/healthz", timeout=HEALTHZ_BOUND_SECONDS + 5),
        "/healthz",
    )
    assert ok(response) == {"status": "ok"}
    assert seconds < HEALTHZ_BOUND_SECONDS, f"/healthz took {seconds:.2f} s"


def assert_no_unexpected_errors(server: Server) -> None:
    """No request failed with a 500, and the committer never failed itself (the server
    logs both)."""
    output = server.output()
    for sign in ("unexpected error", "group commit failed"):
        assert sign not in output, output[-5000:]


# --- PostgreSQL stopped -------------------------------------------------------------------------


@pytest.mark.postgres_only
def test_stopped_database_is_refused_with_503_and_the_service_recovers(
    pg_cluster: Cluster, serve: Callable[..., Server]
) -> None:
    """Stopped PostgreSQL: writes and reads get 503 within the bound, /readyz 503, /healthz
    200 throughout; started again, the same server books again without a restart, and its
    books hold exactly the acknowledged entries."""
    server = serve(pg_cluster.url, **PG_BOUNDS)
    with api(server, admin_key(pg_cluster.url)) as client:
        books = Books.create(client)
        assert books.book(5).status == 201
        poll_ready(server)
        books.fill_pool()

        with HealthWatch(server) as health:
            pg_cluster.stop("fast")
            assert_live(server)
            # The first request may meet a pooled connection the shutdown closed, the later
            # ones a server that refuses connections: each is a 503 within the bound.
            writes = [books.book(2) for _ in range(3)]
            assert all(attempt.status == 503 for attempt in writes), writes
            read, read_seconds = timed(books.balance, "GET balance")
            assert_unavailable(read, read_seconds, ANSWER_BOUND_SECONDS)
            assert_not_ready(server)
            assert_live(server)

            restart_seconds = pg_cluster.start()
            recovery_seconds, recovery_refusals = books.book_until_booked(
                3, "a write to book again"
            )
            ready_seconds = poll_ready(server)
            books.assert_steady()
        health.assert_healthy()
        books.settle_refused()
        books.assert_books_hold_what_was_acknowledged()
    assert_no_unexpected_errors(server)
    print(
        f"stopped: writes refused in {[round(a.seconds, 3) for a in writes]} s, "
        f"read in {read_seconds:.3f} s; restart {restart_seconds:.2f} s, then booked "
        f"after {recovery_seconds:.2f} s ({recovery_refusals} refusals first), ready after "
        f"{ready_seconds:.2f} s more; slowest /healthz {health.slowest:.3f} s "
        f"of {len(health.answers)}"
    )


# --- PostgreSQL frozen --------------------------------------------------------------------------


class Writer:
    """Books one entry after another in a thread of its own while the block runs, so that
    the database freezes under writes in flight."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.attempts: list[Attempt] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=ANSWER_BOUND_SECONDS + 30)
        if self._thread.is_alive() and self.error is None:
            self.error = AssertionError("the writer's last request never ended")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.attempts.append(self.books.book(1))
                self._stop.wait(0.02)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def booked(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.status == 201)

    def refused(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.status == 503)


@pytest.mark.postgres_only
def test_frozen_database_is_refused_with_503_and_the_service_recovers(
    pg_cluster: Cluster, serve: Callable[..., Server]
) -> None:
    """Frozen PostgreSQL (every process SIGSTOPped: connections stay open, nothing answers)
    under writes in flight: concurrent writes and a read get 503 within the bound, /readyz
    503, /healthz 200 throughout; thawed, the server books again by itself and its books
    hold exactly the acknowledged entries (writes caught in flight included)."""
    server = serve(pg_cluster.url, **PG_BOUNDS)
    with api(server, admin_key(pg_cluster.url)) as client:
        books = Books.create(client)
        assert books.book(5).status == 201
        # Requests during the freeze take pooled connections and wait on the frozen server
        # (the watchdog's case) besides making new ones (the connect timeout's).
        books.fill_pool()

        with HealthWatch(server) as health, Writer(books) as writer:
            poll(lambda: writer.booked() >= 3 or writer.error is not None, "the writer to book")
            assert writer.error is None, writer.error
            with pg_cluster.frozen(), ThreadPoolExecutor(max_workers=6) as pool:
                frozen_at = time.monotonic()
                writes = [pool.submit(books.book, 2) for _ in range(4)]
                read = pool.submit(timed, books.balance, "GET balance")
                # While those wait on the frozen database:
                assert_live(server)
                assert_not_ready(server)
                write_attempts = [future.result() for future in writes]
                read_response, read_seconds = read.result()
                # The writer's write that the freeze caught in flight is broken off too.
                poll(
                    lambda: writer.refused() > 0 or writer.error is not None,
                    "the write in flight to be refused",
                    ANSWER_BOUND_SECONDS,
                )
                assert writer.error is None, writer.error
                frozen_seconds = time.monotonic() - frozen_at
            assert all(attempt.status == 503 for attempt in write_attempts), write_attempts
            assert_unavailable(read_response, read_seconds, ANSWER_BOUND_SECONDS)

            recovery_seconds, recovery_refusals = books.book_until_booked(
                3, "a write to book again"
            )
            ready_seconds = poll_ready(server)
            books.assert_steady()
            booked_before = writer.booked()
            poll(lambda: writer.booked() > booked_before, "the writer to book again")
        assert writer.error is None, writer.error
        health.assert_healthy()
        in_flight = [a for a in writer.attempts if a.status == 503]
        books.settle_refused()
        books.assert_books_hold_what_was_acknowledged()
    assert_no_unexpected_errors(server)
    print(
        f"frozen for {frozen_seconds:.2f} s: writes refused in "
        f"{[round(a.seconds, 3) for a in write_attempts]} s, read in {read_seconds:.3f} s; "
        f"the writer's refusals {[(round(a.seconds, 3), a.outcome) for a in in_flight]}; "
        f"settled (outcome, replayed): {books.settled}; "
        f"thawed, booked after {recovery_seconds:.2f} s ({recovery_refusals} refusals "
        f"first), ready after {ready_seconds:.2f} s more; slowest /healthz "
        f"{health.slowest:.3f} s of {len(health.answers)}"
    )


# --- SQLite locked by another process --------------------------------------------------------


def test_sqlite_write_lock_held_by_another_process_is_refused_with_503(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """SQLite whose write lock another process holds: a write gets 503 within about the lock
    timeout (0.5 s), reads still answer (WAL), /healthz 200; released, a write books."""
    path = tmp_path / "jifen.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    server = serve(
        url, db_lock_timeout_ms=str(SQLITE_LOCK_TIMEOUT_MS), webhook_worker_in_process="false"
    )
    with api(server, admin_key(url)) as client:
        books = Books.create(client)
        assert books.book(5).status == 201

        with HealthWatch(server) as health:
            holder = sqlite3.connect(path, isolation_level=None, timeout=10)
            try:
                holder.execute("BEGIN IMMEDIATE")
                writes = [books.book(2, bound=SQLITE_ANSWER_BOUND_SECONDS) for _ in range(2)]
                assert all(attempt.status == 503 for attempt in writes), writes
                assert all(attempt.outcome == "not_written" for attempt in writes), writes
                read, read_seconds = timed(books.balance, "GET balance")
                assert ok(read)["posted"] == 5
                assert_live(server)
            finally:
                if holder.in_transaction:
                    holder.execute("ROLLBACK")
                holder.close()

            recovery_seconds, recovery_refusals = books.book_until_booked(
                3, "a write to book again"
            )
            ready_seconds = poll_ready(server)
            books.assert_steady()
        health.assert_healthy()
        books.settle_refused()
        books.assert_books_hold_what_was_acknowledged()
    assert_no_unexpected_errors(server)
    print(
        f"sqlite locked: writes refused in {[round(a.seconds, 3) for a in writes]} s, "
        f"read answered in {read_seconds:.3f} s; released, booked after "
        f"{recovery_seconds:.2f} s ({recovery_refusals} refusals first), ready after "
        f"{ready_seconds:.2f} s more; slowest /healthz {health.slowest:.3f} s "
        f"of {len(health.answers)}"
    )
