"""Subsidy regions (片区): the region a village belongs to within its township

A village belongs to at most one region of its township: a nullable `region` name on the
village, set through PATCH /v1/villages/{id}. The township's regions are the distinct names
its villages carry. Settlements read it as a fact (relative gates, per-region quotas and
prizes), so a change makes later drafts differ and earlier drafts stale.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("villages", sa.Column("region", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("villages") as batch:
        batch.drop_column("region")
