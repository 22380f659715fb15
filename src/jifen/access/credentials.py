"""Secrets: API keys, client secrets, one-time codes, passwords, the signed bearer tokens
of OAuth2 clients, and the keys that sign them and member cards (jifen.access.cards).

Random secrets come from `secrets`; high-entropy ones are stored as SHA-256 digests
(a slow hash adds nothing to 256 random bits), passwords with Argon2id, tokens are JWTs
(PyJWT, HS256) signed with a key the service keeps in its own database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.models import ServiceSecret

API_KEY_PREFIX = "jfk"
CLIENT_SECRET_PREFIX = "jfs"
TOKEN_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "jifen"
TOKEN_KEY_NAME = "token_signing_key"
# Member cards are signed with a key of their own (jifen.access.cards).
CARD_KEY_NAME = "card_signing_key"
# Unambiguous characters for codes a person reads aloud or types (no 0/O, 1/I/L).
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ONE_TIME_CODE_LENGTH = 10

_passwords = PasswordHasher()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    return hmac.compare_digest(digest(secret), stored)


@dataclass(frozen=True)
class IssuedSecret:
    """A secret as shown once: `public` is what may be printed later, `token` the whole."""

    public: str
    token: str

    @property
    def hash(self) -> str:
        return digest(self.token)


def new_api_key() -> IssuedSecret:
    prefix = f"{API_KEY_PREFIX}_{secrets.token_hex(6)}"
    return IssuedSecret(public=prefix, token=f"{prefix}_{secrets.token_urlsafe(32)}")


def api_key_prefix(token: str) -> str | None:
    """The visible prefix of something that looks like an API key, else None."""
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != API_KEY_PREFIX:
        return None
    return f"{parts[0]}_{parts[1]}"


def new_client_credentials() -> tuple[str, str]:
    """(client_id, client_secret)."""
    return f"jfcl_{secrets.token_hex(8)}", f"{CLIENT_SECRET_PREFIX}_{secrets.token_urlsafe(32)}"


def new_one_time_code() -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(ONE_TIME_CODE_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def normalise_code(code: str) -> str:
    """What a person typed, in the form it was issued: upper case, one dash."""
    bare = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{bare[:5]}-{bare[5:]}" if len(bare) == ONE_TIME_CODE_LENGTH else bare


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def password_matches(password: str, stored: str | None) -> bool:
    if stored is None:
        # Spend the same time as a real check, so a missing user is not told apart.
        _passwords.hash(password)
        return False
    try:
        return _passwords.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def signing_key(session: Session, now: datetime, *, name: str = TOKEN_KEY_NAME) -> bytes:
    """A signing key (by default the tokens'), made on first use and then shared by every
    worker."""
    key = stored_key(session, name)
    if key is not None:
        return key
    candidate = ServiceSecret(name=name, value=secrets.token_bytes(32), created_at=now)
    try:
        with session.begin_nested():
            session.add(candidate)
    except IntegrityError:
        pass  # another worker made it first
    stored = session.execute(
        select(ServiceSecret.value).where(ServiceSecret.name == name)
    ).scalar_one()
    return bytes(stored)


def stored_key(session: Session, name: str) -> bytes | None:
    """A signing key if it was made already (a read never makes one)."""
    key = session.get(ServiceSecret, name)
    return None if key is None else bytes(key.value)


def issue_token(
    key: bytes, *, subject: uuid.UUID, client_id: str, scopes: list[str], now: datetime, ttl: int
) -> str:
    claims = {
        "iss": "jifen",
        "aud": TOKEN_AUDIENCE,
        "sub": str(subject),
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=TOKEN_ALGORITHM)


def read_token(key: bytes, token: str, now: datetime) -> dict[str, Any] | None:
    """The token's claims if it is ours, intact and not expired, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[TOKEN_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            issuer="jifen",
            options={"require": ["exp", "sub", "aud", "iss"], "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    if claims["exp"] <= now.timestamp():
        return None
    return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
