"""Who is calling, and may they do this here.

Every route declares what it needs with `@requires(permission, on="<path param>")`; the
route class refuses to build a route without a declaration. Before the endpoint runs (and
before its body is even read), the guard authenticates the caller and resolves the target
named by the path parameter to its scope: township, village, and the households and
members it concerns. A grant allows when its scope covers the target and its role holds
the permission. A caller with no grant that can see the target's village gets the same
404 as for a target that does not exist, so ids in other villages do not leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, TypeVar, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from jifen.access import credentials
from jifen.access.errors import Forbidden, Unauthenticated
from jifen.access.permissions import ClientScope, Permission, ScopeKind
from jifen.ledger import facts
from jifen.models import (
    Account,
    Activity,
    AlliedSettlement,
    AlliedShop,
    ApiKey,
    CharterVersion,
    Entry,
    Goods,
    Household,
    HouseholdMembership,
    Member,
    MemberBinding,
    OAuthClient,
    Organisation,
    Posting,
    Principal,
    Project,
    Record,
    Role,
    RoleGrant,
    Sale,
    Settlement,
    Township,
    Village,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.problems import NotFound, ValidationFailed

# How stale an API key's last-used time may get before a request writes it again.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Grant:
    role_code: str
    scope: ScopeKind
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    permissions: frozenset[str]


@dataclass
class Caller:
    """The authenticated principal of a request, with everything needed to decide."""

    principal_id: uuid.UUID
    kind: str  # user | client
    name: str
    township_id: uuid.UUID | None
    village_id: uuid.UUID | None
    member_id: uuid.UUID | None
    grants: tuple[Grant, ...] = ()
    client_scopes: frozenset[str] = frozenset()
    household_ids: frozenset[uuid.UUID] = frozenset()
    api_key_id: uuid.UUID | None = None
    api_key_last_used: datetime | None = None
    # Set once a permission was checked against a target (see UnitOfWorkRoute), and the
    # target an endpoint checked itself (for the audit trail).
    checked: bool = False
    scope: Scope | None = None

    @property
    def actor(self) -> str:
        """The stable name entries, idempotency records and audit events carry."""
        return f"{self.kind}:{self.principal_id}"

    @property
    def is_client(self) -> bool:
        return self.kind == "client"

    @property
    def rate_key(self) -> str:
        return f"key:{self.api_key_id}" if self.api_key_id else self.actor


@dataclass(frozen=True)
class Scope:
    """Where a target lives and whom it concerns."""

    resource: str
    identifier: object
    township_id: uuid.UUID | None = None
    village_id: uuid.UUID | None = None
    member_ids: frozenset[uuid.UUID] = frozenset()
    household_ids: frozenset[uuid.UUID] = frozenset()
    # The client that owns the target (its bindings, its webhook endpoints).
    client_id: uuid.UUID | None = None

    def hidden(self) -> NotFound:
        return NotFound(self.resource, self.identifier)


GLOBAL: Final = Scope(resource="platform", identifier="")


@dataclass(frozen=True)
class Access:
    """A route's declaration: the permission, and the path parameter naming its target.

    `on=None` targets the platform as a whole (only system-wide grants cover it).
    `anywhere=True` lets any caller who holds the permission somewhere through: the
    endpoint itself narrows what it returns (lists of townships and villages).
    `client_scope` opens the route to OAuth2 clients holding that scope, for targets the
    client owns. `staff=False` closes it to everyone else.
    """

    permission: Permission | None
    on: str | None = None
    anywhere: bool = False
    client_scope: ClientScope | None = None
    staff: bool = True
    public: bool = False
    # Any authenticated caller, staff or client (e.g. "who am I").
    authenticated: bool = False
    # Where the endpoint finds its target when the path does not name it (e.g.
    # "body.village_id"): the endpoint checks `permission` there itself. Or, with no
    # single permission, what decides it (for the OpenAPI document).
    in_request: str | None = None
    # Its answer carries a secret shown once: never stored for Idempotency-Key replays.
    shows_secret: bool = False
    # A write that runs in a transaction of its own rather than in a group commit (slow
    # work — password hashing, replays — that would hold up every other write).
    direct: bool = False
    # The endpoint answers a BatchPlan (jifen.api.batches): its items run as units of
    # the group committer, each with its own idempotency key and result.
    batch: bool = False

    @property
    def checked_by_endpoint(self) -> bool:
        return not self.public and (self.permission is None or self.in_request is not None)


_E = TypeVar("_E", bound=Callable[..., Any])


def requires(
    permission: Permission | None,
    on: str | None = None,
    *,
    anywhere: bool = False,
    client_scope: ClientScope | None = None,
    staff: bool = True,
    authenticated: bool = False,
    in_request: str | None = None,
    shows_secret: bool = False,
    direct: bool = False,
    batch: bool = False,
) -> Callable[[_E], _E]:
    access = Access(
        permission,
        on,
        anywhere,
        client_scope,
        staff,
        public=False,
        authenticated=authenticated,
        in_request=in_request,
        shows_secret=shows_secret,
        direct=direct,
        batch=batch,
    )

    def mark(endpoint: _E) -> _E:
        endpoint.__jifen_access__ = access  # type: ignore[attr-defined]
        return endpoint

    return mark


def public(endpoint: _E) -> _E:
    """Declares a route that needs no credentials (the token endpoint). Such a route
    checks secrets itself (slow on purpose), so it writes in a transaction of its own."""
    endpoint.__jifen_access__ = Access(None, public=True, direct=True)  # type: ignore[attr-defined]
    return endpoint


def access_of(endpoint: Callable[..., Any]) -> Access | None:
    return getattr(endpoint, "__jifen_access__", None)


# --- authentication -----------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Authorization must be 'Bearer <API key or access token>'",
            detail_zh="Authorization 请求头应为 'Bearer <API 密钥或访问令牌>'",
        )
    return token.strip()


def authenticate(session: Session, token: str | None, now: datetime, today: date) -> Caller:
    """`today` is the local date (of the villages' time zone): household membership is
    reckoned in it."""
    if token is None:
        raise Unauthenticated(
            "This endpoint needs credentials: Authorization: Bearer <token>",
            detail_zh="此接口需要凭证：Authorization: Bearer <令牌>",
        )
    if credentials.looks_like_jwt(token):
        return _client_caller(session, token, now)
    return _key_caller(session, token, now, today)


_keys = cast(Table, ApiKey.__table__)
_principals = cast(Table, Principal.__table__)
_grants = cast(Table, RoleGrant.__table__)
_roles = cast(Table, Role.__table__)
_GRANT_COLUMNS = (
    _roles.c.code.label("role_code"),
    _roles.c.scope.label("role_scope"),
    _roles.c.permissions.label("role_permissions"),
    _grants.c.township_id.label("grant_township_id"),
    _grants.c.village_id.label("grant_village_id"),
)
# Every request with an API key runs this: one statement, built once, for the key, its
# user and the user's grants.
_KEY_CALLER = (
    select(
        _keys.c.id.label("key_id"),
        _keys.c.secret_hash,
        _keys.c.revoked_at,
        _keys.c.last_used_at,
        _principals.c.id.label("principal_id"),
        _principals.c.kind,
        _principals.c.name,
        _principals.c.township_id,
        _principals.c.village_id,
        _principals.c.member_id,
        _principals.c.disabled_at,
        *_GRANT_COLUMNS,
    )
    .select_from(
        _keys.join(_principals, _principals.c.id == _keys.c.principal_id)
        .outerjoin(_grants, _grants.c.principal_id == _principals.c.id)
        .outerjoin(_roles, _roles.c.id == _grants.c.role_id)
    )
    .where(_keys.c.prefix == bindparam("prefix"))
)


def _key_caller(session: Session, token: str, now: datetime, today: date) -> Caller:
    prefix = credentials.api_key_prefix(token)
    rows = (
        session.connection().execute(_KEY_CALLER, {"prefix": prefix}).all()
        if prefix is not None
        else []
    )
    if not rows or not credentials.same_digest(token, rows[0].secret_hash):
        raise Unauthenticated("Unknown API key", detail_zh="未知的 API 密钥")
    first = rows[0]
    if first.revoked_at is not None:
        raise Unauthenticated("This API key was revoked", detail_zh="该 API 密钥已被吊销")
    if first.disabled_at is not None:
        raise Unauthenticated("This user is disabled", detail_zh="该用户已被停用")
    grants = _grants_from(rows)
    return Caller(
        principal_id=first.principal_id,
        kind=first.kind,
        name=first.name,
        township_id=first.township_id,
        village_id=first.village_id,
        member_id=first.member_id,
        grants=grants,
        household_ids=_households_today(session, first.member_id, grants, today),
        api_key_id=first.key_id,
        api_key_last_used=first.last_used_at,
    )


def _households_today(
    session: Session, member_id: uuid.UUID | None, grants: tuple[Grant, ...], today: date
) -> frozenset[uuid.UUID]:
    """A resident's household(s) today; only looked up for holders of a self role."""
    if member_id is None or not any(g.scope is ScopeKind.SELF for g in grants):
        return frozenset()
    return frozenset(
        session.execute(
            select(HouseholdMembership.household_id).where(
                HouseholdMembership.member_id == member_id,
                HouseholdMembership.joined_on <= today,
                or_(
                    HouseholdMembership.left_on.is_(None),
                    HouseholdMembership.left_on > today,
                ),
            )
        ).scalars()
    )


def _grants_from(rows: Iterable[Any]) -> tuple[Grant, ...]:
    """Grants from rows of the _GRANT_COLUMNS (rows of a user without grants are skipped)."""
    return tuple(
        Grant(
            role_code=row.role_code,
            scope=ScopeKind(row.role_scope),
            township_id=row.grant_township_id,
            village_id=row.grant_village_id,
            permissions=frozenset(row.role_permissions),
        )
        for row in rows
        if row.role_code is not None
    )


_USER_GRANTS = (
    select(*_GRANT_COLUMNS)
    .select_from(_grants.join(_roles, _roles.c.id == _grants.c.role_id))
    .where(_grants.c.principal_id == bindparam("principal_id"))
)


def user_caller(session: Session, principal: Principal, today: date) -> Caller:
    """A user principal with its grants (and, for a resident, their household)."""
    rows = session.connection().execute(_USER_GRANTS, {"principal_id": principal.id}).all()
    grants = _grants_from(rows)
    return Caller(
        principal_id=principal.id,
        kind=principal.kind,
        name=principal.name,
        township_id=principal.township_id,
        village_id=principal.village_id,
        member_id=principal.member_id,
        grants=grants,
        household_ids=_households_today(session, principal.member_id, grants, today),
    )


def _client_caller(session: Session, token: str, now: datetime) -> Caller:
    claims = credentials.read_token(credentials.signing_key(session, now), token, now)
    if claims is None:
        raise Unauthenticated(
            "The access token is not valid or has expired", detail_zh="访问令牌无效或已过期"
        )
    row = session.execute(
        select(OAuthClient, Principal)
        .join(Principal, Principal.id == OAuthClient.principal_id)
        .where(OAuthClient.principal_id == uuid.UUID(claims["sub"]))
    ).first()
    if row is None or row.OAuthClient.revoked_at is not None:
        raise Unauthenticated("This client was revoked", detail_zh="该客户端已被吊销")
    client = row.OAuthClient
    granted = set(str(claims.get("scope", "")).split()) & set(client.scopes)
    return Caller(
        principal_id=client.principal_id,
        kind="client",
        name=row.Principal.name,
        township_id=client.township_id,
        village_id=None,
        member_id=None,
        client_scopes=frozenset(granted),
    )


def key_use_is_stale(caller: Caller, now: datetime) -> bool:
    """Whether the key's last-used time is due to be written (at most once a minute)."""
    if caller.api_key_id is None:
        return False
    last = caller.api_key_last_used
    return last is None or now - last >= LAST_USED_RESOLUTION


def touch_api_key(session: Session, caller: Caller, now: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == caller.api_key_id).values(last_used_at=now))


