"""Test databases: every test runs on SQLite, and on PostgreSQL too when one is reachable.

SQLite: the migrations build a template file once per run; each test gets a copy.
PostgreSQL: the migrations build a database of this run's own (so parallel runs never
meet) on the server named by JIFEN_TEST_PG_URL — or, if that is unset, on a local server
at 127.0.0.1:5432 if one answers; each test starts from empty tables.
Set JIFEN_TEST_PG_URL and the server must answer: a CI run never skips PostgreSQL silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from jifen.access import service as access
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.main import create_app
from jifen.migrate import upgrade
from jifen.models import Base, Village

LOCAL_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_server_url() -> str | None:
    explicit = os.environ.get("JIFEN_TEST_PG_URL")
    url = Settings(database_url=explicit or LOCAL_PG_URL).database_url
    try:
        _admin_connect(url).close()
    except psycopg.OperationalError as exc:
        if explicit:
            raise RuntimeError(
                f"JIFEN_TEST_PG_URL is set but the server does not answer: {exc}"
            ) from exc
        return None
    return url


def _admin_connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


PG_SERVER_URL = _pg_server_url()
BACKENDS = ["sqlite", "postgresql"] if PG_SERVER_URL else ["sqlite"]


def pytest_report_header() -> str:
    return "jifen backends: " + ", ".join(BACKENDS)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    assert PG_SERVER_URL is not None
    name = f"jifen_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin_connect(PG_SERVER_URL) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with _admin_connect(PG_SERVER_URL) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_pg(url: str) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    roles = Base.metadata.tables["roles"]
    engine = create_engine(url)
    with engine.begin() as conn:
        # The built-in roles are the migrations' own rows: they survive the cleaning.
        builtin = [
            dict(row._mapping)
            for row in conn.execute(select(roles).where(roles.c.township_id.is_(None)))
        ]
        # Replica mode skips the append-only triggers, for cleaning between tests only.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        conn.execute(roles.insert(), builtin)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("needs PostgreSQL (real row-level concurrency)")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "jifen.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _empty_pg(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Evidence photos on disk in the test's own directory (on PostgreSQL too).
    return Settings(database_url=database_url, evidence_dir=str(tmp_path / "evidence"))


@pytest.fixture
def db(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database(settings)
    yield database
    if not request.node.get_closest_marker("tampers"):
        _check_books(database)
    database.dispose()


def _check_books(database: Database) -> None:
    """After every test: each village's trial balance is zero and its chain verifies."""
    with database.unit_of_work(write=False) as session:
        for village_id in session.execute(select(Village.id)).scalars():
            assert ledger.trial_balance(session, village_id).is_balanced
            result = ledger.verify_books(session, village_id)
            assert result.is_intact, result


@pytest.fixture
def admin_key(db: Database) -> str:
    """The API key of a platform administrator (may do everything everywhere)."""
    with db.unit_of_work() as session:
        _user, key = access.create_platform_admin(
            session, name="测试平台管理员", username=None, password=None, now=utc_now()
        )
    return key


@pytest.fixture
def client(settings: Settings, db: Database, admin_key: str) -> Iterator[TestClient]:
    """A TestClient signed in as a platform administrator."""
    with TestClient(
        create_app(settings, db),
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {admin_key}"},
    ) as test_client:
        yield test_client
