"""The schema exists only through Alembic: models and migrations must agree."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from jifen.access.permissions import BUILTIN_ROLES, Permission
from jifen.migrate import alembic_config
from jifen.models import Base


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    from alembic import command

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        command.upgrade(alembic_config(connection=conn), "head")
        assert {"entries", "postings", "account_balances", "books"} <= set(
            inspect(conn).get_table_names()
        )
    engine.dispose()


def test_built_in_roles_in_the_database_are_those_of_the_code(database_url: str) -> None:
    """Migration 0002 inserts the built-in roles as data; the code's catalog must agree
    (a change to a built-in role is a migration of its own)."""
    expected = {
        (role.code, role.label, role.scope.value, tuple(sorted(p.value for p in role.permissions)))
        for role in BUILTIN_ROLES
    }
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, label, scope, permissions FROM roles WHERE township_id IS NULL")
        ).all()
    engine.dispose()

    def permissions_of(value: object) -> tuple[str, ...]:
        listed = json.loads(value) if isinstance(value, str) else value
        assert isinstance(listed, list)
        return tuple(sorted(listed))

    stored = {(code, label, scope, permissions_of(perms)) for code, label, scope, perms in rows}
    assert stored == expected
    assert all(p in set(Permission) for role in BUILTIN_ROLES for p in role.permissions)
