"""Checking a webhook delivery's signature, by the Standard Webhooks scheme.

jifen signs every delivery with the headers `webhook-id`, `webhook-timestamp` (Unix
seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>`
keyed with the bytes the secret's base64 after `whsec_` encodes; during a secret
rotation's grace period the header carries one signature per secret, space-separated.
The `webhook-id` is the same on every retry of a delivery: a receiver dedupes on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from jifen_client._decode import DecodeError, decode
from jifen_client.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryDetail,
    WebhookEndpoint,
    WebhookEndpointIssued,
    WebhookEndpointSecretRotated,
    WebhookEvent,
)

__all__ = [
    "TOLERANCE_SECONDS",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryDetail",
    "WebhookEndpoint",
    "WebhookEndpointIssued",
    "WebhookEndpointSecretRotated",
    "WebhookEvent",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]

SECRET_PREFIX = "whsec_"
# A delivery stamped more than this before or after the receiver's clock is refused.
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The delivery is not one jifen signed with any of the given secrets (altered,
    another secret, headers missing or malformed), or its timestamp is too far off."""


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Padding added in case the secret's base64 came without it (extra is ignored).
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a webhook secret: {exc}") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `v1,<signature>` jifen sends for this message (for a receiver's own tests)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = _signature(_key(secret), webhook_id, timestamp, raw)
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_webhook(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    now: datetime | None = None,
    tolerance_seconds: float = TOLERANCE_SECONDS,
) -> WebhookEvent:
    """Check a delivery's signature and timestamp, and return its event.

    `secret` is the endpoint's signing secret, or several (the new and the old one while
    a rotation's grace period lasts): a delivery signed with any of them is accepted.
    The `webhook-signature` header may carry several space-separated signatures (jifen
    sends two during a rotation); one valid signature is enough. `headers` may use any
    letter case; `body` must be the raw bytes as received. `now` is the receiver's clock
    (default: the system's). Raises WebhookVerificationError when the message was signed
    with none of the secrets, was altered, or is more than five minutes old or early;
    ValueError when no secret is given or a secret is not one.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("give at least one secret")
    keys = [_key(s) for s in secrets]
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (webhook_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        seconds = float(stamp)
    except ValueError:
        raise WebhookVerificationError("the webhook-timestamp is not a number") from None
    if not math.isfinite(seconds):
        raise WebhookVerificationError("the webhook-timestamp is not a number")
    clock = (now or datetime.now(UTC)).timestamp()
    if seconds < clock - tolerance_seconds:
        raise WebhookVerificationError("the message timestamp is too old")
    if seconds > clock + tolerance_seconds:
        raise WebhookVerificationError("the message timestamp is too new")
    raw = body.encode() if isinstance(body, str) else body
    expected = [_signature(key, webhook_id, math.floor(seconds), raw) for key in keys]
    if not any(_matches(given, expected) for given in signatures.split(" ")):
        raise WebhookVerificationError("no matching signature found")
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError(f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    try:
        return decode(WebhookEvent, {**payload, "webhook_id": webhook_id})
    except DecodeError as exc:
        raise WebhookVerificationError(f"not a jifen event: {exc}") from None


def _matches(given: str, expected: list[bytes]) -> bool:
    version, _, encoded = given.partition(",")
    if version != "v1" or not encoded:
        return False
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(hmac.compare_digest(signature, candidate) for candidate in expected)