# --- authorisation ------------------------------------------------------------------------


def _covers(grant: Grant, scope: Scope) -> bool:
    if grant.scope is ScopeKind.SYSTEM:
        return True
    if scope.township_id is None or grant.township_id != scope.township_id:
        return False
    if grant.scope is ScopeKind.TOWNSHIP:
        return True
    return scope.village_id is not None and scope.village_id == grant.village_id


def _concerns(caller: Caller, scope: Scope) -> bool:
    """Whether a target is about the caller's own member record or household."""
    mine = caller.member_id is not None and caller.member_id in scope.member_ids
    return mine or bool(caller.household_ids & scope.household_ids)


def _sees_township(grant: Grant, scope: Scope) -> bool:
    """A village's staff may look at their own township's record (not its villages')."""
    return (
        grant.scope in (ScopeKind.VILLAGE, ScopeKind.SELF)
        and scope.village_id is None
        and scope.township_id is not None
        and grant.township_id == scope.township_id
    )


def allows(caller: Caller, permission: Permission, scope: Scope) -> bool:
    return _decide(caller, permission, scope) is None


def _decide(caller: Caller, permission: Permission, scope: Scope) -> Exception | None:
    visible = False
    for grant in caller.grants:
        if _sees_township(grant, scope):
            visible = True
            if permission is Permission.TENANCY_READ and grant.scope is ScopeKind.VILLAGE:
                return None
            continue
        if not _covers(grant, scope):
            continue
        visible = True
        if grant.scope is ScopeKind.SELF and not _concerns(caller, scope):
            continue
        if permission in grant.permissions:
            return None
    if visible or scope is GLOBAL:
        # Nothing to hide about the platform as a whole.
        return Forbidden(
            f"Your roles do not include {permission.value} here",
            detail_zh=f"您的角色在此不包含权限 {permission.value}",
        )
    return scope.hidden()


