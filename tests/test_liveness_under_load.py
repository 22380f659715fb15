"""A busy supermarket against a real server: 64 tills redeem at once in one village, some
refused for want of points. Every request is answered within its bound, the server
answers its health check throughout, and the books hold exactly what was acknowledged.

(Today's server froze under this load: refused requests held their transactions while
every worker thread waited on the books lock.)
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from jifen.db import Database

JIFEN = [sys.executable, "-m", "jifen"]
CLIENTS = 64
REDEMPTIONS_PER_CLIENT = 6
MEMBERS = 24
POINTS_EACH = 30
# The bound on any one answer: the wait for the group committer plus the database's
# own bounds, as configured for the server below.
WRITE_WAIT_SECONDS = 10
ANSWER_BOUND_SECONDS = WRITE_WAIT_SECONDS + 5
TILL_ATTEMPTS = 4
# What "responsive" means here, with room for a busy 2-core machine: the freeze this
# guards against lasted minutes.
HEALTH_BOUND_SECONDS = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`jifen serve` on the test database; (base URL, a platform administrator's key).
    Depends on `db` for the after-test check that the books balance and verify."""
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": database_url,
        "JIFEN_RATE_LIMIT": "",
        "JIFEN_WRITE_WAIT_TIMEOUT_SECONDS": str(WRITE_WAIT_SECONDS),
    }
    made = subprocess.run(
        [*JIFEN, "create-admin", "--name", "load", "--key-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    log: IO[bytes] = (tmp_path / "server.log").open("w+b")
    process = subprocess.Popen(
        [*JIFEN, "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    # Starting a server takes seconds, and far more on two cores busy with the suite.
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    try:
        yield base, made.stdout.strip()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _setup(base: str, key: str) -> tuple[str, str, list[str]]:
    """A village with members who each hold POINTS_EACH: (village, supermarket, accounts)."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:

        def post(path: str, body: dict[str, Any]) -> Any:
            answer = client.post(path, json=body)
            assert answer.status_code in (200, 201), answer.text
            return answer.json()

        township = post("/v1/townships", {"code": "load", "name": "负载镇"})
        village = post(
            "/v1/villages", {"township_id": township["id"], "code": "load", "name": "负载村"}
        )["id"]
        for n in range(MEMBERS):
            post("/v1/members", {"village_id": village, "name": f"村民{n}"})

        def accounts(kind: str) -> list[dict[str, Any]]:
            answer = client.get(
                "/v1/accounts", params={"village_id": village, "kind": kind, "limit": 200}
            )
            return list(answer.json()["items"])

        issuance = next(a["id"] for a in accounts("issuance") if a["category"] == "general")
        shop = accounts("supermarket")[0]["id"]
        members = [a["id"] for a in accounts("member")]
        awarded = post(
            f"/v1/villages/{village}/entry-batches",
            {
                "items": [
                    {
                        "idempotency_key": f"award-{n}",
                        "code": "labor_award",
                        "postings": [
                            {"account_id": issuance, "amount": -POINTS_EACH},
                            {"account_id": account, "amount": POINTS_EACH},
                        ],
                    }
                    for n, account in enumerate(members)
                ]
            },
        )
        assert awarded["done"] == MEMBERS
        return village, shop, members


class _Connection:
    """One keep-alive HTTP/1.1 connection, spoken plainly: 64 of them cost the test
    process little, so what is measured is the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed by the server")
        status = int(status_line.split()[1])
        answer_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(answer_headers.get("content-length", "0")))
        return status, answer_headers

    def close(self) -> None:
        self.writer.close()


def _monitor(port: int, stop: threading.Event, seconds: list[float]) -> None:
    """Ask /healthz every 50 ms from a thread of its own until told to stop."""
    while not stop.is_set():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.monotonic()
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        seconds.append(time.monotonic() - started)
        connection.close()
        stop.wait(0.05)


async def _run_tills(
    port: int, key: str, village: str, shop: str, members: list[str]
) -> list[tuple[int, float, int]]:
    """Every till redeems at once, each on its own connection. Returns each
    redemption's (status, seconds, points)."""
    rng = random.Random(20261126)
    plans = [
        [(rng.choice(members), rng.randint(4, 16)) for _ in range(REDEMPTIONS_PER_CLIENT)]
        for _ in range(CLIENTS)
    ]
    answers: list[tuple[int, float, int]] = []
    retries: list[str] = []

    async def till(number: int) -> None:
        connection = await _Connection.open(port)
        try:
            for turn, (account, points) in enumerate(plans[number]):
                body = json.dumps(
                    {
                        "village_id": village,
                        "code": "redemption",
                        "postings": [
                            {"account_id": account, "amount": -points},
                            {"account_id": shop, "amount": points},
                        ],
                    }
                ).encode()
                headers = {
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"till-{number}-{turn}",
                }
                started = time.monotonic()
                # As a till does: a dropped connection or a 503 is tried again with the
                # same key, which books at most once.
                for _attempt in range(TILL_ATTEMPTS):
                    try:
                        status, answer_headers = await asyncio.wait_for(
                            connection.request("POST", "/v1/entries", headers, body),
                            ANSWER_BOUND_SECONDS,
                        )
                    except (ConnectionError, asyncio.IncompleteReadError):
                        connection.close()
                        connection = await _Connection.open(port)
                        retries.append("connection")
                        continue
                    if status != 503:
                        break
                    retries.append("503")
                    await asyncio.sleep(float(answer_headers.get("retry-after", "1")))
                answers.append((status, time.monotonic() - started, points))
        finally:
            connection.close()

    await asyncio.gather(*(till(n) for n in range(CLIENTS)))
    # Tried again: rare; a load that keeps the server past its bounds would show here.
    assert len(retries) <= CLIENTS, retries
    return answers


def test_sixty_four_tills_at_once_are_all_answered_and_nothing_is_overdrawn(
    server: tuple[str, str],
) -> None:
    base, key = server
    village, shop, members = _setup(base, key)
    port = int(base.rsplit(":", 1)[1])
    health: list[float] = []
    stop = threading.Event()
    monitor = threading.Thread(target=_monitor, args=(port, stop, health))
    monitor.start()
    try:
        answers = asyncio.run(_run_tills(port, key, village, shop, members))
    finally:
        stop.set()
        monitor.join(60)

    assert len(answers) == CLIENTS * REDEMPTIONS_PER_CLIENT
    statuses = {status for status, _, _ in answers}
    # Booked or refused for want of points: never a 5xx, never an unanswered request.
    assert statuses <= {201, 409}, statuses
    assert {201, 409} <= statuses, "the load should mix refusals in"
    slowest = max(seconds for _, seconds, _ in answers)
    assert slowest < ANSWER_BOUND_SECONDS, slowest
    # The server stayed responsive: its health check answered all along.
    assert len(health) >= 3 and max(health) < HEALTH_BOUND_SECONDS, health

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:

        def posted(account: str) -> int:
            return int(client.get(f"/v1/accounts/{account}/balance").json()["posted"])

        redeemed = sum(points for status, _, points in answers if status == 201)
        assert posted(shop) == redeemed
        balances = [posted(account) for account in members]
        assert min(balances) >= 0
        assert sum(balances) == MEMBERS * POINTS_EACH - redeemed
        verification = client.get(f"/v1/villages/{village}/verification").json()
        assert verification["is_intact"], verification
        booked = sum(1 for status, _, _ in answers if status == 201)
        assert verification["entries_checked"] == MEMBERS + booked
