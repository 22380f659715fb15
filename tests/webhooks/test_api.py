"""Webhooks over the API: a client registers its endpoint, gets signed events about the
members bound to it, reads the delivery log and asks for redelivery."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from jifen.config import Settings
from jifen.db import Database
from jifen.webhooks.worker import DeliveryWorker
from tests.api.helpers import Village, make_village, ok, post_entry, problem


@dataclass
class Inbox:
    """A loopback receiver that verifies with the secret the API handed out."""

    url: str
    secret: str = ""
    fail_next: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    state: Inbox

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with state.lock:
                status = 200
                if state.fail_next:
                    state.fail_next -= 1
                    status = 503
                else:
                    try:
                        state.events.append(
                            Webhook(state.secret).verify(body, dict(self.headers.items()))
                        )
                    except Exception as exc:
                        state.refused.append(str(exc))
                        status = 400
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Inbox(url=f"http://127.0.0.1:{server.server_address[1]}/jifen")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class App:
    record: dict[str, Any]
    headers: dict[str, str]


def _app(client: TestClient, village: Village, scopes: list[str]) -> App:
    record = ok(
        client.post(
            "/v1/clients",
            json={"township_id": village.township_id, "name": "小程序", "scopes": scopes},
        ),
        201,
    )
    basic = base64.b64encode(f"{record['client_id']}:{record['client_secret']}".encode())
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic.decode()}"},
    ).json()["access_token"]
    return App(record, {"Authorization": f"Bearer {token}"})


def test_client_registers_an_endpoint_and_receives_signed_events(
    client: TestClient, db: Database, settings: Settings, inbox: Inbox
) -> None:
    village = make_village(client)
    member_id, account = village.member()
    _stranger_id, stranger_account = village.member()
    app = _app(client, village, ["members:bind", "webhooks:manage"])
    code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
    ok(
        client.post(
            "/v1/bindings", json={"user_ref": "openid-7", "code": code}, headers=app.headers
        ),
        201,
    )

    endpoint = ok(
        client.post(
            "/v1/webhook-endpoints",
            json={"url": inbox.url, "events": ["points.earned", "points.redeemed"]},
            headers=app.headers,
        ),
        201,
    )
    assert endpoint["secret"].startswith("whsec_")
    inbox.secret = endpoint["secret"]
    assert "secret" not in ok(
        client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=app.headers)
    )

    ok(post_entry(client, village.id, [(village.issuance, -6), (account, 6)], memo="义务劳动"), 201)
    ok(post_entry(client, village.id, [(village.issuance, -4), (stranger_account, 4)]), 201)
    inbox.fail_next = 1
    worker = DeliveryWorker(db, settings)
    try:
        first = worker.run_once()
        assert (first.deliveries_created, first.sent) == (1, 1)  # the stranger is not bound
        assert inbox.events == []

        deliveries = ok(
            client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=app.headers)
        )["items"]
        assert [(d["status"], d["attempts"]) for d in deliveries] == [("pending", 1)]
        detail = ok(
            client.get(f"/v1/webhook-deliveries/{deliveries[0]['id']}", headers=app.headers)
        )
        assert [a["status_code"] for a in detail["log"]] == [503]

        # Asked for again, it goes out now instead of after its backoff.
        ok(
            client.post(
                f"/v1/webhook-deliveries/{deliveries[0]['id']}/redelivery", headers=app.headers
            )
        )
        worker.run_once()
    finally:
        worker.stop()
    assert inbox.refused == []
    [event] = inbox.events
    assert event["type"] == "points.earned"
    assert event["data"]["amount"] == 6 and event["data"]["memo"] == "义务劳动"
    assert event["data"]["user_refs"] == ["openid-7"]
    detail = ok(client.get(f"/v1/webhook-deliveries/{deliveries[0]['id']}", headers=app.headers))
    assert detail["status"] == "succeeded"
    assert [a["status_code"] for a in detail["log"]] == [503, 200]

    # The township sees its clients' endpoints; another client sees nothing of them.
    listed = ok(client.get(f"/v1/clients/{app.record['id']}/webhook-endpoints"))
    assert [e["id"] for e in listed] == [endpoint["id"]]
    other = _app(client, village, ["webhooks:manage"])
    problem(
        client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=other.headers),
        404,
        "not_found",
    )
    assert ok(client.get("/v1/webhook-endpoints", headers=other.headers)) == []


def test_endpoint_can_be_disabled_and_its_input_is_checked(client: TestClient) -> None:
    village = make_village(client)
    app = _app(client, village, ["webhooks:manage"])
    for body in (
        {"url": "ftp://example.cn/x", "events": ["points.earned"]},
        {"url": "https://example.cn/x", "events": ["points.stolen"]},
        {"url": "https://example.cn/x", "events": []},
    ):
        problem(
            client.post("/v1/webhook-endpoints", json=body, headers=app.headers),
            422,
            "validation_failed",
        )
    endpoint = ok(
        client.post(
            "/v1/webhook-endpoints",
            json={"url": "https://example.cn/x", "events": ["points.reversed"]},
            headers=app.headers,
        ),
        201,
    )
    changed = ok(
        client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}",
            json={"disabled": True, "events": ["points.earned", "points.reversed"]},
            headers=app.headers,
        )
    )
    assert changed["disabled_at"] is not None
    assert changed["events"] == ["points.earned", "points.reversed"]
    # Without the scope a token cannot manage endpoints.
    reader = _app(client, village, ["members:read"])
    problem(client.get("/v1/webhook-endpoints", headers=reader.headers), 403, "forbidden")