def check(caller: Caller, permission: Permission, scope: Scope) -> None:
    refusal = _decide(caller, permission, scope)
    if refusal is not None:
        raise refusal
    caller.checked = True


def require(
    session: Session, caller: Caller, permission: Permission, on: str, identifier: object
) -> Scope:
    """Check a permission on a target the request names in its body or query."""
    scope = resolve(session, on, {on: str(identifier)}, caller)
    check(caller, permission, scope)
    caller.scope = scope
    return scope


def require_most_specific(
    session: Session,
    caller: Caller,
    permission: Permission,
    targets: dict[str, uuid.UUID | None],
) -> Scope:
    """For a list filtered by any of several parents: check the first one given (most
    specific first); with none given, the list spans the platform."""
    for on, identifier in targets.items():
        if identifier is not None:
            return require(session, caller, permission, on, identifier)
    check(caller, permission, GLOBAL)
    return GLOBAL


def roles_over(caller: Caller, *, township_id: uuid.UUID, village_id: uuid.UUID) -> frozenset[str]:
    """The codes of the staff roles the caller holds over a village (for charters, which
    name the roles that may record or review a rule)."""
    held = set()
    for grant in caller.grants:
        if (
            grant.scope is ScopeKind.SYSTEM
            or (grant.scope is ScopeKind.TOWNSHIP and grant.township_id == township_id)
            or (grant.scope is ScopeKind.VILLAGE and grant.village_id == village_id)
        ):
            held.add(grant.role_code)
    return frozenset(held)


