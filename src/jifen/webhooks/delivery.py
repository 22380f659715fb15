"""From outbox events to signed HTTP deliveries.

dispatch() turns each undispatched event into one delivery per endpoint that subscribed
to its type and whose client has a member bound to it; send_due() posts the due ones,
outside any open transaction, and records every attempt.

Ordering: deliveries with the same endpoint and ordering key (the member or household)
go out in event order; a later one waits while an earlier one is pending, and stops
waiting once the earlier one succeeded or was given up. Events about one member are
written under the lock of their village's books, so their seq order is also the order
in which they committed: dispatch never sees a later event of a member before an earlier
one.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import case, exists, insert, select, update
from sqlalchemy.orm import Session, aliased
from standardwebhooks import Webhook

from jifen.kit.canonical import canonical_json, format_instant
from jifen.kit.clock import utc_now
from jifen.kit.ids import new_id
from jifen.models import (
    HouseholdMembership,
    MemberBinding,
    OAuthClient,
    OutboxEvent,
    Principal,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.problems import NotFound
from jifen.webhooks import ssrf
from jifen.webhooks.errors import WebhookUrlRefused

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"

DISPATCH_BATCH = 500
SEND_BATCH = 100
SEND_CONCURRENCY = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)
BACKOFF_JITTER = 0.1  # up to 10% later, so that failed deliveries do not retry in step
# A claimed delivery is not picked again for this long: the time to post it and record
# the outcome. If the worker dies meanwhile, it goes out again afterwards.
CLAIM_LEASE = timedelta(minutes=5)
ERROR_LENGTH_MAX = 500
USER_AGENT = "jifen-webhooks/1"

SessionFactory = Callable[[], AbstractContextManager[Session]]


# --- dispatch ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int


def dispatch(
    session: Session, *, now: datetime, batch_size: int = DISPATCH_BATCH
) -> DispatchResult:
    """Make the deliveries of the oldest undispatched events and mark them dispatched.

    An event goes to every enabled endpoint, in its township, of a client neither revoked
    nor disabled, that subscribed to its type, and only if the client has a binding to the
    event's member (for a household: to one of its current members). The body names the
    client's users the event concerns; no client learns of members not bound to it.
    """
    # Events of townships where no endpoint listens go to nobody: marked in one statement,
    # without loading them (a seed or an import can leave a long backlog).
    unheard = session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.dispatched_at.is_(None),
            OutboxEvent.township_id.not_in(
                select(WebhookEndpoint.township_id).where(WebhookEndpoint.disabled_at.is_(None))
            ),
        )
        .values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    skipped = unheard.rowcount or 0  # type: ignore[attr-defined]
    # Concurrent dispatchers queue on these rows rather than skip them, so that no event
    # of a member is dispatched before an earlier one.
    events = list(
        session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.seq)
            .limit(batch_size)
            .with_for_update()
        ).scalars()
    )
    if not events:
        return DispatchResult(skipped, 0)
    rows = _deliveries(session, events, now)
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.seq.in_([e.seq for e in events]))
        .values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return DispatchResult(skipped + len(events), len(rows))


def _deliveries(
    session: Session, events: Sequence[OutboxEvent], now: datetime
) -> list[dict[str, Any]]:
    endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in session.execute(
        select(WebhookEndpoint)
        .join(OAuthClient, OAuthClient.principal_id == WebhookEndpoint.client_principal_id)
        .join(Principal, Principal.id == WebhookEndpoint.client_principal_id)
        .where(
            WebhookEndpoint.township_id.in_({e.township_id for e in events}),
            WebhookEndpoint.disabled_at.is_(None),
            OAuthClient.township_id == WebhookEndpoint.township_id,
            OAuthClient.revoked_at.is_(None),
            Principal.disabled_at.is_(None),
        )
        .order_by(WebhookEndpoint.id)
    ).scalars():
        endpoints[endpoint.township_id].append(endpoint)
    if not endpoints:
        return []

    household_members: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    household_ids = {e.household_id for e in events if e.household_id is not None}
    if household_ids:
        for household_id, member_id in session.execute(
            select(HouseholdMembership.household_id, HouseholdMembership.member_id).where(
                HouseholdMembership.household_id.in_(household_ids),
                HouseholdMembership.left_on.is_(None),
            )
        ):
            household_members[household_id].add(member_id)

    def concerned(event: OutboxEvent) -> set[uuid.UUID]:
        if event.member_id is not None:
            return {event.member_id}
        if event.household_id is not None:
            return household_members[event.household_id]
        return set()

    member_ids = set().union(*(concerned(e) for e in events))
    # (client, member) -> the client's users bound to that member
    user_refs: dict[tuple[uuid.UUID, uuid.UUID], set[str]] = defaultdict(set)
    if member_ids:
        clients = {ep.client_principal_id for eps in endpoints.values() for ep in eps}
        for client_id, member_id, user_ref in session.execute(
            select(
                MemberBinding.client_principal_id, MemberBinding.member_id, MemberBinding.user_ref
            ).where(
                MemberBinding.member_id.in_(member_ids),
                MemberBinding.client_principal_id.in_(clients),
                MemberBinding.revoked_at.is_(None),
            )
        ):
            user_refs[(client_id, member_id)].add(user_ref)

    rows = []
    for event in events:
        members = concerned(event)
        for endpoint in endpoints.get(event.township_id, []):
            if event.type not in endpoint.events:
                continue
            client = endpoint.client_principal_id
            refs = sorted({ref for m in members for ref in user_refs.get((client, m), ())})
            if not refs:
                continue
            body = {
                "type": event.type,
                "timestamp": format_instant(event.created_at),
                "data": {**event.payload, "user_refs": refs},
            }
            rows.append(
                {
                    "id": new_id(),
                    "endpoint_id": endpoint.id,
                    "event_seq": event.seq,
                    "event_type": event.type,
                    "ordering_key": str(event.member_id or event.household_id),
                    "body": canonical_json(body),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "delivered_at": None,
                }
            )
    return rows


# --- sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    sent: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    url: str
    secret: str
    body: bytes
    # The secret before a rotation, while its grace period lasts: deliveries are signed
    # with both.
    previous_secret: str | None = None


@dataclass(frozen=True)
class _Outcome:
    delivery_id: uuid.UUID
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send_due(
    session_factory: SessionFactory,
    http_client: httpx.Client,
    now: datetime,
    *,
    attempts_max: int,
    batch_size: int = SEND_BATCH,
    policy: ssrf.UrlPolicy = ssrf.STRICT,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> SendResult:
    """Post the deliveries due at `now`, at most one per endpoint and member at a time,
    and record each attempt.

    `session_factory()` opens a unit of work (commit on success); two short ones are
    used, and no transaction is open while the requests are out. `now` decides what is
    due and when a retry falls; the signature's timestamp is the wall clock at sending,
    because the receiver checks it against its own.

    Every URL is checked again against `policy` before its post, its host resolved by
    `resolver` and every address checked, and the post connects to a checked address:
    a refused URL is a failed attempt, logged with the reason (jifen.webhooks.ssrf).
    """
    with session_factory() as session:
        claimed = _claim(session, now, batch_size)
    if not claimed:
        return SendResult()
    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(claimed))) as pool:
        outcomes = list(pool.map(lambda c: _post(http_client, c, policy, resolver), claimed))
    with session_factory() as session:
        return _record(session, outcomes, now, attempts_max)


def _claim(session: Session, now: datetime, batch_size: int) -> list[_Claimed]:
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.ordering_key == WebhookDelivery.ordering_key,
        earlier.status == PENDING,
        earlier.event_seq < WebhookDelivery.event_seq,
    )
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookDelivery.body,
            case(
                (WebhookEndpoint.previous_secret_expires_at > now, WebhookEndpoint.previous_secret),
                else_=None,
            ),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(OAuthClient, OAuthClient.principal_id == WebhookEndpoint.client_principal_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            # Held, not dropped, while the endpoint is disabled or the client revoked.
            WebhookEndpoint.disabled_at.is_(None),
            OAuthClient.revoked_at.is_(None),
            ~blocked,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
        .limit(batch_size)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    ).all()
    claimed = [_Claimed(*row) for row in rows]
    if claimed:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([c.delivery_id for c in claimed]))
            .values(next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
    return claimed


def _post(
    http_client: httpx.Client,
    claimed: _Claimed,
    policy: ssrf.UrlPolicy,
    resolver: ssrf.Resolver,
) -> _Outcome:
    msg_id = str(claimed.delivery_id)
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        # Checked again now, not only at registration: the settings or the name's
        # addresses may have changed since (DNS rebinding).
        target = ssrf.resolve(ssrf.check_url(claimed.url, policy), policy, resolver)
    except WebhookUrlRefused as refused:
        duration_ms = int((time.monotonic() - started) * 1000)
        error = f"{WebhookUrlRefused.code}: {refused.reason}"[:ERROR_LENGTH_MAX]
        return _Outcome(claimed.delivery_id, None, error, duration_ms)
    try:
        signed_at = utc_now()
        headers = {
            "host": target.host_header(),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signature_header(
                claimed.secret, claimed.previous_secret, msg_id, signed_at, claimed.body
            ),
        }
        # The response body is never read: only the status counts.
        with http_client.stream(
            "POST",
            target.request_url(),
            content=claimed.body,
            headers=headers,
            extensions=target.request_extensions(),
        ) as r:
            status_code = r.status_code
    except Exception as exc:  # network errors, timeouts, bad URLs or secrets: a failed attempt
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH_MAX]
    duration_ms = int((time.monotonic() - started) * 1000)
    return _Outcome(claimed.delivery_id, status_code, error, duration_ms)


def signature_header(
    secret: str, previous_secret: str | None, msg_id: str, signed_at: datetime, body: bytes
) -> str:
    """`v1,<signature>`; after a rotation, while the old secret's grace period lasts,
    `v1,<by the new secret> v1,<by the old one>` (Standard Webhooks: space-separated
    signatures, any one of which a receiver may accept)."""
    content = body.decode("utf-8")
    signatures = [Webhook(secret).sign(msg_id, signed_at, content)]
    if previous_secret is not None:
        signatures.append(Webhook(previous_secret).sign(msg_id, signed_at, content))
    return " ".join(signatures)


def backoff(attempts: int) -> timedelta:
    """The wait after the given number of failed attempts, before jitter."""
    doublings = min(max(attempts, 1) - 1, 20)  # 5 s * 2**20 is far past the cap already
    return min(BACKOFF_BASE * 2**doublings, BACKOFF_MAX)


def _record(
    session: Session, outcomes: Sequence[_Outcome], now: datetime, attempts_max: int
) -> SendResult:
    deliveries = {
        d.id: d
        for d in session.execute(
            select(WebhookDelivery).where(WebhookDelivery.id.in_([o.delivery_id for o in outcomes]))
        ).scalars()
    }
    succeeded = retrying = failed = 0
    for outcome in outcomes:
        session.add(
            WebhookAttempt(
                id=new_id(),
                delivery_id=outcome.delivery_id,
                at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        delivery = deliveries[outcome.delivery_id]
        delivery.attempts += 1
        if outcome.is_success:
            delivery.status, delivery.next_attempt_at, delivery.delivered_at = SUCCEEDED, None, now
            succeeded += 1
        elif delivery.attempts >= attempts_max:
            delivery.status, delivery.next_attempt_at = FAILED, None
            failed += 1
        else:
            wait = backoff(delivery.attempts)
            delivery.next_attempt_at = now + wait * (1 + random.uniform(0, BACKOFF_JITTER))
            retrying += 1
    session.flush()
    return SendResult(len(outcomes), succeeded, retrying, failed)


# --- manual redelivery ------------------------------------------------------------------


def redeliver(session: Session, delivery_id: uuid.UUID, *, now: datetime) -> WebhookDelivery:
    """Make a delivery pending again and due now, with a fresh round of attempts (the
    log keeps the earlier ones). It goes out in its turn among its member's deliveries."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("webhook delivery", delivery_id)
    delivery.status = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    session.flush()
    return delivery
