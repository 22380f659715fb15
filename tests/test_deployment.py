"""Deployment: replicas migrating at once, the image's health check, the compose file."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from jifen.migrate import MIGRATION_LOCK_KEY
from tests.conftest import PG_SERVER_URL, _admin_connect

ROOT = Path(__file__).resolve().parent.parent
JIFEN = [sys.executable, "-m", "jifen"]
REPLICAS = 4


def _head() -> str:
    versions = sorted((ROOT / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return versions[-1].name.split("_", 1)[0]


def _start_migrations(url: str, *extra: str) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "JIFEN_DATABASE_URL": url}
    return [
        subprocess.Popen(
            [*JIFEN, "migrate", *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(REPLICAS)
    ]


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """An empty PostgreSQL database of its own (no migrations run)."""
    if PG_SERVER_URL is None:
        pytest.skip("needs PostgreSQL")
    name = f"jifen_migrate_{uuid.uuid4().hex[:10]}"
    with _admin_connect(PG_SERVER_URL) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    with _admin_connect(PG_SERVER_URL) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _version(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert len(rows) == 1, rows
    return str(rows[0])


def test_replicas_migrating_a_fresh_postgresql_database_at_once_take_turns(fresh_pg: str) -> None:
    processes = _start_migrations(fresh_pg)
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in processes]  # type: ignore[union-attr]
    assert [code for code, _, _ in outcomes] == [0] * REPLICAS, outcomes
    assert _version(fresh_pg) == _head()
    # Exactly one of them ran the migrations; the others found the database at head.
    outs = sorted(out for _, out, _ in outcomes)
    assert sum(f"from None to head ({_head()})" in out for out in outs) == 1, outs
    assert sum(f"is at head ({_head()}): nothing to do" in out for out in outs) == REPLICAS - 1


def test_migrate_waits_for_the_lock_within_its_bound(fresh_pg: str) -> None:
    u = make_url(fresh_pg)
    holder = psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    )
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        started = time.monotonic()
        env = {**os.environ, "JIFEN_DATABASE_URL": fresh_pg}
        blocked = subprocess.run(
            [*JIFEN, "migrate", "--lock-timeout", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert blocked.returncode == 3, blocked.stderr
        assert "another process held the migration lock for 1 s" in blocked.stderr
        # Nothing was migrated while another held the lock.
        engine = create_engine(fresh_pg)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None
        engine.dispose()
        waiting = _start_migrations(fresh_pg, "--lock-timeout", "60")
        time.sleep(1.5)
        assert all(p.poll() is None for p in waiting)  # still waiting
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        assert [p.wait(timeout=300) for p in waiting] == [0] * REPLICAS
        assert time.monotonic() - started < 300
    finally:
        holder.close()
    assert _version(fresh_pg) == _head()


def test_replicas_migrating_a_new_sqlite_file_at_once_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'replicas.db'}"
    processes = _start_migrations(url)
    outcomes = [(p.wait(timeout=300), p.stdout.read()) for p in processes]  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0] * REPLICAS, outcomes
    assert sum("from None to head" in out for _, out in outcomes) == 1, outcomes
    assert _version(url) == _head()


# --- the image and the compose file (Docker itself is not needed to check these) --------


def test_the_image_health_check_follows_the_configured_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    check = re.search(r"HEALTHCHECK(?:[^\n]*\\\n)*[^\n]*", dockerfile)
    assert check is not None
    command = check.group(0)
    assert "JIFEN_PORT" in command and "8000/healthz" not in command
    # The check's own command, run here against a port of our choosing, reads the variable.
    shell = re.search(r"CMD (.*)", command.replace("\\\n", " "), re.DOTALL)
    assert shell is not None
    script = shell.group(1).strip()
    env = {**os.environ, "JIFEN_PORT": "1"}  # nothing listens on port 1: the check fails
    failed = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "Connection refused" in failed.stderr

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Health) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        env["JIFEN_PORT"] = str(server.server_address[1])
        passed = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
        server.shutdown()
    assert passed.returncode == 0, passed.stderr


def test_the_production_image_uses_psycopg_compiled_build() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "psycopg[c]" in dockerfile and "PSYCOPG_IMPL=c" in dockerfile


def test_the_compose_file_runs_jifen_with_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    jifen = services["jifen"]
    env = jifen["environment"]
    assert env["JIFEN_DATABASE_URL"].startswith("postgresql://jifen:")
    assert "@postgres:5432/jifen" in env["JIFEN_DATABASE_URL"]
    assert jifen["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert env["JIFEN_WEB_COOKIE_SECURE"] == "true"
    # Two replicas start together: the migration lock keeps them from racing.
    assert jifen["deploy"]["replicas"] == 2
    assert "healthcheck" in services["postgres"]
    # The replicas keep evidence photos on one shared volume the image's user owns.
    assert env["JIFEN_EVIDENCE_DIR"] == "/var/lib/jifen/evidence"
    assert "evidence:/var/lib/jifen/evidence" in jifen["volumes"]
    assert "evidence" in compose["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "install -d -o jifen -g jifen /var/lib/jifen/evidence" in dockerfile


@pytest.mark.parametrize("secure", [True, False])
def test_the_web_cookies_are_secure_when_configured_for_https(
    settings: Settings, db: Database, secure: bool
) -> None:
    configured = Settings(database_url=settings.database_url, web_cookie_secure=secure)
    with TestClient(create_app(configured, db), base_url="https://jifen.example") as browser:
        page = browser.get("/web/login")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("jifen_web_presession=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/web" in cookie
    assert ("Secure" in cookie) is secure