def check_anywhere(caller: Caller, permission: Permission) -> None:
    if not any(permission in grant.permissions for grant in caller.grants):
        raise Forbidden(
            f"None of your roles include {permission.value}",
            detail_zh=f"您的角色都不包含权限 {permission.value}",
        )
    caller.checked = True


def check_client(caller: Caller, client_scope: ClientScope, scope: Scope) -> None:
    if client_scope.value not in caller.client_scopes:
        raise Forbidden(
            f"This token does not carry the scope {client_scope.value}",
            detail_zh=f"该令牌不含授权范围 {client_scope.value}",
        )
    if scope is not GLOBAL and scope.client_id != caller.principal_id:
        raise scope.hidden()
    caller.checked = True


def authorize(session: Session, caller: Caller, access: Access, params: dict[str, str]) -> Scope:
    """Raise unless the caller may use this route on the target its path names.

    Refusals that do not depend on the target come first, so that they answer the same
    whether the target exists or not.
    """
    if access.authenticated:
        caller.checked = True
        return GLOBAL
    if caller.is_client:
        if access.client_scope is None:
            raise Forbidden(
                "Third-party clients may not call this endpoint",
                detail_zh="第三方客户端不能调用此接口",
            )
        scope = resolve(session, access.on, params, caller) if access.on else GLOBAL
        check_client(caller, access.client_scope, scope)
        return scope
    if not access.staff:
        raise Forbidden(
            "Only third-party clients call this endpoint", detail_zh="此接口仅供第三方客户端调用"
        )
    if access.anywhere and access.permission is not None:
        check_anywhere(caller, access.permission)
        return GLOBAL
    scope = resolve(session, access.on, params, caller) if access.on else GLOBAL
    if access.permission is None or access.in_request is not None:
        # The endpoint decides the permission from the request body; here only whether
        # the target may be seen at all.
        if access.on and not any(_covers(grant, scope) for grant in caller.grants):
            raise scope.hidden()
    else:
        check(caller, access.permission, scope)
    return scope


