"""Webhook endpoints and deliveries as the client sees them, and signature checking.

jifen signs every delivery by the Standard Webhooks scheme (`webhook-id`,
`webhook-timestamp`, `webhook-signature`); `verify_webhook` checks it with the
`standardwebhooks` library and refuses stale or altered messages. The `webhook-id` is
the same on every retry of a delivery: a receiver dedupes on it.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = [
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryDetail",
    "WebhookEndpoint",
    "WebhookEndpointIssued",
    "WebhookEndpointSecretRotated",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify_webhook",
]


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# These mirror the response bodies of jifen.webhooks.router (a test keeps them in step);
# importing that module would import the whole web application.
class WebhookEndpoint(_Read):
    id: uuid.UUID
    client_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    created_at: datetime
    disabled_at: datetime | None


class WebhookEndpointIssued(WebhookEndpoint):
    secret: str  # the signing secret (whsec_...): shown this once


class WebhookEndpointSecretRotated(WebhookEndpointIssued):
    # Until when deliveries are signed with the replaced secret too (None: no longer).
    previous_secret_expires_at: datetime | None


class WebhookAttempt(_Read):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDelivery(_Read):
    id: uuid.UUID  # also the webhook-id header of every attempt
    endpoint_id: uuid.UUID
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryDetail(WebhookDelivery):
    log: list[WebhookAttempt]


class WebhookEvent(_Read):
    """A verified delivery. For the points events `data` holds `entry_id`, `entry_code`,
    `memo`, `amount`, `balance_after`, `account_id`, `member_id`, `household_id`,
    `occurred_at` and `user_refs` (the client's users bound to the member); for a
    household's account moved by a member's charter record also `acting_member_id` and
    `acting_member_name` (masked: 张*明)."""

    webhook_id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]


def verify_webhook(
    secret: str | Sequence[str], headers: Mapping[str, str], body: bytes | str
) -> WebhookEvent:
    """Check a delivery's signature and timestamp, and return its event.

    `secret` is the endpoint's signing secret, or several (the new and the old one while
    a rotation's grace period lasts): a delivery signed with any of them is accepted.
    The `webhook-signature` header may carry several space-separated signatures (jifen
    sends two during a rotation); one valid signature is enough. `headers` may use any
    letter case; `body` must be the raw bytes as received. Raises
    WebhookVerificationError when the message was signed with none of the secrets, was
    altered, or is more than five minutes old or early.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("give at least one secret")
    lowered = {k.lower(): v for k, v in headers.items()}
    payload: Any = None
    refusal: WebhookVerificationError | None = None
    for candidate in secrets:
        try:
            payload = Webhook(candidate).verify(body, lowered)
            break
        except WebhookVerificationError as exc:
            refusal = exc
        except (ValueError, binascii.Error) as exc:  # a malformed header, or a body not JSON
            raise WebhookVerificationError(f"malformed message: {exc}") from exc
    else:
        assert refusal is not None
        raise refusal
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    try:
        return WebhookEvent.model_validate({**payload, "webhook_id": lowered["webhook-id"]})
    except ValidationError as exc:
        raise WebhookVerificationError(f"not a jifen event: {exc}") from exc
