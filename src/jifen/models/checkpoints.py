"""Signed checkpoints of every village's chain head, and the keys that signed them.

The database copy serves the API; the copy that survives a rewrite of the database is the
JSON Lines file in JIFEN_CHECKPOINT_DIR (jifen.checkpoints). Both are append-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class CheckpointKey(Base):
    """A public key that signed checkpoints (the private key never enters the database)."""

    __tablename__ = "checkpoint_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The raw 32-byte Ed25519 public key, base64.
    public_key: Mapped[str] = mapped_column(String(64))
    first_used_at: Mapped[datetime]


class Checkpoint(Base):
    """One village's head (seq and hash) as signed at signed_at."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        CheckConstraint("seq >= 0", name="seq_non_negative"),
        Index("ix_checkpoints_village_signed", "village_id", "signed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(index=True)
    key_id: Mapped[str] = mapped_column(String(32), ForeignKey("checkpoint_keys.key_id"))
    # Ed25519 over the canonical JSON of the statement (jifen.checkpoints.keys), base64.
    signature: Mapped[str] = mapped_column(String(128))
