"""Webhook delivery end to end: outbox -> dispatch -> a real HTTP receiver on loopback.

Time is controlled by passing `now`; the receiver checks each signature with the
Standard Webhooks library, as a client would.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.kit.ids import new_id
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import (
    Account,
    Household,
    Member,
    MemberBinding,
    OAuthClient,
    OutboxEvent,
    Principal,
    Township,
    Village,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.problems import NotFound
from jifen.webhooks import delivery, ssrf
from jifen.webhooks.delivery import FAILED, PENDING, SUCCEEDED
from jifen.webhooks.worker import DeliveryWorker
from tests.factories import account_of, award, clock, make_household, make_member, make_village
from tests.webhooks.conftest import DEVELOPMENT_ENV, DEVELOPMENT_POLICY

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
ALL_POINTS = ["points.earned", "points.redeemed", "points.reversed"]


# --- the receiver -----------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any  # what Webhook.verify returned, or the exception it raised
    status: int


@dataclass
class Receiver:
    """A loopback HTTP server that records every request. It answers with the statuses
    queued for the event's member in `by_member`, else with those queued in `script`,
    then 200; "slow" answers after the client's timeout."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    by_member: dict[str, list[int | str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *statuses: int | str, member: Member | None = None) -> None:
        with self.lock:
            queue = self.by_member.setdefault(str(member.id), []) if member else self.script
            queue.extend(statuses)

    def answer(self, payload: Any) -> int | str:
        with self.lock:
            member = payload["data"]["member_id"] if isinstance(payload, dict) else None
            for queue in (self.by_member.get(member or ""), self.script):
                if queue:
                    return queue.pop(0)
            return 200

    @property
    def verified(self) -> list[dict[str, Any]]:
        return [r.payload for r in self.requests if isinstance(r.payload, dict)]

    def amounts_of(self, member: Member) -> list[int]:
        return [
            p["data"]["amount"] for p in self.verified if p["data"]["member_id"] == str(member.id)
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            try:
                payload: Any = Webhook(SECRET).verify(body, dict(self.headers.items()))
            except Exception as exc:
                payload = exc
            answer = state.answer(payload)
            if answer == "slow":
                time.sleep(1.0)
                answer = 200
            assert isinstance(answer, int)
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body, payload, answer))
            try:
                self.send_response(answer)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- the world: a village, a client, its bindings and endpoint --------------------------


@dataclass
class World:
    township: Township
    village: Village
    alice: Member
    bob: Member
    carol: Member  # bound to no client
    household: Household  # alice's
    accounts: dict[str, Account]
    client_id: uuid.UUID
    endpoint_id: uuid.UUID


def _client(session: Any, township_id: uuid.UUID, name: str) -> uuid.UUID:
    now = utc_now()
    principal_id = new_id()
    session.add(
        Principal(
            id=principal_id,
            kind="client",
            township_id=township_id,
            name=name,
            created_at=now,
            created_by="test",
        )
    )
    session.flush()
    session.add(
        OAuthClient(
            principal_id=principal_id,
            client_id=f"{name}-{principal_id.hex[:8]}",
            secret_hash="0" * 64,
            township_id=township_id,
            scopes=["points:read"],
            created_at=now,
        )
    )
    session.flush()
    return principal_id


def _bind(session: Any, client_id: uuid.UUID, member: Member, user_ref: str) -> MemberBinding:
    binding = MemberBinding(
        id=new_id(),
        client_principal_id=client_id,
        member_id=member.id,
        village_id=member.village_id,
        user_ref=user_ref,
        created_at=utc_now(),
    )
    session.add(binding)
    session.flush()
    return binding


def _endpoint(
    session: Any,
    client_id: uuid.UUID,
    township_id: uuid.UUID,
    url: str,
    events: list[str] | None = None,
) -> uuid.UUID:
    endpoint_id = new_id()
    session.add(
        WebhookEndpoint(
            id=endpoint_id,
            client_principal_id=client_id,
            township_id=township_id,
            url=url,
            events=events if events is not None else ALL_POINTS,
            secret=SECRET,
            description="mini-program",
            created_at=utc_now(),
        )
    )
    session.flush()
    return endpoint_id


