"""Users, grants, roles, API keys, OAuth2 clients, member credentials and bindings.

Nobody can hand out more than they hold: a role's permissions must all be the author's
own in the role's scope, and a grant needs the granter to hold every permission of the
role over the scope it is granted on.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.access import cards, credentials
from jifen.access.errors import (
    BindingConflict,
    CardInvalid,
    CardRevoked,
    CredentialRejected,
    Forbidden,
    GraceTooLong,
    PermissionNotHeld,
    PhoneAmbiguous,
    PhoneNotMatched,
    RoleScopeMismatch,
)
from jifen.access.guard import GLOBAL, Caller, Scope, allows
from jifen.access.permissions import ClientScope, Permission, ScopeKind
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.models import (
    ApiKey,
    AuditEvent,
    Member,
    MemberBinding,
    MemberCredential,
    OAuthClient,
    Principal,
    Role,
    RoleGrant,
    Village,
)
from jifen.problems import AlreadyExists, NotFound, ValidationFailed

SYSTEM = "system"


def _scope_for(
    session: Session, township_id: uuid.UUID | None, village_id: uuid.UUID | None
) -> Scope:
    if village_id is not None:
        village = session.get(Village, village_id)
        if village is None:
            raise NotFound("village", village_id)
        if township_id is not None and village.township_id != township_id:
            raise ValidationFailed(
                f"village {village_id} is not in township {township_id}",
                detail_zh=f"村 {village_id} 不属于乡镇 {township_id}",
            )
        return Scope("village", village_id, village.township_id, village_id)
    if township_id is not None:
        return Scope("township", township_id, township_id)
    return GLOBAL


def _hold_all(caller: Caller | None, permissions: Iterable[str], scope: Scope) -> None:
    if caller is None:  # the command line, run by the operator
        return
    missing = sorted(p for p in permissions if not allows(caller, Permission(p), scope))
    if missing:
        raise PermissionNotHeld(
            f"You do not hold {', '.join(missing)} here, so you cannot give it",
            detail_zh=f"您在此没有权限 {'、'.join(missing)}，因此不能授予",
            missing=missing,
        )


# --- users and grants ---------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    name: str,
    township_id: uuid.UUID | None,
    village_id: uuid.UUID | None,
    username: str | None = None,
    password: str | None = None,
    member_id: uuid.UUID | None = None,
    created_by: str,
    now: datetime,
) -> Principal:
    scope = _scope_for(session, township_id, village_id)
    if member_id is not None:
        member = session.get(Member, member_id)
        if member is None:
            raise NotFound("member", member_id)
        if member.village_id != scope.village_id:
            raise ValidationFailed(
                "a resident's user belongs to the member's own village",
                detail_zh="村民的用户只能属于该村民所在的村",
            )
    user = Principal(
        id=new_id(),
        kind="user",
        township_id=scope.township_id,
        village_id=scope.village_id,
        name=name,
        username=username,
        password_hash=credentials.hash_password(password) if password else None,
        member_id=member_id,
        created_at=now,
        created_by=created_by,
        disabled_at=None,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyExists(
            f"username {username!r} is taken", detail_zh=f"用户名 {username!r} 已被占用"
        ) from None
    return user


def get_user(session: Session, user_id: uuid.UUID) -> Principal:
    user = session.get(Principal, user_id)
    if user is None or user.kind != "user":
        raise NotFound("user", user_id)
    return user


def list_users(
    session: Session,
    *,
    township_id: uuid.UUID | None,
    village_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Principal]:
    query = select(Principal).where(Principal.kind == "user")
    if village_id is not None:
        query = query.where(Principal.village_id == village_id)
    elif township_id is not None:
        query = query.where(Principal.township_id == township_id)
    return page_by_id(session, query, Principal, limit, cursor)


def update_user(
    session: Session,
    user_id: uuid.UUID,
    *,
    name: str | None,
    password: str | None,
    disabled: bool | None,
    now: datetime,
    caller: Caller | None = None,
) -> Principal:
    user = get_user(session, user_id)
    check_may_manage(session, caller, user_id)
    if name is not None:
        user.name = name
    if password is not None:
        if user.username is None:
            raise ValidationFailed(
                "set a password only for a user with a username",
                detail_zh="只有设置了用户名的用户才能设置密码",
            )
        user.password_hash = credentials.hash_password(password)
    if disabled is not None:
        user.disabled_at = now if disabled else None
    session.flush()
    return user


def check_may_manage(session: Session, caller: Caller | None, user_id: uuid.UUID) -> None:
    """Acting on a user (their keys, password, enabling) is acting as them: the manager
    must hold every permission the user holds, over each scope the user holds it on."""
    for view in list_grants(session, user_id):
        scope = _scope_for(session, view.grant.township_id, view.grant.village_id)
        _hold_all(caller, view.role.permissions, scope)


def get_role(session: Session, role_id: uuid.UUID) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound("role", role_id)
    return role


def builtin_role(session: Session, code: str) -> Role:
    role = session.execute(
        select(Role).where(Role.code == code, Role.township_id.is_(None))
    ).scalar_one_or_none()
    if role is None:
        raise NotFound("role", code)
    return role


def grant_role(
    session: Session,
    *,
    caller: Caller | None,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    village_id: uuid.UUID | None,
    township_id: uuid.UUID | None = None,
    created_by: str,
    now: datetime,
) -> RoleGrant:
    user = get_user(session, user_id)
    role = get_role(session, role_id)
    kind = ScopeKind(role.scope)
    if kind is ScopeKind.SYSTEM:
        if village_id is not None or user.township_id is not None:
            raise RoleScopeMismatch(
                "a platform role goes to a platform user, on no village",
                detail_zh="平台角色只能授予平台用户，且不针对任何村",
            )
        scope = GLOBAL
    elif kind is ScopeKind.TOWNSHIP:
        if village_id is not None:
            raise RoleScopeMismatch(
                f"{role.code} is granted on a whole township, not a village",
                detail_zh=f"角色 {role.code} 只能在整个乡镇范围授予，不能针对某个村",
            )
        if user.township_id is None:
            raise RoleScopeMismatch(
                "this user belongs to no township", detail_zh="该用户不属于任何乡镇"
            )
        scope = _scope_for(session, township_id or user.township_id, None)
    else:
        village_id = village_id or user.village_id
        if village_id is None:
            raise RoleScopeMismatch(
                f"{role.code} is granted on one village: name it",
                detail_zh=f"角色 {role.code} 针对单个村授予：请指明村",
            )
        scope = _scope_for(session, None, village_id)
        if kind is ScopeKind.SELF and (user.member_id is None or user.village_id != village_id):
            raise RoleScopeMismatch(
                f"{role.code} goes to a resident's own user, in their village",
                detail_zh=f"角色 {role.code} 只能授予村民本人的用户，且在其所在村",
            )
    if scope.township_id != user.township_id and kind is not ScopeKind.SYSTEM:
        raise RoleScopeMismatch(
            "a user is granted roles in their own township only",
            detail_zh="用户只能在其所属乡镇内被授予角色",
        )
    if role.township_id is not None and role.township_id != scope.township_id:
        raise RoleScopeMismatch(
            "this role belongs to another township", detail_zh="该角色属于其他乡镇"
        )
    if role.village_id is not None and role.village_id != scope.village_id:
        raise RoleScopeMismatch(
            "this role belongs to another village", detail_zh="该角色属于其他村"
        )
    _hold_all(caller, [Permission.ACCESS_MANAGE, *role.permissions], scope)
    grant = RoleGrant(
        id=new_id(),
        principal_id=user.id,
        role_id=role.id,
        township_id=scope.township_id,
        village_id=scope.village_id,
        created_at=now,
        created_by=created_by,
    )
    session.add(grant)
    session.flush()
    return grant


@dataclass(frozen=True)
class GrantView:
    grant: RoleGrant
    role: Role


def list_grants(session: Session, user_id: uuid.UUID) -> list[GrantView]:
    get_user(session, user_id)
    rows = session.execute(
        select(RoleGrant, Role)
        .join(Role, Role.id == RoleGrant.role_id)
        .where(RoleGrant.principal_id == user_id)
        .order_by(RoleGrant.id)
    ).all()
    return [GrantView(grant, role) for grant, role in rows]


def revoke_grant(
    session: Session, *, caller: Caller | None, user_id: uuid.UUID, grant_id: uuid.UUID
) -> GrantView:
    found = session.execute(
        select(RoleGrant, Role)
        .join(Role, Role.id == RoleGrant.role_id)
        .where(RoleGrant.id == grant_id, RoleGrant.principal_id == user_id)
    ).first()
    if found is None:
        raise NotFound("grant", grant_id)
    grant, role = found
    scope = _scope_for(session, grant.township_id, grant.village_id)
    _hold_all(caller, [Permission.ACCESS_MANAGE, *role.permissions], scope)
    view = GrantView(grant, role)
    session.delete(grant)
    session.flush()
    return view


# --- roles --------------------------------------------------------------------------------


def create_role(
    session: Session,
    *,
    caller: Caller | None,
    township_id: uuid.UUID,
    village_id: uuid.UUID | None,
    code: str,
    label: str,
    scope_kind: ScopeKind,
    permissions: Collection[Permission],
    now: datetime,
) -> Role:
    if scope_kind is ScopeKind.SYSTEM:
        raise RoleScopeMismatch(
            "townships and villages cannot define platform roles",
            detail_zh="乡镇和村不能定义平台角色",
        )
    if village_id is not None and scope_kind is ScopeKind.TOWNSHIP:
        raise RoleScopeMismatch(
            "a village's own role is granted on that village only",
            detail_zh="村自定义的角色只能在该村授予",
        )
    scope = _scope_for(session, township_id, village_id)
    _hold_all(caller, [Permission.ROLES_MANAGE, *permissions], scope)
    clash = session.execute(
        select(Role.id).where(
            Role.code == code, or_(Role.township_id.is_(None), Role.township_id == township_id)
        )
    ).first()
    if clash is not None:
        raise AlreadyExists(
            f"role code {code!r} is taken in this township",
            detail_zh=f"角色代码 {code!r} 在本乡镇已被占用",
        )
    role = Role(
        id=new_id(),
        township_id=township_id,
        village_id=village_id,
        code=code,
        label=label,
        scope=scope_kind.value,
        permissions=sorted(p.value for p in permissions),
        created_at=now,
    )
    session.add(role)
    session.flush()
    return role


def update_role(
    session: Session,
    *,
    caller: Caller | None,
    role_id: uuid.UUID,
    label: str | None,
    permissions: Collection[Permission] | None,
) -> Role:
    role = get_role(session, role_id)
    if role.township_id is None:
        raise Forbidden(
            "built-in roles are changed by a migration, not over the API",
            detail_zh="内置角色只能通过数据库迁移修改，不能通过 API 修改",
        )
    if label is not None:
        role.label = label
    if permissions is not None:
        scope = _scope_for(session, role.township_id, role.village_id)
        _hold_all(caller, [Permission.ROLES_MANAGE, *permissions], scope)
        role.permissions = sorted(p.value for p in permissions)
    session.flush()
    return role


def list_roles(
    session: Session, *, township_id: uuid.UUID | None, village_id: uuid.UUID | None
) -> list[Role]:
    """The built-in roles, and the township's own (and one village's, if named)."""
    conditions: list[Any] = [Role.township_id.is_(None)]
    if township_id is not None:
        conditions.append(
            (Role.township_id == township_id)
            & (Role.village_id.is_(None) | (Role.village_id == village_id))
        )
    return list(
        session.execute(
            select(Role).where(or_(*conditions)).order_by(Role.township_id.is_not(None), Role.code)
        ).scalars()
    )


# --- API keys -----------------------------------------------------------------------------


def create_api_key(
    session: Session,
    *,
    user_id: uuid.UUID,
    name: str,
    created_by: str,
    now: datetime,
    caller: Caller | None = None,
) -> tuple[ApiKey, str]:
    user = get_user(session, user_id)
    check_may_manage(session, caller, user_id)
    issued = credentials.new_api_key()
    key = ApiKey(
        id=new_id(),
        principal_id=user.id,
        prefix=issued.public,
        secret_hash=issued.hash,
        name=name,
        created_at=now,
        created_by=created_by,
        last_used_at=None,
        revoked_at=None,
    )
    session.add(key)
    session.flush()
    return key, issued.token


def list_api_keys(session: Session, user_id: uuid.UUID) -> list[ApiKey]:
    get_user(session, user_id)
    return list(
        session.execute(
            select(ApiKey).where(ApiKey.principal_id == user_id).order_by(ApiKey.id)
        ).scalars()
    )


def revoke_api_key(
    session: Session, key_id: uuid.UUID, now: datetime, caller: Caller | None = None
) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("api_key", key_id)
    check_may_manage(session, caller, key.principal_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    return key


# --- OAuth2 clients -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientView:
    client: OAuthClient
    principal: Principal


def register_client(
    session: Session,
    *,
    township_id: uuid.UUID,
    name: str,
    scopes: Collection[ClientScope],
    created_by: str,
    now: datetime,
) -> tuple[ClientView, str]:
    _scope_for(session, township_id, None)
    client_id, secret = credentials.new_client_credentials()
    principal = Principal(
        id=new_id(),
        kind="client",
        township_id=township_id,
        village_id=None,
        name=name,
        username=None,
        password_hash=None,
        member_id=None,
        created_at=now,
        created_by=created_by,
        disabled_at=None,
    )
    session.add(principal)
    session.flush()
    client = OAuthClient(
        principal_id=principal.id,
        client_id=client_id,
        secret_hash=credentials.digest(secret),
        township_id=township_id,
        scopes=sorted(s.value for s in scopes),
        created_at=now,
        revoked_at=None,
    )
    session.add(client)
    session.flush()
    return ClientView(client, principal), secret


def get_client(session: Session, principal_id: uuid.UUID) -> ClientView:
    row = session.execute(
        select(OAuthClient, Principal)
        .join(Principal, Principal.id == OAuthClient.principal_id)
        .where(OAuthClient.principal_id == principal_id)
    ).first()
    if row is None:
        raise NotFound("client", principal_id)
    return ClientView(row[0], row[1])


def list_clients(session: Session, township_id: uuid.UUID) -> list[ClientView]:
    rows = session.execute(
        select(OAuthClient, Principal)
        .join(Principal, Principal.id == OAuthClient.principal_id)
        .where(OAuthClient.township_id == township_id)
        .order_by(OAuthClient.principal_id)
    ).all()
    return [ClientView(c, p) for c, p in rows]


def revoke_client(session: Session, principal_id: uuid.UUID, now: datetime) -> ClientView:
    view = get_client(session, principal_id)
    if view.client.revoked_at is None:
        view.client.revoked_at = now
        session.flush()
    return view


def rotation_grace_seconds(asked: int | None, *, default: int, maximum: int) -> int:
    """How long a rotated secret stays valid: what was asked, else the default; never
    more than the maximum."""
    grace = default if asked is None else asked
    if grace > maximum:
        raise GraceTooLong(
            f"grace_seconds may be at most {maximum}",
            detail_zh=f"grace_seconds 最多为 {maximum}",
            grace_seconds=grace,
            grace_seconds_max=maximum,
        )
    return grace


def rotate_client_secret(
    session: Session, principal_id: uuid.UUID, *, grace_seconds: int, now: datetime
) -> tuple[ClientView, str]:
    """A new secret for the client, returned once. The one it replaces keeps working for
    `grace_seconds` (0: not at all), so that the client's back ends can switch one by one;
    a secret older than that stops at once."""
    view = get_client(session, principal_id)
    client = view.client
    if client.revoked_at is not None:
        raise Forbidden(
            "this client is revoked: register a new one", detail_zh="该客户端已被吊销：请重新注册"
        )
    secret = credentials.new_client_credentials()[1]
    client.previous_secret_hash = client.secret_hash if grace_seconds > 0 else None
    client.previous_secret_expires_at = (
        now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None
    )
    client.secret_hash = credentials.digest(secret)
    session.flush()
    return view, secret


def authenticate_client(
    session: Session, client_id: str, secret: str, *, now: datetime
) -> OAuthClient | None:
    """The client this id and secret name: its current secret, or the one before a
    rotation while its grace period lasts."""
    client = session.execute(
        select(OAuthClient).where(OAuthClient.client_id == client_id)
    ).scalar_one_or_none()
    if client is None or client.revoked_at is not None:
        return None
    if credentials.same_digest(secret, client.secret_hash):
        return client
    previous = client.previous_secret_hash
    expires_at = client.previous_secret_expires_at
    if previous is not None and expires_at is not None and now < expires_at:
        return client if credentials.same_digest(secret, previous) else None
    return None


# --- member credentials and bindings ------------------------------------------------------


def issue_member_credential(
    session: Session,
    *,
    member_id: uuid.UUID,
    kind: str,
    ttl_seconds: int,
    created_by: str,
    now: datetime,
) -> tuple[MemberCredential, str]:
    """A one-time code (kind "code", expires) or a new card (kind "card", see
    jifen.access.cards: it revokes the member's older cards at once)."""
    if kind == "card":
        return cards.issue_card(session, member_id=member_id, created_by=created_by, now=now)
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("member", member_id)
    secret = credentials.new_one_time_code()
    credential = MemberCredential(
        id=new_id(),
        member_id=member.id,
        village_id=member.village_id,
        kind=kind,
        secret_hash=credentials.digest(secret),
        created_at=now,
        created_by=created_by,
        expires_at=now + timedelta(seconds=ttl_seconds),
        used_at=None,
        revoked_at=None,
    )
    session.add(credential)
    session.flush()
    return credential, secret


def _proven_member(
    session: Session, *, card_token: str | None, code: str | None, now: datetime
) -> tuple[Member, MemberCredential | None]:
    """The member a card token or a one-time code names, and the code's row (to be used up).
    Every refusal looks the same to the client: it learns nothing of other members."""
    if (card_token is None) == (code is None):
        raise ValidationFailed(
            "give exactly one of card_token and code",
            detail_zh="card_token 和 code 必须且只能提供其中一个",
        )
    if card_token is not None:
        try:
            return cards.member_for_card(session, card_token, village_id=None), None
        except (CardInvalid, CardRevoked):
            raise CredentialRejected() from None
    credential = session.execute(
        select(MemberCredential).where(
            MemberCredential.secret_hash
            == credentials.digest(credentials.normalise_code(code or ""))
        )
    ).scalar_one_or_none()
    usable = (
        credential is not None
        and credential.kind == "code"
        and credential.revoked_at is None
        and credential.used_at is None
        and (credential.expires_at is None or credential.expires_at > now)
    )
    member = session.get(Member, credential.member_id) if credential is not None else None
    if not usable or member is None:
        raise CredentialRejected()
    return member, credential


def normalise_phone(phone: str) -> str:
    """A mainland number as digits: spaces, dashes and a +86 / 0086 prefix dropped."""
    compact = "".join(ch for ch in phone.strip() if ch not in " -()")
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
    return compact


def _member_by_phone(session: Session, *, township_id: uuid.UUID, phone: str) -> Member:
    """The one active member of the township whose phone on record is `phone` (as the
    platform verified it). A household often shares a phone: two or more is refused,
    and the member is bound with a clerk's code instead."""
    digits = normalise_phone(phone)
    if not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise PhoneNotMatched()
    candidates = session.execute(
        select(Member).where(
            Member.township_id == township_id,
            Member.deactivated_on.is_(None),
            Member.phone.like(f"%{digits[-4:]}"),
        )
    ).scalars()
    found = [m for m in candidates if m.phone and normalise_phone(m.phone) == digits]
    if not found:
        raise PhoneNotMatched()
    if len(found) > 1:
        raise PhoneAmbiguous(
            f"{len(found)} members have this phone number on record",
            detail_zh=f"登记了该手机号的村民有 {len(found)} 位",
        )
    return found[0]


def bind_member(
    session: Session,
    *,
    client_principal_id: uuid.UUID,
    township_id: uuid.UUID,
    user_ref: str,
    card_token: str | None,
    code: str | None,
    now: datetime,
    phone: str | None = None,
) -> tuple[MemberBinding, bool]:
    """Bind a client's user to the member who proved who they are — by their card, a
    clerk's one-time code, or the phone number the platform verified. (binding, created)."""
    if phone is not None:
        if card_token is not None or code is not None:
            raise ValidationFailed(
                "give exactly one of card_token, code and phone",
                detail_zh="card_token、code 和 phone 必须且只能提供其中一个",
            )
        member = _member_by_phone(session, township_id=township_id, phone=phone)
        code_credential = None
    else:
        member, code_credential = _proven_member(session, card_token=card_token, code=code, now=now)
    if member.township_id != township_id:
        raise CredentialRejected()
    if member.deactivated_on is not None:
        raise CredentialRejected(
            "this member is no longer active", detail_zh="该村民已不再是在册成员"
        )
    existing = session.execute(
        select(MemberBinding).where(
            MemberBinding.client_principal_id == client_principal_id,
            MemberBinding.user_ref == user_ref,
            MemberBinding.revoked_at.is_(None),
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.member_id != member.id:
            raise BindingConflict(
                f"user {user_ref!r} is bound to another member; unbind first",
                detail_zh=f"用户 {user_ref!r} 已绑定其他村民，请先解除绑定",
            )
        return existing, False
    if code_credential is not None:
        code_credential.used_at = now
    binding = MemberBinding(
        id=new_id(),
        client_principal_id=client_principal_id,
        member_id=member.id,
        village_id=member.village_id,
        user_ref=user_ref,
        created_at=now,
        revoked_at=None,
    )
    session.add(binding)
    session.flush()
    return binding, True


def get_binding(session: Session, binding_id: uuid.UUID) -> MemberBinding:
    binding = session.get(MemberBinding, binding_id)
    if binding is None or binding.revoked_at is not None:
        raise NotFound("binding", binding_id)
    return binding


def list_bindings(
    session: Session, *, client_principal_id: uuid.UUID, user_ref: str | None
) -> list[MemberBinding]:
    query = select(MemberBinding).where(
        MemberBinding.client_principal_id == client_principal_id,
        MemberBinding.revoked_at.is_(None),
    )
    if user_ref is not None:
        query = query.where(MemberBinding.user_ref == user_ref)
    return list(session.execute(query.order_by(MemberBinding.id).limit(500)).scalars())


def unbind(session: Session, binding_id: uuid.UUID, now: datetime) -> MemberBinding:
    binding = get_binding(session, binding_id)
    binding.revoked_at = now
    session.flush()
    return binding


# --- audit --------------------------------------------------------------------------------


def list_audit_events(
    session: Session,
    *,
    township_id: uuid.UUID | None,
    village_id: uuid.UUID | None,
    principal_id: uuid.UUID | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEvent]:
    query = select(AuditEvent)
    filters: dict[str, Any] = {
        "township_id": township_id,
        "village_id": village_id,
        "principal_id": principal_id,
        "action": action,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(getattr(AuditEvent, column) == value)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    # Newest first: ids are time-ordered (UUIDv7).
    return page_by_id(session, query, AuditEvent, limit, cursor, newest_first=True)


def create_platform_admin(
    session: Session, *, name: str, username: str | None, password: str | None, now: datetime
) -> tuple[Principal, str]:
    """A platform administrator and their first API key, for the operator (CLI) and the
    demo seed. Returns the user and the whole key."""
    user = create_user(
        session,
        name=name,
        township_id=None,
        village_id=None,
        username=username,
        password=password,
        created_by=SYSTEM,
        now=now,
    )
    grant_role(
        session,
        caller=None,
        user_id=user.id,
        role_id=builtin_role(session, "platform_admin").id,
        village_id=None,
        created_by=SYSTEM,
        now=now,
    )
    _key, token = create_api_key(session, user_id=user.id, name=name, created_by=SYSTEM, now=now)
    return user, token