def visible_townships(caller: Caller, permission: Permission) -> set[uuid.UUID] | None:
    """Townships the caller may read something in; None means all of them."""
    townships: set[uuid.UUID] = set()
    for grant in caller.grants:
        if permission not in grant.permissions:
            continue
        if grant.scope is ScopeKind.SYSTEM:
            return None
        if grant.township_id is not None:
            townships.add(grant.township_id)
    return townships


def visible_villages(
    caller: Caller, permission: Permission
) -> tuple[set[uuid.UUID] | None, set[uuid.UUID] | None]:
    """(whole townships, single villages) the caller may read; (None, None) means all."""
    townships: set[uuid.UUID] = set()
    villages: set[uuid.UUID] = set()
    for grant in caller.grants:
        if permission not in grant.permissions:
            continue
        if grant.scope is ScopeKind.SYSTEM:
            return None, None
        if grant.scope is ScopeKind.TOWNSHIP and grant.township_id is not None:
            townships.add(grant.township_id)
        elif grant.scope is ScopeKind.VILLAGE and grant.village_id is not None:
            villages.add(grant.village_id)
    return townships, villages


# --- targets ------------------------------------------------------------------------------

Resolver = Callable[[Session, uuid.UUID, Caller], Scope | None]
_RESOLVERS: dict[str, tuple[str, Resolver]] = {}


def resolver(param: str, resource: str) -> Callable[[Resolver], Resolver]:
    def register(function: Resolver) -> Resolver:
        _RESOLVERS[param] = (resource, function)
        return function

    return register


def target_params() -> frozenset[str]:
    return frozenset(_RESOLVERS)


def resolve(session: Session, param: str, params: dict[str, str], caller: Caller) -> Scope:
    resource, function = _RESOLVERS[param]
    raw = params.get(param, "")
    try:
        identifier = uuid.UUID(raw)
    except ValueError:
        message, message_zh = f"{param} must be a UUID", f"{param} 应为 UUID"
        error = {"location": ["path", param], "message": message, "type": "uuid_parsing"}
        raise ValidationFailed(
            message,
            detail_zh=f"字段 path.{param}：{message_zh}",
            errors=[{**error, "message_zh": message_zh}],
        ) from None
    scope = function(session, identifier, caller)
    if scope is None:
        raise NotFound(resource, identifier)
    return scope