@pytest.fixture
def world(db: Database, receiver: Receiver) -> World:
    with db.unit_of_work() as session:
        village = make_village(session)
        township = session.get(Township, village.township_id)
        assert township is not None
        household = make_household(session, village)
        alice = make_member(session, village, household_id=household.id)
        bob = make_member(session, village)
        carol = make_member(session, village)
        client_id = _client(session, village.township_id, "wx")
        _bind(session, client_id, alice, "openid-alice")
        _bind(session, client_id, bob, "openid-bob")
        endpoint_id = _endpoint(session, client_id, village.township_id, receiver.url)
        accounts = {
            "alice": account_of(session, village, AccountKind.MEMBER, alice.id),
            "bob": account_of(session, village, AccountKind.MEMBER, bob.id),
            "carol": account_of(session, village, AccountKind.MEMBER, carol.id),
            "household": account_of(session, village, AccountKind.HOUSEHOLD, household.id),
            "shop": account_of(session, village, AccountKind.SUPERMARKET),
        }
    return World(township, village, alice, bob, carol, household, accounts, client_id, endpoint_id)


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=0.5) as client:
        yield client


def _award(db: Database, settings: Settings, world: World, who: str, points: int) -> None:
    with db.unit_of_work() as session:
        award(session, settings, world.village, world.accounts[who], points)


def _dispatch(db: Database, now: datetime) -> delivery.DispatchResult:
    with db.unit_of_work() as session:
        return delivery.dispatch(session, now=now)


def _send(
    db: Database, http_client: httpx.Client, now: datetime, attempts_max: int = 8
) -> delivery.SendResult:
    return delivery.send_due(
        lambda: db.unit_of_work(write=True),
        http_client,
        now,
        attempts_max=attempts_max,
        policy=DEVELOPMENT_POLICY,
    )


def _deliveries(db: Database) -> list[WebhookDelivery]:
    with db.unit_of_work(write=False) as session:
        return list(
            session.execute(select(WebhookDelivery).order_by(WebhookDelivery.event_seq)).scalars()
        )


def _attempts(db: Database, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    with db.unit_of_work(write=False) as session:
        return list(
            session.execute(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.at, WebhookAttempt.id)
            ).scalars()
        )


# --- the tests --------------------------------------------------------------------------


def test_an_event_is_delivered_signed(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 12)
    now = utc_now()
    assert _dispatch(db, now) == delivery.DispatchResult(events=1, deliveries=1)
    assert _send(db, http_client, now) == delivery.SendResult(sent=1, succeeded=1)

    [request] = receiver.requests
    [row] = _deliveries(db)
    assert request.headers["webhook-id"] == str(row.id)
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    payload = request.payload
    assert isinstance(payload, dict), payload  # the signature verified
    assert payload["type"] == "points.earned"
    assert payload["data"]["member_id"] == str(world.alice.id)
    assert payload["data"]["amount"] == 12
    assert payload["data"]["user_refs"] == ["openid-alice"]
    assert json.loads(row.body) == payload
    # A wrong secret does not verify.
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(request.body, request.headers)

    assert (row.status, row.attempts, row.delivered_at, row.next_attempt_at) == (
        SUCCEEDED,
        1,
        now,
        None,
    )
    [attempt] = _attempts(db, row.id)
    assert (attempt.status_code, attempt.error, attempt.at) == (200, None, now)
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(OutboxEvent.dispatched_at)).scalar_one() == now
    # Nothing is left to do.
    assert _dispatch(db, now) == delivery.DispatchResult(0, 0)
    assert _send(db, http_client, now + timedelta(hours=2)) == delivery.SendResult()


