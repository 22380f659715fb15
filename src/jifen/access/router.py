"""Access endpoints: users, grants, roles, API keys, OAuth2 clients and their token
endpoint, member credentials and bindings, and the audit trail."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import credentials, guard
from jifen.access import service as access
from jifen.access.errors import (
    BindingConflict,
    CredentialRejected,
    Forbidden,
    GraceTooLong,
    PermissionNotHeld,
    PhoneAmbiguous,
    PhoneNotMatched,
    RateLimited,
    RoleScopeMismatch,
)
from jifen.access.guard import Caller, public, requires
from jifen.access.permissions import PERMISSION_LABELS, ClientScope, Permission, ScopeKind
from jifen.access.ratelimit import RateLimiter
from jifen.access.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyRead,
    AuditEventRead,
    BindingCreate,
    BindingRead,
    BoundBalanceRead,
    BoundMemberRead,
    ClientCreate,
    ClientIssued,
    ClientRead,
    ClientSecretRotated,
    CredentialIssued,
    GrantCreate,
    GrantRead,
    PermissionRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SecretRotationCreate,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
    WhoAmIRead,
)
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep, SettingsDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import service as charters
from jifen.charters.document import Holder
from jifen.charters.errors import NoCharterInForce
from jifen.kit.clock import as_utc
from jifen.kit.schemas import Instant, PageRead
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.ledger.schemas import StatementLineRead, StatementRead
from jifen.models import Household, HouseholdMembership, Member, MemberBinding, Village
from jifen.notice import service as notice
from jifen.problems import AlreadyExists, InvalidCursor, NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)
oauth_router = APIRouter(route_class=UnitOfWorkRoute)


# --- who am I -----------------------------------------------------------------------------


@router.get("/me", tags=["access"], summary="Who the credentials belong to")
@requires(None, authenticated=True)
def whoami(caller: CallerDep) -> WhoAmIRead:
    return WhoAmIRead(
        principal_id=caller.principal_id,
        kind="client" if caller.is_client else "user",
        name=caller.name,
        township_id=caller.township_id,
        village_id=caller.village_id,
        member_id=caller.member_id,
        grants=[
            {
                "role": g.role_code,
                "scope": g.scope.value,
                "township_id": str(g.township_id) if g.township_id else None,
                "village_id": str(g.village_id) if g.village_id else None,
                "permissions": sorted(g.permissions),
            }
            for g in caller.grants
        ],
        client_scopes=sorted(caller.client_scopes),
    )


@router.get("/permissions", tags=["access"], summary="The permission catalog")
@requires(None, authenticated=True)
def list_permissions() -> list[PermissionRead]:
    return [PermissionRead(permission=p, label=PERMISSION_LABELS[p]) for p in Permission]


# --- users and grants ---------------------------------------------------------------------


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Create a user (staff or resident)",
    responses=problem_responses(NotFound, AlreadyExists),
)
@requires(
    Permission.ACCESS_MANAGE, in_request="body.village_id, else body.township_id", direct=True
)
def create_user(
    body: UserCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> UserRead:
    _require_over(session, caller, Permission.ACCESS_MANAGE, body.township_id, body.village_id)
    user = access.create_user(
        session,
        name=body.name,
        township_id=body.township_id,
        village_id=body.village_id,
        username=body.username,
        password=body.password,
        member_id=body.member_id,
        created_by=caller.actor,
        now=clock.now,
    )
    return UserRead.model_validate(user)


def _require_over(
    session: Session,
    caller: Caller,
    permission: Permission,
    township_id: uuid.UUID | None,
    village_id: uuid.UUID | None,
) -> None:
    guard.require_most_specific(
        session, caller, permission, {"village_id": village_id, "township_id": township_id}
    )


@router.get(
    "/users",
    tags=["access"],
    summary="List users of a township or village",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.ACCESS_MANAGE, in_request="query village_id, else township_id")
def list_users(
    session: SessionDep,
    caller: CallerDep,
    township_id: uuid.UUID | None = None,
    village_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[UserRead]:
    _require_over(session, caller, Permission.ACCESS_MANAGE, township_id, village_id)
    page = access.list_users(
        session, township_id=township_id, village_id=village_id, limit=limit, cursor=cursor
    )
    return PageRead[UserRead](
        items=[UserRead.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.get("/users/{user_id}", tags=["access"], summary="Get a user")
@requires(Permission.ACCESS_MANAGE, on="user_id")
def get_user(user_id: uuid.UUID, session: SessionDep) -> UserRead:
    return UserRead.model_validate(access.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    tags=["access"],
    summary="Rename, set the password of, disable or enable a user",
)
@requires(Permission.ACCESS_MANAGE, on="user_id", direct=True)
def update_user(
    user_id: uuid.UUID, body: UserUpdate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> UserRead:
    user = access.update_user(
        session,
        user_id,
        caller=caller,
        name=body.name,
        password=body.password,
        disabled=body.disabled,
        now=clock.now,
    )
    return UserRead.model_validate(user)


def _grant_read(view: access.GrantView) -> GrantRead:
    return GrantRead(
        id=view.grant.id,
        role_id=view.role.id,
        role_code=view.role.code,
        role_label=view.role.label,
        scope=ScopeKind(view.role.scope),
        township_id=view.grant.township_id,
        village_id=view.grant.village_id,
        permissions=list(view.role.permissions),
        created_at=view.grant.created_at,
        created_by=view.grant.created_by,
    )


@router.post(
    "/users/{user_id}/grants",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Grant a role to a user",
    description="The granter must hold every permission of the role over its scope.",
    responses=problem_responses(NotFound, PermissionNotHeld, RoleScopeMismatch),
)
@requires(Permission.ACCESS_MANAGE, on="user_id")
def create_grant(
    user_id: uuid.UUID, body: GrantCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> GrantRead:
    grant = access.grant_role(
        session,
        caller=caller,
        user_id=user_id,
        role_id=body.role_id,
        village_id=body.village_id,
        created_by=caller.actor,
        now=clock.now,
    )
    return _grant_read(access.GrantView(grant, access.get_role(session, grant.role_id)))


@router.get("/users/{user_id}/grants", tags=["access"], summary="A user's roles")
@requires(Permission.ACCESS_MANAGE, on="user_id")
def list_grants(user_id: uuid.UUID, session: SessionDep) -> list[GrantRead]:
    return [_grant_read(v) for v in access.list_grants(session, user_id)]


@router.delete(
    "/users/{user_id}/grants/{grant_id}",
    tags=["access"],
    summary="Take a role away",
    responses=problem_responses(NotFound, PermissionNotHeld),
)
@requires(Permission.ACCESS_MANAGE, on="user_id")
def delete_grant(
    user_id: uuid.UUID, grant_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> GrantRead:
    view = access.revoke_grant(session, caller=caller, user_id=user_id, grant_id=grant_id)
    return _grant_read(view)


# --- API keys -----------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Create an API key for a user",
    description="The whole key is in this answer only; the service keeps a hash.",
)
@requires(Permission.ACCESS_MANAGE, on="user_id", shows_secret=True)
def create_api_key(
    user_id: uuid.UUID,
    body: ApiKeyCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> ApiKeyIssued:
    key, token = access.create_api_key(
        session,
        user_id=user_id,
        name=body.name,
        created_by=caller.actor,
        now=clock.now,
        caller=caller,
    )
    return ApiKeyIssued(**ApiKeyRead.model_validate(key).model_dump(), key=token)


@router.get("/users/{user_id}/api-keys", tags=["access"], summary="A user's API keys")
@requires(Permission.ACCESS_MANAGE, on="user_id")
def list_api_keys(user_id: uuid.UUID, session: SessionDep) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(k) for k in access.list_api_keys(session, user_id)]


@router.post(
    "/api-keys/{key_id}/revocation",
    tags=["access"],
    summary="Revoke an API key",
    description="Takes effect for the next request. Revoking twice is harmless.",
)
@requires(Permission.ACCESS_MANAGE, on="key_id")
def revoke_api_key(
    key_id: uuid.UUID, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> ApiKeyRead:
    return ApiKeyRead.model_validate(access.revoke_api_key(session, key_id, clock.now, caller))


# --- roles --------------------------------------------------------------------------------


@router.get(
    "/roles",
    tags=["access"],
    summary="Built-in roles and a township's (or village's) own",
    responses=problem_responses(NotFound),
)
@requires(Permission.ACCESS_MANAGE, in_request="query village_id, else township_id")
def list_roles(
    session: SessionDep,
    caller: CallerDep,
    township_id: uuid.UUID | None = None,
    village_id: uuid.UUID | None = None,
) -> list[RoleRead]:
    _require_over(session, caller, Permission.ACCESS_MANAGE, township_id, village_id)
    if village_id is not None and township_id is None:
        village = session.get(Village, village_id)
        township_id = village.township_id if village else None
    roles = access.list_roles(session, township_id=township_id, village_id=village_id)
    return [RoleRead.model_validate(r) for r in roles]


@router.post(
    "/roles",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Define a role (e.g. 组长, 村务监督委员会)",
    description="Every permission of the new role must be the author's own over its scope.",
    responses=problem_responses(NotFound, AlreadyExists, PermissionNotHeld, RoleScopeMismatch),
)
@requires(Permission.ROLES_MANAGE, in_request="body.village_id, else body.township_id")
def create_role(
    body: RoleCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> RoleRead:
    _require_over(session, caller, Permission.ROLES_MANAGE, body.township_id, body.village_id)
    role = access.create_role(
        session,
        caller=caller,
        township_id=body.township_id,
        village_id=body.village_id,
        code=body.code,
        label=body.label,
        scope_kind=ScopeKind(body.scope),
        permissions=body.permissions,
        now=clock.now,
    )
    return RoleRead.model_validate(role)


@router.get("/roles/{role_id}", tags=["access"], summary="Get a role")
@requires(Permission.ACCESS_MANAGE, anywhere=True)
def get_role(role_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> RoleRead:
    role = access.get_role(session, role_id)
    if role.township_id is not None:
        guard.require(session, caller, Permission.ACCESS_MANAGE, "role_id", role_id)
    return RoleRead.model_validate(role)


@router.patch(
    "/roles/{role_id}",
    tags=["access"],
    summary="Relabel a role or change its permissions",
    responses=problem_responses(NotFound, PermissionNotHeld, Forbidden),
)
@requires(Permission.ROLES_MANAGE, anywhere=True)
def update_role(
    role_id: uuid.UUID, body: RoleUpdate, session: SessionDep, caller: CallerDep
) -> RoleRead:
    role = access.get_role(session, role_id)
    if role.township_id is not None:
        guard.require(session, caller, Permission.ROLES_MANAGE, "role_id", role_id)
    role = access.update_role(
        session, caller=caller, role_id=role_id, label=body.label, permissions=body.permissions
    )
    return RoleRead.model_validate(role)


# --- OAuth2 clients and the token endpoint ------------------------------------------------


def _client_read(view: access.ClientView) -> ClientRead:
    return ClientRead(
        id=view.client.principal_id,
        client_id=view.client.client_id,
        name=view.principal.name,
        township_id=view.client.township_id,
        scopes=list(view.client.scopes),
        created_at=view.client.created_at,
        revoked_at=view.client.revoked_at,
    )


@router.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Register a third-party client (e.g. a mini-program's back end)",
    description="The client_secret is in this answer only.",
    responses=problem_responses(NotFound),
)
@requires(Permission.CLIENTS_MANAGE, in_request="body.township_id", shows_secret=True)
def register_client(
    body: ClientCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> ClientIssued:
    guard.require(session, caller, Permission.CLIENTS_MANAGE, "township_id", body.township_id)
    view, secret = access.register_client(
        session,
        township_id=body.township_id,
        name=body.name,
        scopes=body.scopes,
        created_by=caller.actor,
        now=clock.now,
    )
    return ClientIssued(**_client_read(view).model_dump(), client_secret=secret)


@router.get("/clients", tags=["access"], summary="A township's clients")
@requires(Permission.CLIENTS_MANAGE, on="township_id")
def list_clients(township_id: uuid.UUID, session: SessionDep) -> list[ClientRead]:
    return [_client_read(v) for v in access.list_clients(session, township_id)]


@router.get("/clients/{client_id}", tags=["access"], summary="Get a client")
@requires(Permission.CLIENTS_MANAGE, on="client_id")
def get_client(client_id: uuid.UUID, session: SessionDep) -> ClientRead:
    return _client_read(access.get_client(session, client_id))


@router.post(
    "/clients/{client_id}/revocation",
    tags=["access"],
    summary="Revoke a client",
    description="Its tokens stop working at once.",
)
@requires(Permission.CLIENTS_MANAGE, on="client_id")
def revoke_client(client_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> ClientRead:
    return _client_read(access.revoke_client(session, client_id, clock.now))


@router.post(
    "/clients/{client_id}/secret-rotations",
    status_code=status.HTTP_201_CREATED,
    tags=["access"],
    summary="Rotate a client's secret without downtime",
    description="The new client_secret is in this answer only. The secret it replaces "
    "keeps working for `grace_seconds` (default JIFEN_SECRET_ROTATION_GRACE_SECONDS, 24 h; "
    "0 ends it at once; at most JIFEN_SECRET_ROTATION_GRACE_SECONDS_MAX), so the client's "
    "back ends can move to the new one one by one. A secret from before an earlier "
    "rotation stops at once. Tokens already issued run until they expire.",
    responses=problem_responses(NotFound, Forbidden, GraceTooLong),
)
@requires(Permission.CLIENTS_MANAGE, on="client_id", shows_secret=True)
def rotate_client_secret(
    client_id: uuid.UUID,
    body: SecretRotationCreate,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ClientSecretRotated:
    grace = access.rotation_grace_seconds(
        body.grace_seconds,
        default=settings.secret_rotation_grace_seconds,
        maximum=settings.secret_rotation_grace_seconds_max,
    )
    view, secret = access.rotate_client_secret(
        session, client_id, grace_seconds=grace, now=clock.now
    )
    return ClientSecretRotated(
        **_client_read(view).model_dump(),
        client_secret=secret,
        previous_secret_expires_at=view.client.previous_secret_expires_at,
    )


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    """RFC 6749 §5.2: the token endpoint answers errors in its own format."""
    headers = dict(_NO_STORE)
    if status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="jifen"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers=headers,
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return (unquote(client_id), unquote(secret)) if sep else None


@oauth_router.post(
    "/oauth/token",
    response_model=TokenRead,
    tags=["access"],
    summary="OAuth2 token endpoint (client credentials grant, RFC 6749 §4.4)",
    description="Authenticate with HTTP Basic (client_id:client_secret) or with "
    "client_id and client_secret in the form. Errors follow RFC 6749 §5.2 "
    '(`{"error": ..., "error_description": ...}`), not problem details.',
    responses={
        **problem_responses(RateLimited),
        400: {
            "description": "RFC 6749 error: invalid_request, unsupported_grant_type, invalid_scope"
        },
        401: {"description": "RFC 6749 error: invalid_client"},
    },
)
@public
def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    scope: Annotated[str | None, Form(max_length=1000)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
) -> JSONResponse:
    basic = _basic_credentials(request)
    if basic is not None and client_id is not None:
        return _oauth_error("invalid_request", "use one client authentication method")
    if basic is not None:
        client_id, client_secret = basic
    if grant_type is None:
        return _oauth_error("invalid_request", "grant_type is missing")
    if grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials is supported")
    if not client_id or not client_secret:
        return _oauth_error("invalid_client", "client authentication is missing", 401)
    limiter: RateLimiter = request.app.state.token_limiter
    limiter.hit(f"token:{client_id}")
    client = access.authenticate_client(session, client_id, client_secret, now=clock.now)
    if client is None:
        return _oauth_error("invalid_client", "unknown client or wrong secret", 401)
    asked = set(scope.split()) if scope else set(client.scopes)
    if not asked <= set(client.scopes):
        extra = " ".join(sorted(asked - set(client.scopes)))
        return _oauth_error("invalid_scope", f"not registered for: {extra}")
    token = credentials.issue_token(
        credentials.signing_key(session, clock.now),
        subject=client.principal_id,
        client_id=client.client_id,
        scopes=sorted(asked),
        now=clock.now,
        ttl=settings.access_token_ttl_seconds,
    )
    answer = TokenRead(
        access_token=token,
        token_type="Bearer",
        expires_in=settings.access_token_ttl_seconds,
        scope=" ".join(sorted(asked)),
    )
    return JSONResponse(answer.model_dump(), headers=_NO_STORE)


# --- member credentials and bindings ------------------------------------------------------


@router.post(
    "/members/{member_id}/binding-codes",
    status_code=status.HTTP_201_CREATED,
    tags=["bindings"],
    summary="Issue a one-time binding code for a member",
    description="The clerk reads the code to the resident, who types it into the "
    "mini-program. It works once, before it expires.",
)
@requires(Permission.BINDINGS_ISSUE, on="member_id", shows_secret=True)
def issue_binding_code(
    member_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> CredentialIssued:
    return _issued(session, member_id, "code", caller, settings.binding_code_ttl_seconds, clock)


@router.post(
    "/members/{member_id}/card",
    status_code=status.HTTP_201_CREATED,
    tags=["bindings"],
    summary="Issue a points card (积分卡) token for a member",
    description="The token goes into the card's QR code. A new card revokes the old one.",
)
@requires(Permission.BINDINGS_ISSUE, on="member_id", shows_secret=True)
def issue_card(
    member_id: uuid.UUID, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> CredentialIssued:
    return _issued(session, member_id, "card", caller, 0, clock)


def _issued(
    session: Session,
    member_id: uuid.UUID,
    kind: Literal["card", "code"],
    caller: Caller,
    ttl: int,
    clock: ledger.Clock,
) -> CredentialIssued:
    credential, secret = access.issue_member_credential(
        session,
        member_id=member_id,
        kind=kind,
        ttl_seconds=ttl,
        created_by=caller.actor,
        now=clock.now,
    )
    return CredentialIssued(
        member_id=member_id, kind=kind, secret=secret, expires_at=credential.expires_at
    )


@router.post(
    "/bindings",
    status_code=status.HTTP_201_CREATED,
    tags=["bindings"],
    summary="Bind the client's user to a member",
    description="The member proves who they are with their card token, a one-time code "
    "from a clerk, or the phone number the platform verified (`phone`: it must be the "
    "phone on record of exactly one active member of the township). Attempts of every "
    "kind count against the same limit. Binding the same user to the same member again "
    "answers with the existing binding.",
    responses=problem_responses(
        CredentialRejected, BindingConflict, PhoneNotMatched, PhoneAmbiguous, RateLimited
    ),
)
@requires(None, client_scope=ClientScope.MEMBERS_BIND, staff=False)
def create_binding(
    request: Request, body: BindingCreate, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> BindingRead:
    limiter: RateLimiter = request.app.state.binding_limiter
    limiter.hit(f"bind:{caller.principal_id}")
    assert caller.township_id is not None
    binding, _created = access.bind_member(
        session,
        client_principal_id=caller.principal_id,
        township_id=caller.township_id,
        user_ref=body.user_ref,
        card_token=body.card_token,
        code=body.code,
        phone=body.phone,
        now=clock.now,
    )
    return BindingRead.model_validate(binding)


@router.get("/bindings", tags=["bindings"], summary="The client's bindings")
@requires(None, client_scope=ClientScope.MEMBERS_READ, staff=False)
def list_bindings(
    session: SessionDep,
    caller: CallerDep,
    user_ref: Annotated[str | None, Query(max_length=128)] = None,
) -> list[BindingRead]:
    bindings = access.list_bindings(
        session, client_principal_id=caller.principal_id, user_ref=user_ref
    )
    return [BindingRead.model_validate(b) for b in bindings]


@router.get("/bindings/{binding_id}", tags=["bindings"], summary="A bound member")
@requires(None, on="binding_id", client_scope=ClientScope.MEMBERS_READ, staff=False)
def get_binding(binding_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> BoundMemberRead:
    binding = access.get_binding(session, binding_id)
    member = session.get(Member, binding.member_id)
    village = session.get(Village, binding.village_id)
    assert member is not None and village is not None
    household = _current_household(session, binding, clock)
    return BoundMemberRead(
        binding=BindingRead.model_validate(binding),
        member_name=member.name,
        village_name=village.name,
        household_id=household.id if household else None,
        household_name=household.name if household else None,
    )


def _current_household(
    session: Session, binding: MemberBinding, clock: ledger.Clock
) -> Household | None:
    today = clock.local_date(clock.now)
    return session.execute(
        select(Household)
        .join(HouseholdMembership, HouseholdMembership.household_id == Household.id)
        .where(
            HouseholdMembership.member_id == binding.member_id,
            HouseholdMembership.joined_on <= today,
            (HouseholdMembership.left_on.is_(None)) | (HouseholdMembership.left_on > today),
        )
    ).scalar_one_or_none()


def _bound_accounts(
    session: Session, binding: MemberBinding, clock: ledger.Clock
) -> list[tuple[Literal["member", "household"], uuid.UUID]]:
    accounts: list[tuple[Literal["member", "household"], uuid.UUID]] = []
    member_account = ledger.find_account(
        session, village_id=binding.village_id, kind=AccountKind.MEMBER, owner_id=binding.member_id
    )
    if member_account is not None:
        accounts.append(("member", member_account.id))
    household = _current_household(session, binding, clock)
    if household is not None:
        household_account = ledger.find_account(
            session,
            village_id=binding.village_id,
            kind=AccountKind.HOUSEHOLD,
            owner_id=household.id,
        )
        if household_account is not None:
            accounts.append(("household", household_account.id))
    return accounts


def _default_holder(
    session: Session, binding: MemberBinding, clock: ledger.Clock
) -> Literal["member", "household"]:
    """The holder the village's charter in force today awards points to; the member in a
    village without a charter in force."""
    try:
        _version, charter = charters.charter_in_force(
            session, binding.village_id, clock.local_date(clock.now)
        )
    except NoCharterInForce:
        return "member"
    return "household" if charter.document.settings.points_holder is Holder.HOUSEHOLD else "member"


@router.get(
    "/bindings/{binding_id}/balances",
    tags=["bindings"],
    summary="The bound member's points, and their household's",
    description="The holder the village's charter awards points to comes first and is "
    "marked `is_default` (the household in a household village, 一户一档). `holder` keeps "
    "only that holder's balance.",
)
@requires(None, on="binding_id", client_scope=ClientScope.BALANCES_READ, staff=False)
def get_bound_balances(
    binding_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    holder: Literal["member", "household"] | None = None,
) -> list[BoundBalanceRead]:
    binding = access.get_binding(session, binding_id)
    default = _default_holder(session, binding, clock)
    answer = []
    for held_by, account_id in _bound_accounts(session, binding, clock):
        if holder is not None and held_by != holder:
            continue
        balance = ledger.get_balance(session, account_id)
        held = notice.holdings_of(session, balance)
        answer.append(
            BoundBalanceRead(
                account_id=account_id,
                holder=held_by,
                is_default=held_by == default,
                asset=balance.asset,
                posted=balance.posted,
                available=balance.available,
                pending_under_notice=held.pending_under_notice,
                held_by_objection=held.held_by_objection,
            )
        )
    return sorted(answer, key=lambda b: not b.is_default)


@router.get(
    "/bindings/{binding_id}/history",
    tags=["bindings"],
    summary="The bound member's points history, newest first",
    description="By default the account of the holder the village's charter awards "
    "points to: the household's in a household village (一户一档), else the member's. "
    "`holder` chooses.",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(None, on="binding_id", client_scope=ClientScope.BALANCES_READ, staff=False)
def get_bound_history(
    binding_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    holder: Literal["member", "household"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> StatementRead:
    binding = access.get_binding(session, binding_id)
    if holder is None:
        holder = _default_holder(session, binding, clock)
    accounts = dict(_bound_accounts(session, binding, clock))
    if holder not in accounts:
        raise NotFound("account", holder)
    page = ledger.statement(session, accounts[holder], limit=limit, cursor=cursor)
    notes = notice.notes_for_entries(session, [line.entry_id for line in page.items])
    return StatementRead(
        account_id=accounts[holder],
        items=StatementLineRead.annotated(page.items, notes),
        next_cursor=page.next_cursor,
    )


@router.delete("/bindings/{binding_id}", tags=["bindings"], summary="Unbind")
@requires(None, on="binding_id", client_scope=ClientScope.MEMBERS_BIND, staff=False)
def delete_binding(binding_id: uuid.UUID, session: SessionDep, clock: ClockDep) -> BindingRead:
    return BindingRead.model_validate(access.unbind(session, binding_id, clock.now))


# --- audit --------------------------------------------------------------------------------


@router.get(
    "/audit-events",
    tags=["access"],
    summary="Who did what: every successful write, newest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.AUDIT_READ, in_request="query village_id, else township_id")
def list_audit_events(
    session: SessionDep,
    caller: CallerDep,
    township_id: uuid.UUID | None = None,
    village_id: uuid.UUID | None = None,
    principal_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageRead[AuditEventRead]:
    _require_over(session, caller, Permission.AUDIT_READ, township_id, village_id)
    page = access.list_audit_events(
        session,
        township_id=township_id,
        village_id=village_id,
        principal_id=principal_id,
        action=action,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        limit=limit,
        cursor=cursor,
    )
    return PageRead[AuditEventRead](
        items=[AuditEventRead.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )
