"""evidence photos: uploaded photos of a village, and the records citing them

`evidence_photos` holds one row per distinct photo of a village (unique by the SHA-256 of
the stored bytes, which are also its storage key: on disk or in an S3-compatible
bucket, never in the database). `evidence_photo_records` links a photo to each record
whose evidence cites it (`{"kind": "photo", "ref": "evidence-photo:<id>"}`).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.BigInteger(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_evidence_photos_content_type"),
        ),
        sa.CheckConstraint(
            "size_bytes >= 1 AND width >= 1 AND height >= 1",
            name=op.f("ck_evidence_photos_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_evidence_photos_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_photos")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_evidence_photos_id_village_id")),
        sa.UniqueConstraint(
            "village_id", "sha256", name=op.f("uq_evidence_photos_village_id_sha256")
        ),
    )
    op.create_index(
        op.f("ix_evidence_photos_township_id"), "evidence_photos", ["township_id"], unique=False
    )
    op.create_index(
        op.f("ix_evidence_photos_village_id"), "evidence_photos", ["village_id"], unique=False
    )
    op.create_table(
        "evidence_photo_records",
        sa.Column("photo_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id", "village_id"],
            ["evidence_photos.id", "evidence_photos.village_id"],
            name=op.f("fk_evidence_photo_records_photo_id_village_id_evidence_photos"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id", "village_id"],
            ["records.id", "records.village_id"],
            name=op.f("fk_evidence_photo_records_record_id_village_id_records"),
        ),
        sa.PrimaryKeyConstraint("photo_id", "record_id", name=op.f("pk_evidence_photo_records")),
    )
    op.create_index(
        op.f("ix_evidence_photo_records_record_id"),
        "evidence_photo_records",
        ["record_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_photo_records_record_id"), table_name="evidence_photo_records")
    op.drop_table("evidence_photo_records")
    op.drop_index(op.f("ix_evidence_photos_village_id"), table_name="evidence_photos")
    op.drop_index(op.f("ix_evidence_photos_township_id"), table_name="evidence_photos")
    op.drop_table("evidence_photos")
