"""write path: room for in-place (HOT) updates of the books heads and balances

Group commit updates a village's books row and its busy balances once per group, but a
busy village still updates them many times a second. On PostgreSQL an UPDATE writes a
new row version; with room left in the row's page (fillfactor) and no indexed column
changed, the new version stays in the same page (a HOT update) and the old one is pruned
on the next visit, without waiting for VACUUM — so the hot rows do not bloat their table
or indexes. Autovacuum also visits these small, busy tables much sooner than the default
20% of dead rows. SQLite updates rows in place: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STORAGE = {
    "books": "fillfactor = 50, autovacuum_vacuum_scale_factor = 0, "
    "autovacuum_vacuum_threshold = 500",
    "account_balances": "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02",
}
_RESET = {
    "books": "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold",
    "account_balances": "fillfactor, autovacuum_vacuum_scale_factor",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, storage in _STORAGE.items():
        op.execute(f"ALTER TABLE {table} SET ({storage})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, names in _RESET.items():
        op.execute(f"ALTER TABLE {table} RESET ({names})")
