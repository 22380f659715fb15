"""Operate safely: an index for purging idempotency records past their retention

`jifen tick` deletes stored Idempotency-Key answers older than
JIFEN_IDEMPOTENCY_RETENTION_DAYS, oldest first, in bounded batches; the index on
created_at keeps each batch a range scan instead of a full table scan.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_records_created_at", "idempotency_records", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_records_created_at", table_name="idempotency_records")
