"""A typed Python client of the jifen API (httpx, synchronous), for clerks' tools, tills
and third-party back ends.

    from jifen.client import JifenClient, JifenError

    with JifenClient("https://jifen.example.cn", client_id=..., client_secret=...) as jifen:
        binding = jifen.bind_member("openid-123", code="BMR6B-5Q4UD")
        for balance in jifen.bound_balances(binding.id):
            print(balance.holder, balance.available)

Invariants: a booking retried by the client carries the same Idempotency-Key as the first
attempt, so it books at most once; requests without a key are retried only when they
never reached the server. Answers are the server's own response schemas.
"""

from jifen.client.api import Id, JifenClient, new_idempotency_key
from jifen.client.errors import (
    AccessDenied,
    AuthenticationFailed,
    Conflict,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidRequest,
    JifenError,
    NotFound,
    RateLimited,
    ServerError,
)
from jifen.client.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryDetail,
    WebhookEndpoint,
    WebhookEndpointIssued,
    WebhookEndpointSecretRotated,
    WebhookEvent,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "Conflict",
    "Id",
    "IdempotencyKeyReused",
    "InsufficientPoints",
    "InvalidRequest",
    "JifenClient",
    "JifenError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryDetail",
    "WebhookEndpoint",
    "WebhookEndpointIssued",
    "WebhookEndpointSecretRotated",
    "WebhookEvent",
    "WebhookVerificationError",
    "new_idempotency_key",
    "verify_webhook",
]
