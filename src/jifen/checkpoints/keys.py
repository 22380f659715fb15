"""Ed25519 keys and the signed statement of a checkpoint. No database, no clock."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jifen.kit.canonical import canonical_json, format_instant

STATEMENT_VERSION = 1
STATEMENT_KIND = "jifen.checkpoint"


class KeyUnusable(Exception):
    """A key file or secret that is missing, unreadable or not an Ed25519 key."""


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The first 32 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()[:32]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _seed(text: bytes, origin: str) -> bytes:
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnusable(f"{origin}: neither PEM nor the base64 of a 32-byte key") from None
    if len(seed) != 32:
        raise KeyUnusable(f"{origin}: an Ed25519 key is 32 bytes, this one is {len(seed)}")
    return seed


def private_key_from_secret(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_seed(secret.encode(), "JIFEN_CHECKPOINT_KEY"))


def private_key_from_file(path: Path) -> Ed25519PrivateKey:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise KeyUnusable(f"{path}: {exc.strerror or exc}") from None
    if content.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(content, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyUnusable(f"{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnusable(f"{path}: not an Ed25519 key")
        return key
    if len(content) == 32:
        return Ed25519PrivateKey.from_private_bytes(content)
    return Ed25519PrivateKey.from_private_bytes(_seed(content, str(path)))


def public_key_from_file(path: Path) -> Ed25519PublicKey:
    """A public key: PEM (SubjectPublicKeyInfo), or the base64 of the raw 32 bytes."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise KeyUnusable(f"{path}: {exc.strerror or exc}") from None
    return public_key_from_text(content, str(path))


def public_key_from_text(content: bytes, origin: str) -> Ed25519PublicKey:
    if content.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(content)
        except (ValueError, TypeError) as exc:
            raise KeyUnusable(f"{origin}: not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyUnusable(f"{origin}: not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_seed(content, origin))


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """A new private key in PEM, created with mode 0600 (never over an existing file),
    and its public key beside it in PATH.pub."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    os.chmod(path, 0o600)  # whatever the umask
    Path(f"{path}.pub").write_text(public_pem(key.public_key()), encoding="ascii")
    return key


@dataclass(frozen=True)
class Statement:
    """What a checkpoint signs: one village's head at an instant."""

    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    head_hash: str
    signed_at: datetime
    key_id: str

    def content(self) -> dict[str, Any]:
        return {
            "v": STATEMENT_VERSION,
            "kind": STATEMENT_KIND,
            "township_id": str(self.township_id),
            "village_id": str(self.village_id),
            "seq": self.seq,
            "head_hash": self.head_hash,
            "signed_at": format_instant(self.signed_at),
            "key_id": self.key_id,
        }

    def message(self) -> bytes:
        """The exact bytes signed: the canonical JSON of content()."""
        return canonical_json(self.content())


def sign(key: Ed25519PrivateKey, statement: Statement) -> str:
    return base64.b64encode(key.sign(statement.message())).decode("ascii")


def signature_holds(public_key: Ed25519PublicKey, statement: Statement, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, statement.message())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
