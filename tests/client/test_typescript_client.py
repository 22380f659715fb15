"""The TypeScript client (clients/typescript) built from openapi/openapi.json and run by
Node against a real `jifen serve`.

The build regenerates the client's types from the exported OpenAPI document and
type-checks the client against them, so a change to the API that breaks the client fails
here. Then test/smoke.mjs books with idempotency keys (a lost answer retried, booked
once), reads a balance, meets refusals in Chinese and English, and signs in as an OAuth2
client. Skipped where Node and npm are not installed, unless JIFEN_TEST_REQUIRE_NODE is
set (CI sets it).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.test_client_e2e import serve, server_key  # noqa: F401  (fixtures)

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
NPM_TIMEOUT_SECONDS = 300


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("JIFEN_TEST_REQUIRE_NODE", "") not in ("", "0"):
            pytest.fail("JIFEN_TEST_REQUIRE_NODE is set but node or npm is not installed")
        pytest.skip("needs Node.js 20+ and npm")
    return node, npm


def _run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECONDS,
        **options,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built_client() -> Path:
    _, npm = _tools()
    # The SQLite and PostgreSQL runs may be in two workers: one builds at a time.
    with (CLIENT / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (CLIENT / "node_modules" / ".package-lock.json").exists():
            _run([npm, "ci", "--no-audit", "--no-fund"])
        _run([npm, "run", "build"])
    return CLIENT / "dist" / "index.js"


def test_typescript_client_against_a_real_server(
    built_client: Path,
    serve: Callable[..., str],  # noqa: F811
    server_key: str,  # noqa: F811
) -> None:
    node, _ = _tools()
    base = serve()
    done = _run(
        [node, "test/smoke.mjs"],
        env={**os.environ, "JIFEN_URL": base, "JIFEN_KEY": server_key},
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["ok"] is True
    assert outcome["balance"] == 10
    assert len(set(outcome["entries"])) == 2
