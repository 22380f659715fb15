"""The `jifen` command and a real HTTP server, as a newcomer and a client would use them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

JIFEN = [sys.executable, "-m", "jifen"]


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run([*JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


def test_migrate_seed_verify_on_a_new_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert _jifen(url, "migrate").returncode == 0
    seeded = _jifen(url, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "[6/6]" in seeded.stdout and "jfk_" in seeded.stdout
    again = _jifen(url, "seed-demo")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    verified = _jifen(url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "qingquan 清泉村: intact" in verified.stdout

    # Behind the service's back: verify must fail and name the entry.
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER entries_refuse_update"))
        conn.execute(text("UPDATE entries SET memo = 'forged' WHERE seq = 3"))
    engine.dispose()
    broken = _jifen(url, "verify", "--village", "qingquan")
    assert broken.returncode == 1
    assert "BROKEN at seq 3" in broken.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server_key(database_url: str) -> str:
    """A platform administrator's key, made with the command an operator uses."""
    created = _jifen(database_url, "create-admin", "--name", "e2e", "--key-only")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("jfk_")
    return key


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    """`jifen serve` in a subprocess on the test database."""
    port = _free_port()
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [*JIFEN, "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.e2e
def test_real_server_books_once_under_concurrent_retries(server: str, server_key: str) -> None:
    auth = {"Authorization": f"Bearer {server_key}"}
    with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
        town = http.post("/v1/townships", json={"code": "e2e", "name": "端到端镇"}).json()
        village = http.post(
            "/v1/villages", json={"township_id": town["id"], "code": "v", "name": "测试村"}
        ).json()
        member = http.post("/v1/members", json={"village_id": village["id"], "name": "张三"}).json()
        accounts = http.get("/v1/accounts", params={"village_id": village["id"]}).json()["items"]
        issuance = next(a["id"] for a in accounts if a["kind"] == "issuance")
        member_account = next(a["id"] for a in accounts if a["member_id"] == member["id"])

    body = {
        "village_id": village["id"],
        "code": "labor_award",
        "memo": "义务劳动 3 小时 × 2 分/小时 = 6 分",
        "postings": [
            {"account_id": issuance, "amount": -6},
            {"account_id": member_account, "amount": 6},
        ],
    }

    def post(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
            response = http.post(
                "/v1/entries", json=body, headers={"Idempotency-Key": "phone-retry-1"}
            )
            return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(post, range(20)))
    assert {status for status, _ in results} == {201}
    assert len({entry_id for _, entry_id in results}) == 1
    with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
        balance = http.get(f"/v1/accounts/{member_account}/balance").json()
        assert balance["posted"] == 6
        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
