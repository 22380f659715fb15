"""The crash test: a real server killed with SIGKILL at random moments while tills and
clerks' phones book with Idempotency-Keys, and restarted; the clients retry what was not
acknowledged, as they are told to.

Afterwards every acknowledged booking is in the books exactly once (the entry it was
acknowledged with), every refusal wrote nothing, nothing is half-written (each entry has
all its postings), the balances equal their postings and the chain verifies.

Bounded: CRASH_KILLS kills per backend. JIFEN_CRASH_SOAK=<kills> runs a longer soak
(e.g. 30), JIFEN_CRASH_SEED=<n> replays one run's random moments.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import func, select

from jifen.access import service as access
from jifen.api.idempotency import REPLAYED_HEADER
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Entry, Posting, Village
from tests.factories import account_of, make_member, make_village

JIFEN = [sys.executable, "-m", "jifen"]
SOAK_KILLS = int(os.environ.get("JIFEN_CRASH_SOAK", "0"))
CRASH_KILLS = SOAK_KILLS or 4
CLIENTS = 6
BOOKINGS_PER_CLIENT = 40 if not SOAK_KILLS else 10 * SOAK_KILLS
MEMBERS = 5
# Every wait is bounded: a request, a server start, the whole run.
REQUEST_TIMEOUT_SECONDS = 10.0
START_TIMEOUT_SECONDS = 90.0
RUN_TIMEOUT_SECONDS = 240.0 if not SOAK_KILLS else 60.0 * SOAK_KILLS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`jifen serve` on one port, killed and started again on the same port."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "JIFEN_DATABASE_URL": database_url,
            "JIFEN_RATE_LIMIT": "",
        }
        self.log: IO[bytes] = log_path.open("w+b")
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*JIFEN, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()


@dataclass
class Ledger:
    """What the clients were told: key -> (status, entry id or None)."""

    acknowledged: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)  # key -> signed points to member
    retries: int = 0
    # Answers replayed after a retry: the first attempt was kept but never answered.
    replayed_after_retry: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class World:
    village: Village
    key: str
    actor: str
    issuance: str
    shop: str
    members: tuple[str, ...]


@pytest.fixture
def world(db: Database) -> World:
    with db.unit_of_work() as session:
        user, key = access.create_platform_admin(
            session, name="crash", username=None, password=None, now=utc_now()
        )
        village = make_village(session, code="crash", name="崩溃村")
        members = tuple(
            str(
                account_of(
                    session, village, AccountKind.MEMBER, make_member(session, village).id
                ).id
            )
            for _ in range(MEMBERS)
        )
        issuance = str(account_of(session, village, AccountKind.ISSUANCE).id)
        shop = str(account_of(session, village, AccountKind.SUPERMARKET).id)
        actor = f"user:{user.id}"
    return World(village, key, actor, issuance, shop, members)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


def _client(
    number: int, world: World, server: Server, books: Ledger, seed: int, deadline: float
) -> None:
    rng = random.Random(seed * 1000 + number)
    with httpx.Client(
        base_url=server.base,
        timeout=REQUEST_TIMEOUT_SECONDS,
        headers={"Authorization": f"Bearer {world.key}"},
    ) as http:
        for turn in range(BOOKINGS_PER_CLIENT):
            member = rng.choice(world.members)
            points = rng.randint(1, 9)
            redeem = rng.random() < 0.4
            source, target = (member, world.shop) if redeem else (world.issuance, member)
            body = {
                "village_id": str(world.village.id),
                "code": "redemption" if redeem else "labor_award",
                "postings": [
                    {"account_id": source, "amount": -points},
                    {"account_id": target, "amount": points},
                ],
            }
            key = f"crash-{seed}-{number}-{turn}-{uuid.uuid4().hex[:6]}"
            attempts = 0
            while True:
                attempts += 1
                assert time.monotonic() < deadline, "the run did not finish in time"
                try:
                    answer = http.post("/v1/entries", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code in (201, 409):
                    entry_id = answer.json()["id"] if answer.status_code == 201 else None
                    if answer.status_code == 409:
                        assert answer.json()["code"] == "insufficient_points", answer.text
                    with books.lock:
                        books.acknowledged[key] = (answer.status_code, entry_id)
                        books.points[key] = -points if redeem else points
                        if attempts > 1 and answer.headers.get(REPLAYED_HEADER) == "true":
                            books.replayed_after_retry += 1
                    break
                # Not acknowledged (the server died, or answered 503): the same key again.
                assert answer is None or answer.status_code == 503, answer.text
                with books.lock:
                    books.retries += 1
                time.sleep(0.05)


def _check_books(db: Database, world: World, books: Ledger) -> None:
    booked = {k: v for k, v in books.acknowledged.items() if v[0] == 201}
    refused = {k for k, v in books.acknowledged.items() if v[0] == 409}
    with db.unit_of_work(write=False) as session:
        entries = session.execute(
            select(Entry.idempotency_key, Entry.id, Entry.posting_count, Entry.actor).where(
                Entry.village_id == world.village.id
            )
        ).all()
        by_key: dict[str | None, list[str]] = {}
        for key, entry_id, _count, actor in entries:
            assert actor == world.actor
            by_key.setdefault(key, []).append(str(entry_id))
        # Every acknowledged booking is there exactly once, as the entry acknowledged.
        for key, (_, entry_id) in booked.items():
            assert by_key.get(key) == [entry_id], (key, by_key.get(key), entry_id)
        # Refusals wrote nothing, and nothing unacknowledged exists.
        assert not (refused & set(by_key))
        assert set(by_key) == set(booked)
        # Nothing half-written: every entry has all its postings.
        counts = dict(
            session.execute(
                select(Posting.entry_id, func.count())
                .where(Posting.village_id == world.village.id)
                .group_by(Posting.entry_id)
            ).all()
        )
        for _key, entry_id, count, _actor in entries:
            assert counts.get(entry_id) == count == 2
        # Balances equal their postings, the chain verifies, and the members hold
        # exactly what the acknowledged bookings gave and took.
        result = ledger.verify_books(session, world.village.id)
        assert result.is_intact, result
        assert result.entries_checked == len(booked)
        assert ledger.trial_balance(session, world.village.id).is_balanced
        held = sum(
            ledger.get_balance(session, uuid.UUID(account)).posted for account in world.members
        )
        assert held == sum(books.points[key] for key in booked)
        assert all(
            ledger.get_balance(session, uuid.UUID(account)).posted >= 0 for account in world.members
        )


def test_bookings_survive_sigkill_and_restarts_exactly_once(
    db: Database, world: World, server: Server
) -> None:
    seed = int(os.environ.get("JIFEN_CRASH_SEED", str(random.SystemRandom().randrange(10**6))))
    rng = random.Random(seed)
    books = Ledger()
    started = time.monotonic()
    deadline = started + RUN_TIMEOUT_SECONDS
    server.start()
    failures: list[BaseException] = []

    def run_client(number: int) -> None:
        try:
            _client(number, world, server, books, seed, deadline)
        except BaseException as exc:
            failures.append(exc)

    clients = [threading.Thread(target=run_client, args=(n,)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    kills = 0
    total = CLIENTS * BOOKINGS_PER_CLIENT
    # Random moments while bookings are under way: after a random number of them were
    # answered, and a random few milliseconds more.
    moments = sorted(rng.sample(range(total // 10, total * 8 // 10), CRASH_KILLS))
    try:
        for moment in moments:
            while len(books.acknowledged) < moment and any(t.is_alive() for t in clients):
                assert time.monotonic() < deadline, "the run did not finish in time"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            server.kill()
            kills += 1
            time.sleep(rng.uniform(0, 0.3))
            server.start()
        for thread in clients:
            thread.join(max(deadline - time.monotonic(), 1))
            assert not thread.is_alive(), f"seed {seed}: a client did not finish"
    except BaseException as exc:  # keep the seed with the failure
        raise AssertionError(f"seed {seed}: {exc!r}") from exc
    finally:
        server.stop()
    assert not failures, f"seed {seed}: {failures[0]!r}"
    assert len(books.acknowledged) == CLIENTS * BOOKINGS_PER_CLIENT, f"seed {seed}"
    # The kills fell while bookings were under way: some requests went unanswered.
    assert kills == CRASH_KILLS, f"seed {seed}: the load ended before {CRASH_KILLS} kills"
    assert books.retries > 0, f"seed {seed}"
    try:
        _check_books(db, world, books)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
    assert time.monotonic() - started < RUN_TIMEOUT_SECONDS
    booked = sum(1 for status, _ in books.acknowledged.values() if status == 201)
    print(
        f"crash test seed {seed}: {kills} SIGKILLs, {booked} bookings acknowledged, "
        f"{len(books.acknowledged) - booked} refused, {books.retries} retries, "
        f"{books.replayed_after_retry} kept-but-unanswered answered by replay, "
        f"{time.monotonic() - started:.1f} s"
    )
