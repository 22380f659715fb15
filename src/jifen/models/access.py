"""Who may act: principals, roles as data, grants, API keys, OAuth2 clients, member
credentials and bindings, the audit trail, and the webhook outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base

# SQLite only autoincrements an INTEGER PRIMARY KEY.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class Role(Base):
    """A named set of permissions and the kind of scope it is granted on.

    Built-in roles have no township; a township (or one of its villages) adds its own,
    e.g. 组长 or 村务监督委员会, which charters then name.
    """

    __tablename__ = "roles"
    __table_args__ = (
        Index(
            "uq_roles_builtin_code",
            "code",
            unique=True,
            sqlite_where=text("township_id IS NULL"),
            postgresql_where=text("township_id IS NULL"),
        ),
        Index(
            "uq_roles_township_code",
            "township_id",
            "code",
            unique=True,
            sqlite_where=text("township_id IS NOT NULL"),
            postgresql_where=text("township_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("townships.id"))
    # A role a village defined for itself can only be granted in that village.
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    # system | township | village | self
    scope: Mapped[str] = mapped_column(String(16))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Principal(Base):
    """Someone or something that acts: a person (user) or a third-party OAuth2 client."""

    __tablename__ = "principals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # user | client
    # None only for the platform's own administrators.
    township_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("townships.id"), index=True)
    # Village staff and residents belong to one village; whoever manages access there
    # manages them.
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"))
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # A resident's own principal: the member they are.
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]


class RoleGrant(Base):
    __tablename__ = "role_grants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id"))
    township_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("townships.id"))
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ApiKey(Base):
    """A user's key for a clerk's app or a till. Only a hash of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OAuthClient(Base):
    """A third-party integration (a mini-program's back end), registered by a township."""

    __tablename__ = "oauth_clients"

    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # After a rotation, the secret before it still works until previous_secret_expires_at.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class MemberCredential(Base):
    """What a member shows to prove who they are: their card token (积分卡) or a one-time
    code a clerk issued. Only a hash is kept."""

    __tablename__ = "member_credentials"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("villages.id"))
    kind: Mapped[str] = mapped_column(String(16))  # card | code
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class MemberBinding(Base):
    """A client's user (e.g. a WeChat openid) bound to a member."""

    __tablename__ = "member_bindings"
    __table_args__ = (
        Index(
            "uq_member_bindings_open_user",
            "client_principal_id",
            "user_ref",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("villages.id"))
    user_ref: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ServiceSecret(Base):
    """Secrets the service makes for itself (the token signing key), shared by workers."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """One successful write: who did what, where, when. Written in the write's own
    transaction."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_township_at", "township_id", "at"),
        Index("ix_audit_events_principal_at", "principal_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    principal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    principal_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    township_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("townships.id"))
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxEvent(Base):
    """A domain event, written in the same transaction as the change it reports."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_undispatched", "dispatched_at", "seq"),)

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(64))
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"))
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"))
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    # The shared signing secret ("whsec_..."). Signing needs it, so it is kept as is.
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    # After a rotation, deliveries are signed with the secret before it too, until
    # previous_secret_expires_at, so that the receiver can switch without a gap.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    """One event for one endpoint. Deliveries with the same ordering key (the member or
    household) on one endpoint go out in event order."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_seq"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "ordering_key", "event_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_seq: Mapped[int] = mapped_column(_SEQ, ForeignKey("outbox_events.seq"))
    event_type: Mapped[str] = mapped_column(String(64))
    ordering_key: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # pending | succeeded | failed (gave up after the last attempt)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """The delivery log: every HTTP attempt and what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
