"""Rotating a webhook endpoint's signing secret without downtime: during the grace period
every delivery carries a signature by each secret (`v1,<new> v1,<old>`), so a receiver
still checking the old secret keeps working; afterwards only the new one signs.
The Python client's verify_webhook takes one secret or several."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.webhooks.delivery import signature_header
from jifen_client import WebhookVerificationError, verify_webhook
from tests.api.helpers import ok, problem, validation_failed
from tests.webhooks import test_delivery as delivery_tests
from tests.webhooks.test_delivery import SECRET, Receiver, World, _award, _dispatch, _send

# The delivery tests' world, receiver and HTTP client.
world = delivery_tests.world
receiver = delivery_tests.receiver
http_client = delivery_tests.http_client


def test_deliveries_are_signed_with_both_secrets_during_the_grace_period(
    client: TestClient,
    db: Database,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http_client: httpx.Client,
) -> None:
    url = f"/v1/webhook-endpoints/{world.endpoint_id}/secret-rotations"
    rotated = ok(client.post(url, json={"grace_seconds": 3600}), 201)
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != SECRET
    assert rotated["previous_secret_expires_at"] is not None

    _award(db, settings, world, "alice", 5)
    now = utc_now()
    _dispatch(db, now)
    _send(db, http_client, now)
    [during] = receiver.requests
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert isinstance(during.payload, dict)  # the receiver still checks the old secret
    for secrets in (new, SECRET, [new, SECRET], ["whsec_" + "A" * 32, new]):
        event = verify_webhook(secrets, during.headers, during.body)
        assert event.data["amount"] == 5

    # After the grace period only the new secret signs.
    _award(db, settings, world, "alice", 7)
    later = now + timedelta(hours=2)
    _dispatch(db, later)
    _send(db, http_client, later)
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert not isinstance(after.payload, dict)  # the old secret no longer verifies
    assert verify_webhook([SECRET, new], after.headers, after.body).data["amount"] == 7
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, after.headers, after.body)

    # No grace: the old secret stops at once; and the grace has its bound.
    ok(client.post(url, json={"grace_seconds": 0}), 201)
    problem(client.post(url, json={"grace_seconds": 10**8}), 422, "grace_too_long")
    validation_failed(client.post(url, json={"grace_seconds": "a day"}))


def test_the_signature_header_format() -> None:
    old = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    new = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    at = utc_now()
    body = b'{"type":"points.earned"}'
    header = signature_header(new, old, "msg_1", at, body)
    first, second = header.split(" ")
    assert first == Webhook(new).sign("msg_1", at, body.decode())
    assert second == Webhook(old).sign("msg_1", at, body.decode())
    assert signature_header(new, None, "msg_1", at, body) == first
    with pytest.raises(ValueError):
        verify_webhook([], {}, body)
