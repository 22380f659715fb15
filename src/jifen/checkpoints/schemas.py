"""What the checkpoint endpoints answer."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from pydantic import Field

from jifen.checkpoints import keys
from jifen.checkpoints.service import statement_of
from jifen.kit.schemas import Schema
from jifen.models import Checkpoint, CheckpointKey


class CheckpointRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    seq: int = Field(description="The chain's head: the seq of the village's last entry")
    head_hash: str = Field(description="The hash of the entry at seq (64 zeros for none)")
    signed_at: datetime
    key_id: str = Field(description="The signing key: see GET /v1/checkpoint-keys")
    signature: str = Field(description="Ed25519 over signed_statement's UTF-8 bytes, base64")
    signed_statement: str = Field(
        description="The exact canonical JSON that was signed (also the line in the "
        "checkpoint file, less its signature)"
    )

    @classmethod
    def of(cls, row: Checkpoint) -> CheckpointRead:
        return cls(
            id=row.id,
            township_id=row.township_id,
            village_id=row.village_id,
            seq=row.seq,
            head_hash=row.head_hash,
            signed_at=row.signed_at,
            key_id=row.key_id,
            signature=row.signature,
            signed_statement=statement_of(row).message().decode("utf-8"),
        )


class CheckpointKeyRead(Schema):
    key_id: str = Field(description="The first 32 hex digits of SHA-256 of the raw key")
    algorithm: str = "Ed25519"
    public_key: str = Field(description="The raw 32-byte public key, base64")
    public_key_pem: str | None = Field(
        description="The same key in PEM (null if the stored key does not parse)"
    )
    first_used_at: datetime | None
    is_signing: bool = Field(description="Whether this server signs with it now")

    @classmethod
    def of(cls, row: CheckpointKey, *, signing_key_id: str | None) -> CheckpointKeyRead:
        try:
            pem: str | None = keys.public_pem(
                keys.public_key_from_text(row.public_key.encode(), "checkpoint_keys")
            )
        except (keys.KeyUnusable, ValueError):
            pem = None
        return cls(
            key_id=row.key_id,
            public_key=row.public_key,
            public_key_pem=pem,
            first_used_at=row.first_used_at,
            is_signing=row.key_id == signing_key_id,
        )

    @classmethod
    def of_signer(cls, public: keys.Ed25519PublicKey) -> CheckpointKeyRead:
        return cls(
            key_id=keys.key_id_of(public),
            public_key=base64.b64encode(keys.raw_public(public)).decode("ascii"),
            public_key_pem=keys.public_pem(public),
            first_used_at=None,
            is_signing=True,
        )