@resolver("township_id", "township")
def _township(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    found = session.execute(select(Township.id).where(Township.id == id_)).scalar_one_or_none()
    return None if found is None else Scope("township", id_, township_id=id_)


@resolver("village_id", "village")
def _village(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    township = facts.village_township(session, id_)
    return None if township is None else Scope("village", id_, township, id_)


@resolver("household_id", "household")
def _household(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Household.township_id, Household.village_id).where(Household.id == id_)
    ).first()
    if row is None:
        return None
    return Scope("household", id_, row[0], row[1], household_ids=frozenset({id_}))


def _households_of(session: Session, member_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    # Every household the member has ever belonged to: a resident may read the history
    # of a household they are in, and a household member's records.
    return frozenset(
        session.execute(
            select(HouseholdMembership.household_id).where(
                HouseholdMembership.member_id.in_(list(member_ids)),
                HouseholdMembership.left_on.is_(None),
            )
        ).scalars()
    )


@resolver("member_id", "member")
def _member(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Member.township_id, Member.village_id).where(Member.id == id_)
    ).first()
    if row is None:
        return None
    return Scope(
        "member",
        id_,
        row[0],
        row[1],
        member_ids=frozenset({id_}),
        household_ids=_households_of(session, [id_]),
    )


@resolver("organisation_id", "organisation")
def _organisation(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    township = session.execute(
        select(Organisation.township_id).where(Organisation.id == id_)
    ).scalar_one_or_none()
    # Organisations (shops, companies) belong to the township, not to one village.
    return None if township is None else Scope("organisation", id_, township)


def _account_scope(resource: str, id_: object, rows: Iterable[Any]) -> Scope | None:
    rows = list(rows)
    if not rows:
        return None
    first = rows[0]
    members = frozenset(r.member_id for r in rows if r.member_id is not None)
    households = frozenset(r.household_id for r in rows if r.household_id is not None)
    return Scope(
        resource,
        id_,
        first.township_id,
        first.village_id,
        member_ids=members,
        household_ids=households,
    )


_ACCOUNT_COLUMNS = (
    Account.township_id,
    Account.village_id,
    Account.member_id,
    Account.household_id,
)


@resolver("account_id", "account")
def _account(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    found = facts.accounts(session, [id_]).get(id_)
    if found is None:
        return None
    return Scope(
        "account",
        id_,
        found.township_id,
        found.village_id,
        member_ids=frozenset({found.member_id}) if found.member_id else frozenset(),
        household_ids=frozenset({found.household_id}) if found.household_id else frozenset(),
    )


@resolver("entry_id", "entry")
def _entry(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    rows = session.execute(
        select(*_ACCOUNT_COLUMNS)
        .select_from(Entry)
        .join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Entry.id == id_)
    ).all()
    return _account_scope("entry", id_, rows)


def _village_row_scope(session: Session, resource: str, model: Any, id_: uuid.UUID) -> Scope | None:
    row = session.execute(
        select(model.township_id, model.village_id).where(model.id == id_)
    ).first()
    return None if row is None else Scope(resource, id_, row[0], row[1])


@resolver("version_id", "charter version")
def _charter_version(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "charter version", CharterVersion, id_)


@resolver("project_id", "project")
def _project(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "project", Project, id_)


@resolver("activity_id", "activity")
def _activity(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "activity", Activity, id_)


@resolver("goods_id", "goods")
def _goods(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "goods", Goods, id_)


@resolver("shop_id", "allied shop")
def _allied_shop(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "allied shop", AlliedShop, id_)


@resolver("settlement_id", "allied settlement")
def _allied_settlement(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    return _village_row_scope(session, "allied settlement", AlliedSettlement, id_)


@resolver("subsidy_settlement_id", "subsidy settlement")
def _subsidy_settlement(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    # A settlement is the township's: it covers all of its villages.
    township = session.execute(
        select(Settlement.township_id).where(Settlement.id == id_)
    ).scalar_one_or_none()
    return None if township is None else Scope("subsidy settlement", id_, township)


@resolver("sale_id", "sale")
def _sale(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Sale.township_id, Sale.village_id, Sale.member_id, Sale.household_id).where(
            Sale.id == id_
        )
    ).first()
    if row is None:
        return None
    return Scope(
        "sale",
        id_,
        row[0],
        row[1],
        member_ids=frozenset({row[2]}),
        household_ids=frozenset({row[3]}) if row[3] else frozenset(),
    )


@resolver("record_id", "record")
def _record(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Record.township_id, Record.village_id, Record.member_id, Record.household_id).where(
            Record.id == id_
        )
    ).first()
    if row is None:
        return None
    return Scope(
        "record",
        id_,
        row[0],
        row[1],
        member_ids=frozenset({row[2]}) if row[2] else frozenset(),
        household_ids=frozenset({row[3]}) if row[3] else frozenset(),
    )


@resolver("user_id", "user")
def _user(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Principal.township_id, Principal.village_id).where(
            Principal.id == id_, Principal.kind == "user"
        )
    ).first()
    if row is None:
        return None
    # A platform administrator has no township: only system grants reach them.
    return Scope("user", id_, row[0], row[1])


@resolver("key_id", "api_key")
def _api_key(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(Principal.township_id, Principal.village_id)
        .join(ApiKey, ApiKey.principal_id == Principal.id)
        .where(ApiKey.id == id_)
    ).first()
    return None if row is None else Scope("api_key", id_, row[0], row[1])


@resolver("role_id", "role")
def _role(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(select(Role.township_id, Role.village_id).where(Role.id == id_)).first()
    if row is None:
        return None
    return Scope("role", id_, row[0], row[1])


@resolver("client_id", "client")
def _client(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    township = session.execute(
        select(OAuthClient.township_id).where(OAuthClient.principal_id == id_)
    ).scalar_one_or_none()
    return None if township is None else Scope("client", id_, township, client_id=id_)


@resolver("endpoint_id", "webhook_endpoint")
def _endpoint(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(WebhookEndpoint.township_id, WebhookEndpoint.client_principal_id).where(
            WebhookEndpoint.id == id_
        )
    ).first()
    return None if row is None else Scope("webhook_endpoint", id_, row[0], client_id=row[1])


@resolver("delivery_id", "webhook_delivery")
def _delivery(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    row = session.execute(
        select(WebhookEndpoint.township_id, WebhookEndpoint.client_principal_id)
        .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
        .where(WebhookDelivery.id == id_)
    ).first()
    return None if row is None else Scope("webhook_delivery", id_, row[0], client_id=row[1])


@resolver("binding_id", "binding")
def _binding(session: Session, id_: uuid.UUID, caller: Caller) -> Scope | None:
    row = session.execute(
        select(
            Village.township_id,
            MemberBinding.village_id,
            MemberBinding.member_id,
            MemberBinding.client_principal_id,
        )
        .join(Village, Village.id == MemberBinding.village_id)
        .where(and_(MemberBinding.id == id_, MemberBinding.revoked_at.is_(None)))
    ).first()
    if row is None:
        return None
    return Scope(
        "binding",
        id_,
        row[0],
        row[1],
        member_ids=frozenset({row[2]}),
        household_ids=_households_of(session, [row[2]]),
        client_id=row[3],
    )


__all__ = [
    "GLOBAL",
    "Access",
    "Caller",
    "Grant",
    "Scope",
    "access_of",
    "allows",
    "authenticate",
    "authorize",
    "check",
    "public",
    "requires",
    "resolve",
    "target_params",
    "touch_api_key",
    "user_caller",
    "visible_townships",
    "visible_villages",
]
