"""Webhook endpoints of third-party clients, their deliveries and manual redelivery.

A client manages its own endpoints with a token carrying `webhooks:manage`; a township
administrator (permission webhooks:manage) may look at and redeliver for the clients of
their township.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, status
from pydantic import AnyHttpUrl, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.errors import GraceTooLong
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.access.schemas import SecretRotationCreate
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep, SettingsDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit.ids import new_id
from jifen.kit.pagination import page_by_id
from jifen.kit.schemas import InputSchema, PageRead, Schema
from jifen.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from jifen.problems import InvalidCursor, NotFound, problem_responses
from jifen.webhooks import delivery, ssrf
from jifen.webhooks.errors import WebhookUrlRefused
from jifen.webhooks.events import EventType

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)


class EndpointCreate(InputSchema):
    url: AnyHttpUrl = Field(examples=["https://mp.example.cn/jifen/webhooks"])
    events: list[EventType] = Field(min_length=1, max_length=16)
    description: str = Field(default="", max_length=500)


class EndpointUpdate(InputSchema):
    url: AnyHttpUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=16)
    description: str | None = Field(default=None, max_length=500)
    disabled: bool | None = None


class EndpointRead(Schema):
    id: uuid.UUID
    client_id: uuid.UUID = Field(description="The client's principal id")
    url: str
    events: list[str]
    description: str
    created_at: datetime
    disabled_at: datetime | None


class EndpointIssued(EndpointRead):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_...). Shown this once."
    )


class AttemptRead(Schema):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryRead(Schema):
    id: uuid.UUID = Field(description="Also the webhook-id header of every attempt")
    endpoint_id: uuid.UUID
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryRead):
    log: list[AttemptRead]


class EndpointSecretRotated(EndpointIssued):
    previous_secret_expires_at: datetime | None = Field(
        description="Until when deliveries are signed with the secret it replaced too "
        "(null: no longer)"
    )


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _read(endpoint: WebhookEndpoint) -> EndpointRead:
    return EndpointRead(
        id=endpoint.id,
        client_id=endpoint.client_principal_id,
        url=endpoint.url,
        events=list(endpoint.events),
        description=endpoint.description,
        created_at=endpoint.created_at,
        disabled_at=endpoint.disabled_at,
    )


def _endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook_endpoint", endpoint_id)
    return endpoint


@router.post(
    "/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    tags=["webhooks"],
    summary="Register a webhook endpoint (by the client itself)",
    description="Events about members bound to the client are posted to the URL, signed "
    "by the Standard Webhooks scheme with the returned secret. The URL must use https, "
    "name a public address (no loopback, private, link-local, multicast or reserved one) "
    "on an allowed port (443, 80, 8443 by default), and carry no credentials.",
    responses=problem_responses(WebhookUrlRefused),
)
@requires(None, client_scope=ClientScope.WEBHOOKS_MANAGE, staff=False, shows_secret=True)
def create_endpoint(
    body: EndpointCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> EndpointIssued:
    assert caller.township_id is not None
    ssrf.check_url(str(body.url), ssrf.UrlPolicy.from_settings(settings))
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        id=new_id(),
        client_principal_id=caller.principal_id,
        township_id=caller.township_id,
        url=str(body.url),
        events=sorted({e.value for e in body.events}),
        secret=secret,
        description=body.description,
        created_at=clock.now,
        disabled_at=None,
    )
    session.add(endpoint)
    session.flush()
    return EndpointIssued(**_read(endpoint).model_dump(), secret=secret)


@router.get("/webhook-endpoints", tags=["webhooks"], summary="The client's webhook endpoints")
@requires(None, client_scope=ClientScope.WEBHOOKS_MANAGE, staff=False)
def list_endpoints(session: SessionDep, caller: CallerDep) -> list[EndpointRead]:
    return _endpoints_of(session, caller.principal_id)


def _endpoints_of(session: Session, client_id: uuid.UUID) -> list[EndpointRead]:
    rows = session.execute(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.client_principal_id == client_id)
        .order_by(WebhookEndpoint.id)
    ).scalars()
    return [_read(e) for e in rows]


@router.get(
    "/clients/{client_id}/webhook-endpoints",
    tags=["webhooks"],
    summary="A client's webhook endpoints (for the township)",
)
@requires(Permission.WEBHOOKS_MANAGE, on="client_id")
def list_client_endpoints(client_id: uuid.UUID, session: SessionDep) -> list[EndpointRead]:
    return _endpoints_of(session, client_id)


@router.get("/webhook-endpoints/{endpoint_id}", tags=["webhooks"], summary="Get a webhook endpoint")
@requires(Permission.WEBHOOKS_MANAGE, on="endpoint_id", client_scope=ClientScope.WEBHOOKS_MANAGE)
def get_endpoint(endpoint_id: uuid.UUID, session: SessionDep) -> EndpointRead:
    return _read(_endpoint(session, endpoint_id))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    tags=["webhooks"],
    summary="Change, disable or enable a webhook endpoint",
    description="While disabled, its deliveries wait; enabled again, they go out. A new "
    "URL is checked as at registration.",
    responses=problem_responses(NotFound, WebhookUrlRefused),
)
@requires(Permission.WEBHOOKS_MANAGE, on="endpoint_id", client_scope=ClientScope.WEBHOOKS_MANAGE)
def update_endpoint(
    endpoint_id: uuid.UUID,
    body: EndpointUpdate,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> EndpointRead:
    endpoint = _endpoint(session, endpoint_id)
    if body.url is not None:
        ssrf.check_url(str(body.url), ssrf.UrlPolicy.from_settings(settings))
        endpoint.url = str(body.url)
    if body.events is not None:
        endpoint.events = sorted({e.value for e in body.events})
    if body.description is not None:
        endpoint.description = body.description
    if body.disabled is not None:
        endpoint.disabled_at = clock.now if body.disabled else None
    session.flush()
    return _read(endpoint)


@router.post(
    "/webhook-endpoints/{endpoint_id}/secret-rotations",
    status_code=status.HTTP_201_CREATED,
    tags=["webhooks"],
    summary="Rotate an endpoint's signing secret without downtime",
    description="The new secret is in this answer only. For `grace_seconds` after it "
    "(default JIFEN_SECRET_ROTATION_GRACE_SECONDS, 24 h; 0: not at all; at most "
    "JIFEN_SECRET_ROTATION_GRACE_SECONDS_MAX) every delivery carries two signatures in "
    "its `webhook-signature` header, space-separated as Standard Webhooks allows: "
    "`v1,<by the new secret> v1,<by the old one>`. A receiver that checks either secret "
    "keeps working; switch it to the new secret, then the old signature stops.",
    responses=problem_responses(NotFound, GraceTooLong),
)
@requires(
    Permission.WEBHOOKS_MANAGE,
    on="endpoint_id",
    client_scope=ClientScope.WEBHOOKS_MANAGE,
    shows_secret=True,
)
def rotate_endpoint_secret(
    endpoint_id: uuid.UUID,
    body: SecretRotationCreate,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> EndpointSecretRotated:
    endpoint = _endpoint(session, endpoint_id)
    grace = access.rotation_grace_seconds(
        body.grace_seconds,
        default=settings.secret_rotation_grace_seconds,
        maximum=settings.secret_rotation_grace_seconds_max,
    )
    secret = _new_secret()
    endpoint.previous_secret = endpoint.secret if grace > 0 else None
    endpoint.previous_secret_expires_at = (
        clock.now + timedelta(seconds=grace) if grace > 0 else None
    )
    endpoint.secret = secret
    session.flush()
    return EndpointSecretRotated(
        **_read(endpoint).model_dump(),
        secret=secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    tags=["webhooks"],
    summary="An endpoint's deliveries, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.WEBHOOKS_MANAGE, on="endpoint_id", client_scope=ClientScope.WEBHOOKS_MANAGE)
def list_deliveries(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[DeliveryRead]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    page = page_by_id(session, query, WebhookDelivery, limit, cursor, newest_first=True)
    return PageRead[DeliveryRead](
        items=[DeliveryRead.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )


def _detail(session: Session, delivery_id: uuid.UUID) -> DeliveryDetail:
    found = session.get(WebhookDelivery, delivery_id)
    if found is None:
        raise NotFound("webhook_delivery", delivery_id)
    attempts = session.execute(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.at, WebhookAttempt.id)
    ).scalars()
    return DeliveryDetail(
        **DeliveryRead.model_validate(found).model_dump(),
        log=[AttemptRead.model_validate(a) for a in attempts],
    )


@router.get(
    "/webhook-deliveries/{delivery_id}",
    tags=["webhooks"],
    summary="A delivery and its log of attempts",
)
@requires(Permission.WEBHOOKS_MANAGE, on="delivery_id", client_scope=ClientScope.WEBHOOKS_MANAGE)
def get_delivery(delivery_id: uuid.UUID, session: SessionDep) -> DeliveryDetail:
    return _detail(session, delivery_id)


@router.post(
    "/webhook-deliveries/{delivery_id}/redelivery",
    tags=["webhooks"],
    summary="Send a delivery again",
    description="Pending again and due now, with a fresh round of attempts; it still goes "
    "out in its turn among its member's deliveries.",
)
@requires(Permission.WEBHOOKS_MANAGE, on="delivery_id", client_scope=ClientScope.WEBHOOKS_MANAGE)
def redeliver(delivery_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> DeliveryDetail:
    delivery.redeliver(session, delivery_id, now=clock.now)
    return _detail(session, delivery_id)
