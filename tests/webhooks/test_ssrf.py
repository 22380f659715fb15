"""The webhook SSRF guard at registration (over the API, production settings) and the
address rules themselves. Delivery-time checks (DNS rebinding) are in test_delivery.py."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from jifen.webhooks import ssrf
from jifen.webhooks.errors import WebhookUrlRefused
from tests.api.helpers import make_village, ok, problem
from tests.webhooks.test_api import App, _app


@pytest.fixture
def strict_client(database_url: str, db: Database, admin_key: str) -> Iterator[TestClient]:
    """The API with the production webhook settings (the defaults)."""
    settings = Settings(database_url=database_url)
    assert (settings.webhook_allow_http, settings.webhook_allow_private_addresses) == (False, False)
    with TestClient(
        create_app(settings, db),
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {admin_key}"},
    ) as client:
        yield client


@pytest.fixture
def hooks_app(strict_client: TestClient) -> App:
    village = make_village(strict_client)
    return _app(strict_client, village, ["webhooks:manage"])


REFUSED = [
    # scheme, credentials, ports
    ("http://hooks.example.cn/jifen", "it must use https"),
    ("http://169.254.169.254/latest/meta-data/", "it must use https"),
    ("https://user:pass@hooks.example.cn/jifen", "it must not carry a user name or password"),
    ("https://hooks.example.cn:22/jifen", "port 22 is not allowed (allowed: 80, 443, 8443)"),
    ("https://hooks.example.cn:6379/", "port 6379 is not allowed"),
    # IPv4 address kinds
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://127.8.9.10/hook", "127.8.9.10 is a loopback address"),
    ("https://10.0.0.1/", "10.0.0.1 is a private address"),
    ("https://172.16.5.4/", "172.16.5.4 is a private address"),
    ("https://192.168.1.1/", "192.168.1.1 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("https://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("https://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("https://100.64.0.1/", "100.64.0.1 is a not publicly routable address"),
    # IPv6 address kinds
    ("https://[::1]:443/", "::1 is a loopback address"),
    ("https://[::]/", ":: is an unspecified address"),
    ("https://[fe80::1]/", "fe80::1 is a link-local address"),
    ("https://[fc00::1]/", "fc00::1 is a private address"),
    ("https://[ff02::1]/", "ff02::1 is a multicast address"),
    ("https://[2001:db8::1]/", "2001:db8::1 is a private address"),
    # IPv4 inside IPv6: mapped and 6to4
    ("https://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback address (embedded in"),
    ("https://[::ffff:a9fe:a9fe]/", "169.254.169.254 is a link-local address (embedded in"),
    ("https://[2002:a00:1::]/", "10.0.0.1 is a private address (embedded in"),
    # names that are always this host
    ("https://localhost/", "localhost is the loopback interface"),
    ("https://api.localhost:8443/", "api.localhost is the loopback interface"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_registration_refuses_what_the_worker_must_not_reach(
    strict_client: TestClient, hooks_app: App, url: str, reason: str
) -> None:
    response = strict_client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["points.earned"]},
        headers=hooks_app.headers,
    )
    body = problem(response, 422, "webhook_url_refused")
    assert body["reason"].startswith(reason), body
    assert ok(strict_client.get("/v1/webhook-endpoints", headers=hooks_app.headers)) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.cn/jifen",
        "https://hooks.example.cn:8443/jifen",
        "https://8.8.8.8/jifen",
        "https://[2606:4700::1111]/jifen",
    ],
)
def test_registration_accepts_public_https_urls(
    strict_client: TestClient, hooks_app: App, url: str
) -> None:
    created = ok(
        strict_client.post(
            "/v1/webhook-endpoints",
            json={"url": url, "events": ["points.earned"]},
            headers=hooks_app.headers,
        ),
        201,
    )
    assert created["url"] == url


def test_changing_the_url_is_checked_as_registration(
    strict_client: TestClient, hooks_app: App
) -> None:
    url = "https://hooks.example.cn/jifen"
    created = ok(
        strict_client.post(
            "/v1/webhook-endpoints",
            json={"url": url, "events": ["points.earned"]},
            headers=hooks_app.headers,
        ),
        201,
    )
    path = f"/v1/webhook-endpoints/{created['id']}"
    refused = strict_client.patch(
        path, json={"url": "https://[::1]:8443/admin"}, headers=hooks_app.headers
    )
    assert problem(refused, 422, "webhook_url_refused")["reason"] == "::1 is a loopback address"
    assert ok(strict_client.get(path, headers=hooks_app.headers))["url"] == url


def test_a_configured_port_list_replaces_the_default() -> None:
    policy = ssrf.UrlPolicy.from_settings(Settings(webhook_ports="9443"))
    assert ssrf.check_url("https://hooks.example.cn:9443/x", policy).port == 9443
    with pytest.raises(WebhookUrlRefused, match="port 443 is not allowed"):
        ssrf.check_url("https://hooks.example.cn/x", policy)
    assert Settings(webhook_ports="any").webhook_port_set is None
    assert Settings(webhook_ports=" 443, 8443").webhook_port_set == frozenset({443, 8443})


@pytest.mark.parametrize("ports", ["", "443;80", "0", "70000", "https"])
def test_a_port_list_that_cannot_be_honoured_is_refused(ports: str) -> None:
    with pytest.raises(ValidationError, match="JIFEN_WEBHOOK_PORTS"):
        Settings(webhook_ports=ports)


def test_development_settings_allow_a_receiver_on_this_host() -> None:
    policy = ssrf.UrlPolicy(allow_http=True, allow_private_addresses=True, ports=None)
    target = ssrf.check_url("http://127.0.0.1:5000/hooks", policy)
    assert (target.host, target.port, target.addresses) == ("127.0.0.1", 5000, ("127.0.0.1",))
    # Credentials stay refused even in development.
    with pytest.raises(WebhookUrlRefused, match="user name or password"):
        ssrf.check_url("http://u:p@127.0.0.1:5000/hooks", policy)


def test_a_name_is_resolved_and_every_address_checked() -> None:
    target = ssrf.check_url("https://hooks.example.cn/jifen", ssrf.STRICT)
    assert target.addresses == ()

    def resolver(answers: list[str]) -> ssrf.Resolver:
        return lambda host, port: answers

    public = ssrf.resolve(target, ssrf.STRICT, resolver(["93.184.216.34", "2606:4700::1111"]))
    assert public.addresses == ("93.184.216.34", "2606:4700::1111")
    assert str(public.request_url()) == "https://93.184.216.34/jifen"
    assert public.request_extensions() == {"sni_hostname": "hooks.example.cn"}
    assert public.host_header() == "hooks.example.cn"
    for answers, reason in (
        (["93.184.216.34", "127.0.0.1"], "127.0.0.1 is a loopback address"),
        (["fe80::1%eth0"], "fe80::1 is a link-local address"),
        ([], "hooks.example.cn does not resolve"),
    ):
        with pytest.raises(WebhookUrlRefused) as refused:
            ssrf.resolve(target, ssrf.STRICT, resolver(answers))
        assert refused.value.reason == reason

    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(WebhookUrlRefused, match="does not resolve"):
        ssrf.resolve(target, ssrf.STRICT, failing)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::abcd", "link-local"),
        ("239.1.1.1", "multicast"),
        ("ff0e::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),
        # Teredo: server 65.54.227.120, client 192.0.2.45 (a documentation range).
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    reason = ssrf.address_refusal(ipaddress.ip_address(address))
    if kind is None:
        assert reason is None
    else:
        assert reason is not None and f" {kind} address" in reason, reason


def test_a_hung_dns_lookup_is_given_up_and_refuses_the_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # getaddrinfo has no timeout of its own: a resolver that never answers must not hold
    # the delivery worker.
    released = threading.Event()

    def hung(*_args: object, **_kwargs: object) -> list[object]:
        released.wait(30)
        return []

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", hung)
    target = ssrf.check_url("https://hooks.example.cn/jifen", ssrf.STRICT)
    try:
        with pytest.raises(WebhookUrlRefused, match=r"no DNS answer within 0\.2 s"):
            ssrf.resolve(
                target,
                ssrf.STRICT,
                lambda host, port: ssrf.system_resolver(host, port, timeout=0.2),
            )
    finally:
        released.set()
