"""The TypeScript client (clients/typescript) built from openapi/openapi.json and run by
Node against a real `jifen serve`.

The build regenerates the client's types from the exported OpenAPI document and
type-checks the client, and the test scripts' calls, against them, so a change to the
API that breaks the client fails here. Then test/smoke.mjs books with idempotency keys
(a lost answer retried, booked once), reads a balance, meets refusals in Chinese and
English, and signs in as an OAuth2 client; test/everyday.mjs walks a clerk's app and a
mini-program's back end in a village with a charter in force (a record corrected, a raw
award refused, a sheet previewed and recorded, balances, binding by phone, a client
secret rotated). Skipped where Node and npm are not installed, unless
JIFEN_TEST_REQUIRE_NODE is set (CI sets it).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        installed = CLIENT / "node_modules" / ".package-lock.json"
        locked = CLIENT / "package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < locked.stat().st_mtime:
            _run([npm, "ci", "--no-audit", "--no-fund"])
        _run([npm, "run", "build"])
        # The test scripts' calls type-checked against the built client's types: a path,
        # parameter or field they use that the API no longer has fails here.
        _run([npm, "run", "check"])
    return CLIENT / "dist" / "index.js"


def _node_script(script: str, base: str, key: str) -> dict[str, Any]:
    """Run a script of test/ against the server; the JSON summary it prints last."""
    node, _ = _tools()
    done = _run([node, script], env={**os.environ, "JIFEN_URL": base, "JIFEN_KEY": key})
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_typescript_client_against_a_real_server(
    built_client: Path,
    serve: Callable[..., str],  # noqa: F811
    server_key: str,  # noqa: F811
) -> None:
    outcome = _node_script("test/smoke.mjs", serve(), server_key)
    assert outcome["ok"] is True
    assert outcome["balance"] == 10
    assert len(set(outcome["entries"])) == 2


def test_typescript_client_everyday_calls(
    built_client: Path,
    serve: Callable[..., str],  # noqa: F811
    server_key: str,  # noqa: F811
) -> None:
    outcome = _node_script("test/everyday.mjs", serve(), server_key)
    assert outcome["ok"] is True
    # A record and its correction; the sheet's rows each answered; 王建国: the corrected
    # 2 h × 2 = 4 and a meeting's 2; 李秀英: 10 + 6 (capped at 16 a day) + 2.
    assert len(set(outcome["records"])) == 2
    assert outcome["sheet"] == ["booked", "capped", "booked", "sheet_row_invalid"]
    assert outcome["balances"] == {"王建国": 6, "李秀英": 18}
