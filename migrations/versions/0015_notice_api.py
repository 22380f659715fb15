"""public notice API: notice:read, notice:object and notice:decide on the built-in roles

Every built-in role reads notice lists (公示名单); the clerk and the administrators also
record objections for residents and decide them (as far as the charter names their role).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STAFF = ["notice:read", "notice:object", "notice:decide"]
_ADDED = {
    "platform_admin": _STAFF,
    "township_admin": _STAFF,
    "village_clerk": _STAFF,
    "supermarket_cashier": ["notice:read"],
    "township_finance": ["notice:read"],
    "auditor": ["notice:read"],
    "resident": ["notice:read"],
}


def _change_builtin_permissions(add: bool) -> None:
    roles = sa.table(
        "roles",
        sa.column("code", sa.String()),
        sa.column("township_id", sa.Uuid()),
        sa.column("permissions", sa.JSON()),
    )
    conn = op.get_bind()
    for code, added in _ADDED.items():
        where = sa.and_(roles.c.code == code, roles.c.township_id.is_(None))
        current = conn.execute(sa.select(roles.c.permissions).where(where)).scalar_one_or_none()
        if current is None:
            continue
        if isinstance(current, str):
            current = json.loads(current)
        changed = set(current) | set(added) if add else set(current) - set(added)
        conn.execute(roles.update().where(where).values(permissions=sorted(changed)))


def upgrade() -> None:
    _change_builtin_permissions(add=True)


def downgrade() -> None:
    _change_builtin_permissions(add=False)
