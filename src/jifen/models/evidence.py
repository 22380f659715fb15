"""Evidence photos (证据照片): uploaded images of a village, and the records citing them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class EvidencePhoto(Base):
    """One photo of a village, as stored (re-encoded, without metadata). The same image
    uploaded again in the village is this row again: its storage key is its content's
    SHA-256."""

    __tablename__ = "evidence_photos"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        UniqueConstraint("village_id", "sha256"),
        UniqueConstraint("id", "village_id"),
        CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png', 'image/webp')", name="content_type"
        ),
        CheckConstraint("size_bytes >= 1 AND width >= 1 AND height >= 1", name="positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime]


class EvidencePhotoRecord(Base):
    """A record citing a photo in its evidence (a group's work may cite one photo in
    every participant's record; a correction cites its amended record's photos)."""

    __tablename__ = "evidence_photo_records"
    __table_args__ = (
        ForeignKeyConstraint(
            ["photo_id", "village_id"], ["evidence_photos.id", "evidence_photos.village_id"]
        ),
        ForeignKeyConstraint(["record_id", "village_id"], ["records.id", "records.village_id"]),
    )

    photo_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    village_id: Mapped[uuid.UUID]
    attached_at: Mapped[datetime]
