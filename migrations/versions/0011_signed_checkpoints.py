"""Signed checkpoints of every village's chain head (issue #14)

checkpoint_keys: the Ed25519 public keys that signed checkpoints (the private key lives
outside the database: a file or an environment secret).
checkpoints: one village's head (seq, hash) at an instant, with the key id and the
signature; append-only like the entries (triggers refuse UPDATE and DELETE). The copy an
auditor relies on is the JSON Lines file in JIFEN_CHECKPOINT_DIR, outside the database.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = ("checkpoints", "checkpoint_keys")


def upgrade() -> None:
    op.create_table(
        "checkpoint_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_checkpoint_keys")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_checkpoints_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["checkpoint_keys.key_id"],
            name=op.f("fk_checkpoints_key_id_checkpoint_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_checkpoints_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
    )
    op.create_index(op.f("ix_checkpoints_township_id"), "checkpoints", ["township_id"])
    op.create_index(op.f("ix_checkpoints_signed_at"), "checkpoints", ["signed_at"])
    op.create_index("ix_checkpoints_village_signed", "checkpoints", ["village_id", "signed_at"])
    if op.get_bind().dialect.name == "postgresql":
        # jifen_refuse_change() comes from 0001.
        for table in _APPEND_ONLY:
            op.execute(
                f"""CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change()"""
            )
            op.execute(
                f"""CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change()"""
            )
    else:
        for table in _APPEND_ONLY:
            for op_name in ("update", "delete"):
                op.execute(
                    f"""CREATE TRIGGER {table}_refuse_{op_name} BEFORE {op_name.upper()}
                    ON {table} BEGIN SELECT RAISE(ABORT,
                    'jifen: {table} are append-only; {op_name} refused'); END"""
                )


def downgrade() -> None:
    # The triggers go with their tables.
    op.drop_index("ix_checkpoints_village_signed", table_name="checkpoints")
    op.drop_index(op.f("ix_checkpoints_signed_at"), table_name="checkpoints")
    op.drop_index(op.f("ix_checkpoints_township_id"), table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_table("checkpoint_keys")