def test_a_rolled_back_booking_delivers_nothing(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    with pytest.raises(errors.InsufficientPoints), db.unit_of_work() as session:
        ledger.book(
            session,
            village_id=world.village.id,
            code="redemption",
            postings=[
                ledger.PostingInput(world.accounts["alice"].id, -5),
                ledger.PostingInput(world.accounts["shop"].id, 5),
            ],
            actor="till",
            clock=clock(settings),
        )
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        award(session, settings, world.village, world.accounts["alice"], 5)
        raise RuntimeError("the request failed after booking")
    now = utc_now()
    assert _dispatch(db, now) == delivery.DispatchResult(0, 0)
    assert _send(db, http_client, now) == delivery.SendResult()
    assert receiver.requests == []
    assert _deliveries(db) == []


def test_retries_with_backoff_then_succeeds(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 3)
    receiver.fail_next(500, 503)
    t0 = utc_now()
    _dispatch(db, t0)

    assert _send(db, http_client, t0) == delivery.SendResult(sent=1, retrying=1)
    [row] = _deliveries(db)
    assert row.status == PENDING and row.attempts == 1
    assert row.next_attempt_at is not None
    wait = row.next_attempt_at - t0
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=5.5)
    # Not due yet.
    assert _send(db, http_client, t0 + timedelta(seconds=4)) == delivery.SendResult()

    t1 = row.next_attempt_at
    assert _send(db, http_client, t1) == delivery.SendResult(sent=1, retrying=1)
    [row] = _deliveries(db)
    assert row.attempts == 2
    assert row.next_attempt_at is not None
    wait = row.next_attempt_at - t1
    assert timedelta(seconds=10) <= wait <= timedelta(seconds=11)

    t2 = row.next_attempt_at
    assert _send(db, http_client, t2) == delivery.SendResult(sent=1, succeeded=1)
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.delivered_at) == (SUCCEEDED, 3, t2)
    assert [r.status for r in receiver.requests] == [500, 503, 200]
    # The same message each time: one id, one body, each signed afresh.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert len(receiver.verified) == 3


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [delivery.backoff(n).total_seconds() for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert delivery.backoff(30) == delivery.backoff(1000) == timedelta(hours=1)


def test_gives_up_after_the_last_attempt_and_the_next_proceeds(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 1)
    _award(db, settings, world, "alice", 2)
    receiver.fail_next(500, 500, 500)
    now = utc_now()
    _dispatch(db, now)
    for expected in (
        delivery.SendResult(sent=1, retrying=1),
        delivery.SendResult(sent=1, retrying=1),
        delivery.SendResult(sent=1, failed=1),
    ):
        # Only the first delivery goes out: the second waits behind it.
        assert _send(db, http_client, now, attempts_max=3) == expected
        first, second = _deliveries(db)
        now = first.next_attempt_at or now
    assert (first.status, first.attempts, first.next_attempt_at) == (FAILED, 3, None)
    assert (second.status, second.attempts) == (PENDING, 0)

    assert _send(db, http_client, now, attempts_max=3) == delivery.SendResult(1, 1)
    first, second = _deliveries(db)
    assert (first.status, second.status) == (FAILED, SUCCEEDED)
    assert [p["data"]["amount"] for p in receiver.verified] == [1, 1, 1, 2]


def test_a_failure_holds_back_that_members_events_only(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 1)
    _award(db, settings, world, "bob", 10)
    _award(db, settings, world, "alice", 2)
    _award(db, settings, world, "bob", 20)
    receiver.fail_next(500, member=world.alice)
    t0 = utc_now()
    _dispatch(db, t0)

    # One delivery per member at a time, in event order.
    assert _send(db, http_client, t0) == delivery.SendResult(sent=2, succeeded=1, retrying=1)
    assert _send(db, http_client, t0) == delivery.SendResult(sent=1, succeeded=1)
    # Alice's second event waits for her first, which waits for its retry.
    assert _send(db, http_client, t0 + timedelta(seconds=1)) == delivery.SendResult()
    assert receiver.amounts_of(world.alice) == [1]
    assert receiver.amounts_of(world.bob) == [10, 20]

    assert _send(db, http_client, t0 + timedelta(seconds=6)).succeeded == 1
    assert _send(db, http_client, t0 + timedelta(seconds=6)).succeeded == 1
    assert receiver.amounts_of(world.alice) == [1, 1, 2]
    assert [r.status for r in receiver.requests if r.payload["data"]["amount"] == 1] == [500, 200]
    assert {d.status for d in _deliveries(db)} == {SUCCEEDED}


def test_only_members_bound_to_the_client_are_delivered(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    with db.unit_of_work() as session:
        # Another client of the township, bound to carol, subscribed to redemptions only.
        other_id = _client(session, world.village.township_id, "other")
        _bind(session, other_id, world.carol, "other-carol")
        _endpoint(session, other_id, world.village.township_id, receiver.url, ["points.redeemed"])
        # A client of another township, whose endpoint would take anything.
        elsewhere = make_village(session)
        stranger_id = _client(session, elsewhere.township_id, "stranger")
        _endpoint(session, stranger_id, elsewhere.township_id, receiver.url)
        # Bob's binding is revoked.
        session.execute(
            select(MemberBinding).where(MemberBinding.member_id == world.bob.id)
        ).scalar_one().revoked_at = utc_now()
    _award(db, settings, world, "carol", 5)  # bound to other, which wants redemptions only
    _award(db, settings, world, "bob", 5)  # binding revoked
    _award(db, settings, world, "household", 7)  # alice's household: goes to wx
    with db.unit_of_work() as session:
        ledger.book(
            session,
            village_id=world.village.id,
            code="redemption",
            postings=[
                ledger.PostingInput(world.accounts["carol"].id, -2),
                ledger.PostingInput(world.accounts["shop"].id, 2),
            ],
            actor="till",
            clock=clock(settings),
        )
    now = utc_now()
    assert _dispatch(db, now) == delivery.DispatchResult(events=4, deliveries=2)
    assert _send(db, http_client, now).succeeded == 2
    by_type = {p["type"]: p for p in receiver.verified}
    household_event, carol_redeemed = by_type["points.earned"], by_type["points.redeemed"]
    assert household_event["type"] == "points.earned"
    assert household_event["data"]["household_id"] == str(world.household.id)
    assert household_event["data"]["member_id"] is None
    assert household_event["data"]["user_refs"] == ["openid-alice"]
    assert carol_redeemed["type"] == "points.redeemed"
    assert carol_redeemed["data"]["user_refs"] == ["other-carol"]
    with db.unit_of_work(write=False) as session:
        assert (
            session.execute(
                select(func.count()).where(OutboxEvent.dispatched_at.is_(None))
            ).scalar_one()
            == 0
        )


def test_a_disabled_endpoint_or_revoked_client_gets_nothing(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    def change(**values: Any) -> None:
        with db.unit_of_work() as session:
            endpoint = session.get(WebhookEndpoint, world.endpoint_id)
            client = session.get(OAuthClient, world.client_id)
            assert endpoint is not None and client is not None
            for name, value in values.items():
                setattr(endpoint if name == "disabled_at" else client, name, value)

    _award(db, settings, world, "alice", 1)
    now = utc_now()
    _dispatch(db, now)  # the delivery is made while the endpoint is enabled
    change(disabled_at=now)
    _award(db, settings, world, "alice", 2)
    assert _dispatch(db, now) == delivery.DispatchResult(events=1, deliveries=0)
    # What was already made is held while the endpoint is disabled, and goes out after.
    assert _send(db, http_client, now) == delivery.SendResult()
    change(disabled_at=None)
    assert _send(db, http_client, now).succeeded == 1

    change(revoked_at=now)
    _award(db, settings, world, "alice", 3)
    _award(db, settings, world, "alice", 4)
    _dispatch(db, now)
    change(revoked_at=None)
    _award(db, settings, world, "alice", 5)
    _dispatch(db, now)
    change(revoked_at=now)
    assert _send(db, http_client, now) == delivery.SendResult()
    change(revoked_at=None)
    assert _send(db, http_client, now).succeeded == 1
    assert receiver.amounts_of(world.alice) == [1, 5]


def test_manual_redelivery(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 4)
    now = utc_now()
    _dispatch(db, now)
    receiver.fail_next(500)
    _send(db, http_client, now, attempts_max=1)
    [row] = _deliveries(db)
    assert row.status == FAILED

    later = now + timedelta(minutes=10)
    with db.unit_of_work() as session:
        redelivered = delivery.redeliver(session, row.id, now=later)
    assert (redelivered.status, redelivered.attempts, redelivered.next_attempt_at) == (
        PENDING,
        0,
        later,
    )
    assert _send(db, http_client, later, attempts_max=1).succeeded == 1
    # A delivery that succeeded may be sent again too.
    with db.unit_of_work() as session:
        delivery.redeliver(session, row.id, now=later)
    assert _send(db, http_client, later, attempts_max=1).succeeded == 1
    assert [r.status for r in receiver.requests] == [500, 200, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert [a.status_code for a in _attempts(db, row.id)] == [500, 200, 200]
    with pytest.raises(NotFound), db.unit_of_work() as session:
        delivery.redeliver(session, new_id(), now=later)


def test_the_log_records_every_attempt_and_network_errors(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    _award(db, settings, world, "alice", 1)
    receiver.fail_next(502, "slow")
    now = utc_now()
    _dispatch(db, now)
    times = [now, now + timedelta(minutes=1), now + timedelta(minutes=2)]
    for at in times:
        _send(db, http_client, at)
    [row] = _deliveries(db)
    attempts = _attempts(db, row.id)
    assert [(a.at, a.status_code) for a in attempts] == [
        (times[0], 502),
        (times[1], None),
        (times[2], 200),
    ]
    assert attempts[1].error is not None and "Timeout" in attempts[1].error
    assert attempts[0].error is None and attempts[2].error is None
    assert all(a.duration_ms >= 0 for a in attempts)
    assert attempts[1].duration_ms >= 400
    assert row.status == SUCCEEDED

    # Nobody listening: connection refused is a failed attempt with its error text.
    with db.unit_of_work() as session:
        endpoint = session.get(WebhookEndpoint, world.endpoint_id)
        assert endpoint is not None
        endpoint.url = "http://127.0.0.1:9/nothing-here"
    _award(db, settings, world, "alice", 2)
    _dispatch(db, now)
    assert _send(db, http_client, times[2]) == delivery.SendResult(sent=1, retrying=1)
    [attempt] = _attempts(db, _deliveries(db)[1].id)
    assert attempt.status_code is None
    assert attempt.error is not None and "ConnectError" in attempt.error

    # A secret that cannot sign is a failed attempt too, not a stuck worker.
    with db.unit_of_work() as session:
        endpoint = session.get(WebhookEndpoint, world.endpoint_id)
        assert endpoint is not None
        endpoint.url, endpoint.secret = receiver.url, "whsec_"
    later = times[2] + timedelta(hours=1)
    assert _send(db, http_client, later) == delivery.SendResult(sent=1, retrying=1)
    attempt = _attempts(db, _deliveries(db)[1].id)[-1]
    assert attempt.error is not None and "secret" in attempt.error


def test_the_worker(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    worker = DeliveryWorker(db, settings, http_client=http_client)
    assert worker.run_once().is_idle
    _award(db, settings, world, "alice", 1)
    _award(db, settings, world, "carol", 1)  # bound to no client
    counts = worker.run_once()
    assert (counts.events_dispatched, counts.deliveries_created) == (2, 1)
    assert (counts.sent, counts.succeeded) == (1, 1)

    # In a thread, it picks up new events by itself.
    worker.start_in_thread(poll_interval=0.05)
    try:
        _award(db, settings, world, "bob", 3)
        deadline = time.monotonic() + 10
        while len(receiver.verified) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert receiver.amounts_of(world.alice) == [1]
    assert receiver.amounts_of(world.bob) == [3]


def test_the_worker_owns_a_client_with_the_configured_timeout(db: Database) -> None:
    settings = Settings(database_url=db.settings.database_url, webhook_timeout_seconds=3.5)
    worker = DeliveryWorker(db, settings)
    assert worker.http_client.timeout.read == 3.5
    worker.stop()
    assert worker.http_client.is_closed


def test_jifen_worker_delivers_as_a_process_of_its_own(
    db: Database, settings: Settings, world: World, receiver: Receiver, database_url: str
) -> None:
    import signal
    import subprocess
    import sys

    worker = subprocess.Popen(
        [sys.executable, "-m", "jifen", "worker", "--poll-interval", "0.2"],
        env={**os.environ, "JIFEN_DATABASE_URL": database_url, **DEVELOPMENT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _award(db, settings, world, "alice", 7)
        deadline = time.monotonic() + 30
        while not receiver.verified and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        assert receiver.amounts_of(world.alice) == [7]
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "delivering webhooks" in out


def test_events_nobody_listens_to_are_marked_without_being_loaded(
    db: Database, settings: Settings
) -> None:
    with db.unit_of_work() as session:
        quiet = make_village(session)  # a township with no endpoint at all
        member = make_member(session, quiet)
        account = account_of(session, quiet, AccountKind.MEMBER, member.id)
        for points in (1, 2, 3):
            award(session, settings, quiet, account, points)
    result = _dispatch(db, utc_now())
    assert (result.events, result.deliveries) == (3, 0)
    with db.unit_of_work(write=False) as session:
        waiting = session.execute(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        ).scalar_one()
    assert waiting == 0


# --- the SSRF guard at delivery time (see also test_ssrf.py) ------------------------------


def _point_endpoint_at(db: Database, world: World, url: str) -> None:
    with db.unit_of_work() as session:
        endpoint = session.get(WebhookEndpoint, world.endpoint_id)
        assert endpoint is not None
        endpoint.url = url


def _send_with(
    db: Database, http_client: httpx.Client, now: datetime, policy: ssrf.UrlPolicy, answers: dict
) -> tuple[delivery.SendResult, list[str]]:
    """Send with a resolver that answers from `answers`; returns what it was asked."""
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(f"{host}:{port}")
        return answers[host]

    result = delivery.send_due(
        lambda: db.unit_of_work(write=True),
        http_client,
        now,
        attempts_max=8,
        policy=policy,
        resolver=resolver,
    )
    return result, asked


def test_delivery_connects_to_the_address_it_checked_with_the_urls_host_name(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    # "hooks.jifen.test" exists in no DNS: the post can only reach the receiver through
    # the address the guard resolved and checked.
    _point_endpoint_at(db, world, f"http://hooks.jifen.test:{port}/hooks")
    _award(db, settings, world, "alice", 5)
    now = utc_now()
    _dispatch(db, now)
    result, asked = _send_with(
        db, http_client, now, DEVELOPMENT_POLICY, {"hooks.jifen.test": ["127.0.0.1"]}
    )
    assert result == delivery.SendResult(sent=1, succeeded=1)
    assert asked == [f"hooks.jifen.test:{port}"]  # resolved once, by the guard
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.jifen.test:{port}"
    assert receiver.amounts_of(world.alice) == [5]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        # DNS rebinding: the name now resolves to this host.
        (["127.0.0.1"], "127.0.0.1 is a loopback address"),
        # One public and one private answer: refused, whichever the connection would pick.
        (["93.184.216.34", "10.0.0.7"], "10.0.0.7 is a private address"),
        (["::ffff:169.254.169.254"], "169.254.169.254 is a link-local address (embedded in"),
        (["::1"], "::1 is a loopback address"),
    ],
)
def test_delivery_refuses_a_name_that_now_resolves_to_a_forbidden_address(
    db: Database,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http_client: httpx.Client,
    answer: list[str],
    reason: str,
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    _point_endpoint_at(db, world, f"http://rebind.jifen.test:{port}/hooks")
    _award(db, settings, world, "alice", 3)
    now = utc_now()
    _dispatch(db, now)
    # Production's address rules; http and the receiver's port are allowed only so that
    # the address is what decides.
    policy = ssrf.UrlPolicy(allow_http=True, allow_private_addresses=False, ports=None)
    result, _ = _send_with(db, http_client, now, policy, {"rebind.jifen.test": answer})
    assert result == delivery.SendResult(sent=1, retrying=1)
    assert receiver.requests == []
    [row] = _deliveries(db)
    [attempt] = _attempts(db, row.id)
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith(f"webhook_url_refused: {reason}"), attempt.error


def test_the_worker_applies_the_production_rules_to_urls_registered_before(
    db: Database, settings: Settings, world: World, receiver: Receiver, http_client: httpx.Client
) -> None:
    # The world's endpoint is http://127.0.0.1:<port>: registered under development
    # settings, the production worker refuses it (and posts nothing).
    _award(db, settings, world, "alice", 4)
    strict = Settings(database_url=db.settings.database_url)
    worker = DeliveryWorker(db, strict, http_client=http_client)
    counts = worker.run_once(utc_now())
    assert (counts.sent, counts.retrying) == (1, 1)
    assert receiver.requests == []
    [row] = _deliveries(db)
    [attempt] = _attempts(db, row.id)
    assert attempt.error is not None
    assert attempt.error.startswith("webhook_url_refused: it must use https"), attempt.error
