"""Stored responses of POST requests that carried an Idempotency-Key header."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    principal: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]

    # `jifen tick` purges records past the retention, oldest first, in bounded batches.
    __table_args__ = (Index("ix_idempotency_records_created_at", "created_at"),)
