"""Request logs and metrics, read after real requests (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from jifen import observability
from jifen.config import Settings
from jifen.db import Database, write_batch
from jifen.kit.clock import utc_now
from jifen.kit.ids import new_id
from jifen.ledger.policy import AccountKind
from jifen.main import create_app
from jifen.models import (
    Entry,
    MemberBinding,
    OAuthClient,
    Principal,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.webhooks import delivery
from tests.factories import account_of, award, make_member, make_village

METRICS_TOKEN = "prometheus-scrape-token-0123456789"
NAME = "欧阳娜娜"
PHONE = "13912345678"
ID_NUMBER = "110101199003071234"
COOKIE = "cookie-value-that-is-a-secret-4711"
CLIENT_SECRET = "client-secret-of-a-mini-program-0815"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the process writes while the test runs (as `jifen serve` writes)."""
    buffer = io.StringIO()
    handler = observability.log_handler(buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def app_client(settings: Settings, db: Database, admin_key: str) -> Iterator[TestClient]:
    configured = Settings(database_url=settings.database_url, metrics_token=METRICS_TOKEN)
    with TestClient(
        create_app(configured, db),
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {admin_key}"},
    ) as test_client:
        yield test_client


def _request_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "jifen.request"]


def _admin_principal(db: Database) -> str:
    with db.unit_of_work(write=False) as session:
        found = session.execute(select(Principal.id).where(Principal.name == "测试平台管理员"))
        return f"user:{found.scalar_one()}"


def test_request_lines_carry_the_id_and_context_but_no_secret_or_personal_data(
    app_client: TestClient, db: Database, admin_key: str, logs: io.StringIO
) -> None:
    town = app_client.post("/v1/townships", json={"code": "log", "name": "日志镇"}).json()
    village = app_client.post(
        "/v1/villages", json={"township_id": town["id"], "code": "lv", "name": "日志村"}
    ).json()
    made = app_client.post(
        "/v1/members",
        json={"village_id": village["id"], "name": NAME, "phone": PHONE, "id_number_tail": "1234"},
        headers={"X-Request-ID": "clerk-phone.7:42"},
    )
    assert made.status_code == 201, made.text
    assert made.headers["X-Request-ID"] == "clerk-phone.7:42"
    member = made.json()
    card = app_client.get(f"/v1/members/{member['id']}/card").json()
    card_token = card["token"] if "token" in card else card["card_token"]
    at_till = app_client.get(
        f"/v1/villages/{village['id']}/till/member",
        params={"card_token": card_token},
        headers={"Cookie": f"jifen_session={COOKIE}", "X-Request-ID": "x" * 129},
    )
    assert at_till.status_code == 200, at_till.text
    # Too long to be an id: replaced by a fresh one, which the answer names.
    assert re.fullmatch(r"[0-9a-f]{32}", at_till.headers["X-Request-ID"])
    by_phone = app_client.get(f"/v1/villages/{village['id']}/till/member", params={"phone": PHONE})
    assert by_phone.status_code == 200
    # A refused body that echoes the ID number back.
    refused = app_client.post(
        "/v1/members",
        json={"village_id": village["id"], "name": NAME, "id_number_tail": ID_NUMBER},
    )
    assert refused.status_code == 422
    token = app_client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "wx",
            "client_secret": CLIENT_SECRET,
        },
        headers={"Authorization": ""},
    )
    assert token.status_code == 401
    anonymous = app_client.get("/v1/villages", headers={"Authorization": "Bearer jfk_nope_x"})
    assert anonymous.status_code == 401

    lines = _request_lines(logs)
    assert len(lines) == 9
    created = next(line for line in lines if line["request_id"] == "clerk-phone.7:42")
    principal = _admin_principal(db)
    assert created["route"] == "/v1/members"
    assert created["method"] == "POST" and created["status"] == 201
    assert created["principal"] == principal
    assert created["latency_ms"] >= 0
    till = next(line for line in lines if line["request_id"] == at_till.headers["X-Request-ID"])
    assert till["route"] == "/v1/villages/{village_id}/till/member"
    assert till["village"] == village["id"]
    assert till["principal"] == principal and till["status"] == 200
    # The token endpoint answers in RFC 6749's own error format, not as a problem.
    assert [(line["route"], line["status"], line["problem"]) for line in lines][-3:] == [
        ("/v1/members", 422, "validation_failed"),
        ("/oauth/token", 401, None),
        ("/v1/villages", 401, "unauthenticated"),
    ]
    assert lines[-1]["principal"] is None
    # Each answer's id is in its line.
    assert {line["request_id"] for line in lines} >= {
        made.headers["X-Request-ID"],
        by_phone.headers["X-Request-ID"],
        refused.headers["X-Request-ID"],
    }

    text = logs.getvalue()
    # jfk_<key id>_<secret>: the secret itself may hold "_" (base64url), so split twice.
    secret_part = admin_key.split("_", 2)[2]
    assert len(secret_part) >= 32
    for secret in (
        admin_key,
        secret_part,
        COOKIE,
        card_token,
        CLIENT_SECRET,
        NAME,
        PHONE,
        ID_NUMBER,
        "jfk_nope",
    ):
        assert secret not in text, secret


