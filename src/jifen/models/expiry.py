"""Expiry notices: which holder was told about which expiry date (one event each).

The expiries themselves are ledger entries (to the village's EXPIRY account); what points
expire when is derived from the postings, never stored. Only the announcement has state:
a `points.expiring` webhook goes out once per holder account and expiry date.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class ExpiryNotice(Base):
    """One announcement that points of a holder account expire on a date."""

    __tablename__ = "expiry_notices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        ForeignKeyConstraint(["account_id", "village_id"], ["accounts.id", "accounts.village_id"]),
        UniqueConstraint("account_id", "expires_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    account_id: Mapped[uuid.UUID]
    expires_on: Mapped[date]
    # after_months | yearly_clear: which charter setting the date comes from.
    policy: Mapped[str] = mapped_column(String(16))
    # Points announced to expire on that date, as known when announced.
    points: Mapped[int]
    announced_at: Mapped[datetime]
