"""Sign-in against the database: who a username and password are, and whether a session
cookie still names an active user."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import credentials
from jifen.access.guard import Caller, user_caller
from jifen.models import Principal, Role, RoleGrant, Township, Village
from jifen.web.sessions import SessionCookie, password_tag

USERNAME_LENGTH_MAX = 100
# Argon2 hashes any length; a bound keeps one request from costing much more than another.
PASSWORD_LENGTH_MAX = 1024


def sign_in(session: Session, *, username: str, password: str) -> Principal | None:
    """The active user with this username and password, else None.

    An unknown username costs the same Argon2 work as a wrong password, and a disabled
    user is refused only after the check, so the answer's timing tells nothing apart.
    """
    user = session.execute(
        select(Principal).where(Principal.username == username, Principal.kind == "user")
    ).scalar_one_or_none()
    matches = credentials.password_matches(password, user.password_hash if user else None)
    if user is None or not matches or user.disabled_at is not None:
        return None
    return user


def session_cookie_for(user: Principal, *, key: bytes, nonce: str) -> SessionCookie:
    assert user.password_hash is not None  # sign_in only returns users with a password
    return SessionCookie(
        principal_id=user.id, nonce=nonce, password_tag=password_tag(key, user.password_hash)
    )


def find_signed_in(
    session: Session, cookie: SessionCookie, *, key: bytes, today: date
) -> Caller | None:
    """The caller a valid session cookie names, unless they were disabled or changed their
    password since."""
    user = session.get(Principal, cookie.principal_id)
    if user is None or user.kind != "user" or user.disabled_at is not None:
        return None
    if user.password_hash is None or not hmac.compare_digest(
        password_tag(key, user.password_hash), cookie.password_tag
    ):
        return None
    return user_caller(session, user, today)


@dataclass(frozen=True)
class RoleHeld:
    label: str  # 村干部
    place: str  # the village or township it is held in, or 全平台


def roles_held(session: Session, caller: Caller) -> list[RoleHeld]:
    """The caller's grants, named for people: role label and where it applies."""
    rows = session.execute(
        select(Role.label, Village.name, Township.name)
        .select_from(RoleGrant)
        .join(Role, Role.id == RoleGrant.role_id)
        .outerjoin(Village, Village.id == RoleGrant.village_id)
        .outerjoin(Township, Township.id == RoleGrant.township_id)
        .where(RoleGrant.principal_id == caller.principal_id)
    ).all()
    held = {RoleHeld(label, village or township or "全平台") for label, village, township in rows}
    return sorted(held, key=lambda role: (role.label, role.place))