def test_scrub_removes_what_looks_like_a_secret_or_a_persons_number() -> None:
    cases = {
        "Authorization: Bearer abc.def-ghi": "Authorization: Bearer [redacted]",
        "key jfk_ab12_SECRETsecret used": "key jfk_[redacted] used",
        "client_secret=s3cr3t&grant_type=x": "client_secret=[redacted]&grant_type=x",
        "webhook whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw": "webhook whsec_[redacted]",
        "token eyJhbGciOi.eyJzdWIiOiIx.sig-nature": "token [redacted-jwt]",
        "card JFC1-AGRBTS55DVZ6NL4OABG7QAD7YY scanned": "card JFC-[redacted] scanned",
        "phone 13812345678 and +86 15912345678": "phone [redacted-phone] and [redacted-phone]",
        "ID 11010119900307123X here": "ID [redacted-id-number] here",
        "[SQL: INSERT x]\n[parameters: ('王建国', '13812345678')]\n": "[SQL: INSERT x]\n"
        "[parameters redacted]",
        # What is not a phone or ID number stays.
        "entry seq 12345678901 of 2 villages": "entry seq 12345678901 of 2 villages",
    }
    for given, expected in cases.items():
        assert observability.scrub(given) == expected, given


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    values = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _value(values: dict[Any, float], name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_token_and_do_not_exist_without_one(
    settings: Settings, db: Database, app_client: TestClient
) -> None:
    assert app_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert app_client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as plain:
        assert plain.get("/metrics").status_code == 404
    with pytest.raises(ValueError, match="at least 16"):
        Settings(database_url=settings.database_url, metrics_token="short")


def test_metrics_count_requests_bookings_refusals_and_group_commits(
    app_client: TestClient,
) -> None:
    town = app_client.post("/v1/townships", json={"code": "m", "name": "指标镇"}).json()
    village = app_client.post(
        "/v1/villages", json={"township_id": town["id"], "code": "mv", "name": "指标村"}
    ).json()
    app_client.post("/v1/members", json={"village_id": village["id"], "name": "村民甲"})
    accounts = app_client.get("/v1/accounts", params={"village_id": village["id"]}).json()["items"]
    issuance = next(a["id"] for a in accounts if a["kind"] == "issuance")
    member = next(a["id"] for a in accounts if a["kind"] == "member")
    shop = next(a["id"] for a in accounts if a["kind"] == "supermarket")
    before = _metrics(app_client)

    def book(code: str, source: str, target: str, points: int, key: str) -> int:
        body = {
            "village_id": village["id"],
            "code": code,
            "postings": [
                {"account_id": source, "amount": -points},
                {"account_id": target, "amount": points},
            ],
        }
        answer = app_client.post("/v1/entries", json=body, headers={"Idempotency-Key": key})
        return answer.status_code

    assert book("labor_award", issuance, member, 5, "a1") == 201
    assert book("labor_award", issuance, member, 3, "a2") == 201
    assert book("labor_award", issuance, member, 3, "a2") == 201  # a retry: books nothing
    assert book("redemption", member, shop, 6, "r1") == 201
    # 5 + 3 - 6 = 2 left: 4 more is refused.
    assert book("redemption", member, shop, 4, "r2") == 409
    after = _metrics(app_client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("jifen_entries_booked_total", code="labor_award") == 2
    assert delta("jifen_entries_booked_total", code="redemption") == 1
    assert delta("jifen_refusals_total", code="insufficient_points", status="409") == 1
    assert delta("http_requests_total", handler="/v1/entries", method="POST", status="201") == 4
    assert delta("http_requests_total", handler="/v1/entries", method="POST", status="409") == 1
    # Every write went through the committer, one by one here: 5 groups of one (the
    # retry is answered from its stored response inside its unit).
    assert delta("jifen_commit_group_size_count") == 5
    assert delta("jifen_commit_group_size_sum") == 5
    assert delta("jifen_commit_group_size_bucket", le="1.0") == 5
    assert _value(after, "jifen_commit_units_total") == _value(after, "jifen_commit_group_size_sum")


def test_metrics_show_the_webhook_backlog_and_failures(
    app_client: TestClient, db: Database, settings: Settings
) -> None:
    now = utc_now()
    with db.unit_of_work() as session:
        village = make_village(session)
        alice = make_member(session, village)
        bob = make_member(session, village)
        principal_id = new_id()
        session.add(
            Principal(
                id=principal_id,
                kind="client",
                township_id=village.township_id,
                name="wx",
                created_at=now,
                created_by="test",
            )
        )
        session.flush()
        session.add(
            OAuthClient(
                principal_id=principal_id,
                client_id=f"wx-{uuid.uuid4().hex[:8]}",
                secret_hash="0" * 64,
                township_id=village.township_id,
                scopes=["points:read"],
                created_at=now,
            )
        )
        for who in (alice, bob):
            session.add(
                MemberBinding(
                    id=new_id(),
                    client_principal_id=principal_id,
                    member_id=who.id,
                    village_id=village.id,
                    user_ref=f"openid-{who.id}",
                    created_at=now,
                )
            )
        session.add(
            WebhookEndpoint(
                id=new_id(),
                client_principal_id=principal_id,
                township_id=village.township_id,
                # Nothing listens on port 9 of this host: every attempt fails.
                url="http://127.0.0.1:9/hook",
                events=["points.earned"],
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                description="mini-program",
                created_at=now,
            )
        )
        session.flush()
        for who, times in ((alice, 2), (bob, 1)):
            account = account_of(session, village, AccountKind.MEMBER, who.id)
            for _ in range(times):
                award(session, settings, village, account, 2)
    with db.unit_of_work() as session:
        assert delivery.dispatch(session, now=now).deliveries == 3
    values = _metrics(app_client)
    assert _value(values, "jifen_webhook_deliveries", status="pending") == 3
    assert _value(values, "jifen_webhook_deliveries", status="failed") == 0

    # One attempt each at most: alice's first and bob's fail and are given up on; alice's
    # second waits behind her first (one member's events stay in order).
    with httpx.Client(timeout=0.5) as http:
        sent = delivery.send_due(
            lambda: db.unit_of_work(write=True), http, now + timedelta(seconds=1), attempts_max=1
        )
    with db.unit_of_work(write=False) as session:
        statuses = sorted(session.execute(select(WebhookDelivery.status)).scalars())
    values = _metrics(app_client)
    assert sent.failed >= 2
    assert _value(values, "jifen_webhook_deliveries", status="failed") == statuses.count("failed")
    assert _value(values, "jifen_webhook_deliveries", status="pending") == statuses.count("pending")
    assert statuses.count("failed") + statuses.count("pending") == 3
    assert statuses.count("failed") >= 2


def test_jifen_serve_writes_json_lines_without_the_secrets(
    database_url: str, db: Database, admin_key: str, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "jifen", "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            answer = httpx.get(
                f"{base}/v1/villages",
                params={"phone": PHONE},
                headers={"Authorization": f"Bearer {admin_key}", "X-Request-ID": "serve-1"},
            )
            assert answer.status_code == 200
            assert answer.headers["X-Request-ID"] == "serve-1"
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    request = [line for line in lines if line.get("request_id") == "serve-1"]
    assert len(request) == 1
    assert request[0]["route"] == "/v1/villages" and request[0]["status"] == 200
    # uvicorn's own lines (startup, shutdown) are JSON lines too.
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    text = log_path.read_text()
    assert admin_key not in text and PHONE not in text


def test_bookings_are_counted_only_when_their_transaction_commits(
    app_client: TestClient, db: Database, settings: Settings
) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        account = account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
    before = _metrics(app_client)
    with db.unit_of_work() as session:
        award(session, settings, village, account, 3, code="board_award")
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        # Written, then the whole transaction rolled back: not counted.
        award(session, settings, village, account, 5, code="board_award")
        # The entry's row goes to the database now, inside the transaction.
        write_batch(session).flush()
        assert session.execute(select(func.count()).select_from(Entry)).scalar_one() == 2
        raise RuntimeError("rolled back")
    after = _metrics(app_client)
    counted = _value(after, "jifen_entries_booked_total", code="board_award") - _value(
        before, "jifen_entries_booked_total", code="board_award"
    )
    assert counted == 1
