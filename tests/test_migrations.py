"""The schema exists only through Alembic: models and migrations must agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

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
