"""Request and response bodies of the access endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from jifen.access.permissions import ClientScope, Permission, ScopeKind
from jifen.kit.schemas import Code, InputSchema, Name, Schema


class UserCreate(InputSchema):
    name: Name = Field(examples=["王会计"])
    township_id: uuid.UUID | None = Field(
        default=None, description="The user's township (omit only for platform staff)."
    )
    village_id: uuid.UUID | None = Field(
        default=None, description="For village staff and residents: their village."
    )
    username: str | None = Field(
        default=None,
        min_length=3,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.@-]+$",
        description="For signing in to the web pages.",
    )
    password: str | None = Field(default=None, min_length=10, max_length=200)
    member_id: uuid.UUID | None = Field(
        default=None, description="A resident's user: the member they are."
    )


class UserUpdate(InputSchema):
    name: Name | None = None
    password: str | None = Field(default=None, min_length=10, max_length=200)
    disabled: bool | None = None


class UserRead(Schema):
    id: uuid.UUID
    name: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    username: str | None
    member_id: uuid.UUID | None
    created_at: datetime
    created_by: str
    disabled_at: datetime | None


class GrantCreate(InputSchema):
    role_id: uuid.UUID
    village_id: uuid.UUID | None = Field(
        default=None, description="For a village role: the village (default: the user's)."
    )


class GrantRead(Schema):
    id: uuid.UUID
    role_id: uuid.UUID
    role_code: str
    role_label: str
    scope: ScopeKind
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    permissions: list[str]
    created_at: datetime
    created_by: str


class RoleCreate(InputSchema):
    township_id: uuid.UUID
    village_id: uuid.UUID | None = Field(
        default=None, description="A village's own role, grantable in that village only."
    )
    code: Code = Field(examples=["group_leader"])
    label: Name = Field(examples=["组长"])
    scope: Literal[ScopeKind.TOWNSHIP, ScopeKind.VILLAGE, ScopeKind.SELF]
    permissions: list[Permission] = Field(max_length=64)


class RoleUpdate(InputSchema):
    label: Name | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=64)


class RoleRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID | None = Field(description="null for a built-in role")
    village_id: uuid.UUID | None
    code: str
    label: str
    scope: ScopeKind
    permissions: list[str]
    created_at: datetime


class PermissionRead(Schema):
    permission: Permission
    label: str


class ApiKeyCreate(InputSchema):
    name: Name = Field(examples=["清泉村积分超市收银台"])


class ApiKeyRead(Schema):
    id: uuid.UUID
    principal_id: uuid.UUID
    prefix: str = Field(description="The visible start of the key, to tell keys apart.")
    name: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyRead):
    key: str = Field(description="The whole key. Shown this once; only a hash is kept.")


class ClientCreate(InputSchema):
    township_id: uuid.UUID
    name: Name = Field(examples=["清泉积分小程序"])
    scopes: list[ClientScope] = Field(min_length=1, max_length=16)


class ClientRead(Schema):
    id: uuid.UUID = Field(description="The client's principal id (used in paths).")
    client_id: str = Field(description="The OAuth2 client_id.")
    name: str
    township_id: uuid.UUID
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ClientIssued(ClientRead):
    client_secret: str = Field(description="Shown this once; only a hash is kept.")


class SecretRotationCreate(InputSchema):
    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        description="How long the secret being replaced still works, in seconds (0: not "
        "at all). Default JIFEN_SECRET_ROTATION_GRACE_SECONDS (24 h); at most "
        "JIFEN_SECRET_ROTATION_GRACE_SECONDS_MAX (7 days).",
        examples=[86400],
    )


class ClientSecretRotated(ClientRead):
    client_secret: str = Field(description="The new secret, shown this once")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret it replaced still works (null: no longer)"
    )


class TokenRead(Schema):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class CredentialIssued(Schema):
    member_id: uuid.UUID
    kind: Literal["card", "code"]
    secret: str = Field(
        description="The card token (for the QR card; `GET /v1/members/{member_id}/card` "
        "shows it again) or the one-time code to read out (shown this once)."
    )
    expires_at: datetime | None


class CardRead(Schema):
    """A member's current points card (积分卡), as it is printed."""

    member_id: uuid.UUID
    member_number: str = Field(
        description="编号: eight digits printed on the card, which a cashier may type "
        "instead of scanning",
        examples=["20481937"],
    )
    serial: int = Field(
        description="0 for the card every member holds from the start; each card issued "
        "since adds one, and only the latest is valid"
    )
    token: str = Field(
        description="What the card's QR code carries. Opaque: a till or a mini-program "
        "passes it on as it was read (`card_token`)."
    )
    issued_at: datetime | None = Field(description="Null for the card held from the start")
    qr_code_url: str


class BindingCreate(InputSchema):
    user_ref: str = Field(
        min_length=1,
        max_length=128,
        description="The client's own identifier of its user, e.g. a WeChat openid.",
        examples=["oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"],
    )
    card_token: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(
        default=None,
        min_length=5,
        max_length=24,
        pattern=r"^\+?[0-9 ()-]+$",
        description="The phone number the platform verified for this user (WeChat's "
        "getPhoneNumber, passed on by the mini-program's back end, never typed by the "
        "user). It must be the phone on record of exactly one active member of the "
        "township. Give exactly one of card_token, code and phone.",
        examples=["13800138000"],
    )


class BindingRead(Schema):
    id: uuid.UUID
    user_ref: str
    member_id: uuid.UUID
    village_id: uuid.UUID
    created_at: datetime


class BoundMemberRead(Schema):
    binding: BindingRead
    member_name: str
    village_name: str
    household_id: uuid.UUID | None
    household_name: str | None


class BoundBalanceRead(Schema):
    account_id: uuid.UUID
    holder: Literal["member", "household"]
    is_default: bool = Field(
        description="The holder the village's charter awards points to: show it first"
    )
    asset: str
    posted: int
    available: int = Field(description="what spending may use")
    pending_under_notice: int = Field(
        default=0, description="points on a notice list (公示), not spendable until it closes"
    )
    held_by_objection: int = Field(
        default=0, description="points on a notice list held back by an objection"
    )


class AuditEventRead(Schema):
    id: uuid.UUID
    at: datetime
    principal_id: uuid.UUID | None
    principal_name: str
    action: str
    method: str
    path: str
    status_code: int
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    target: dict[str, Any]


class WhoAmIRead(Schema):
    principal_id: uuid.UUID
    kind: Literal["user", "client"]
    name: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    member_id: uuid.UUID | None
    grants: list[dict[str, Any]]
    client_scopes: list[str]
