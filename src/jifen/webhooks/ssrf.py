"""Where webhooks may go: a guard against server-side request forgery.

A client registers a URL and the worker posts to it from inside the operator's network,
so a URL must not reach what only that network can: loopback, private, link-local,
multicast, reserved or unspecified addresses (IPv4 and IPv6, including IPv4 addresses
embedded in IPv6 ones: mapped, 6to4, Teredo), nor carry credentials, nor use a port
other than the configured ones. HTTPS is required unless the operator allows http for
development.

The URL is checked when it is registered, and again at every delivery: the host name is
resolved, every address it resolves to is checked, and the request connects to the
address that was checked (the Host header and the TLS server name stay the URL's own),
so a name that resolves to a public address at registration and to 127.0.0.1 later
(DNS rebinding) is refused at delivery.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpx

from jifen.config import Settings
from jifen.webhooks.errors import WebhookUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolves a host name and port to the addresses a connection could go to.
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class UrlPolicy:
    """What webhook URLs may name. The defaults are the production ones."""

    allow_http: bool = False
    allow_private_addresses: bool = False
    # None: any port (development only).
    ports: frozenset[int] | None = frozenset({443, 80, 8443})

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            allow_http=settings.webhook_allow_http,
            allow_private_addresses=settings.webhook_allow_private_addresses,
            ports=settings.webhook_port_set,
        )


STRICT = UrlPolicy()


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what the server is told it is."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...] = ()

    def request_url(self) -> httpx.URL:
        """The URL with its host replaced by the first checked address (connect there)."""
        url = httpx.URL(self.url)
        if not self.addresses:
            return url
        return url.copy_with(host=self.addresses[0])

    def request_extensions(self) -> dict[str, str]:
        """TLS checks the certificate against the URL's host name, not the address."""
        if httpx.URL(self.url).scheme == "https" and self.addresses:
            return {"sni_hostname": self.host}
        return {}

    def host_header(self) -> str:
        default = DEFAULT_PORTS[httpx.URL(self.url).scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def address_refusal(address: IPAddress) -> str | None:
    """Why webhooks may not go to this address (None: they may)."""
    reasons = address_refusals(address)
    return None if reasons is None else reasons[0]


def address_refusals(address: IPAddress) -> tuple[str, str] | None:
    """Why webhooks may not go to this address, in English and Chinese (None: they may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # A connection to ::ffff:a.b.c.d goes to a.b.c.d: judged as that address.
            reasons = address_refusals(address.ipv4_mapped)
            return None if reasons is None else _embedded(reasons, address)
        embedded: list[ipaddress.IPv4Address] = []
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        for inner in embedded:
            reasons = address_refusals(inner)
            if reasons is not None:
                return _embedded(reasons, address)
    checks = (
        (address.is_unspecified, "unspecified", "未指定地址"),
        (address.is_loopback, "loopback", "环回地址"),
        (address.is_link_local, "link-local", "链路本地地址"),
        (address.is_multicast, "multicast", "组播地址"),
        (address.is_reserved, "reserved", "保留地址"),
        (address.is_private, "private", "私有地址"),
        (not address.is_global, "not publicly routable", "不可公网路由的地址"),
    )
    for hit, kind, kind_zh in checks:
        if hit:
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{address} is {article} {kind} address", f"{address} 是{kind_zh}"
    return None


def _embedded(reasons: tuple[str, str], address: IPAddress) -> tuple[str, str]:
    return f"{reasons[0]} (embedded in {address})", f"{reasons[1]}（内嵌于 {address}）"


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, policy: UrlPolicy) -> Target:
    """Check what the URL itself says (scheme, credentials, port, a literal address);
    a host name is checked by `resolve` (at registration and at every delivery)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise WebhookUrlRefused(
            url, f"it cannot be read ({exc})", f"无法解析该地址（{exc}）"
        ) from None
    scheme = parsed.scheme
    if scheme == "http" and not policy.allow_http:
        raise WebhookUrlRefused(
            url,
            "it must use https (http is allowed only in development)",
            "必须使用 https（仅开发环境允许 http）",
        )
    if scheme not in ("https", "http"):
        raise WebhookUrlRefused(url, "it must use https", "必须使用 https")
    if parsed.userinfo:
        raise WebhookUrlRefused(
            url, "it must not carry a user name or password", "地址中不得包含用户名或密码"
        )
    host = parsed.host
    if not host:
        raise WebhookUrlRefused(url, "it names no host", "地址中没有主机名")
    port = parsed.port or DEFAULT_PORTS[scheme]
    if policy.ports is not None and port not in policy.ports:
        allowed = ", ".join(str(p) for p in sorted(policy.ports))
        raise WebhookUrlRefused(
            url,
            f"port {port} is not allowed (allowed: {allowed})",
            f"不允许使用端口 {port}（允许的端口：{allowed}）",
        )
    literal = _literal(host)
    name = host.rstrip(".").lower()
    # RFC 6761: "localhost" is always the loopback interface, whatever a resolver says.
    is_localhost = name == "localhost" or name.endswith(".localhost")
    if literal is None and is_localhost and not policy.allow_private_addresses:
        raise WebhookUrlRefused(url, f"{host} is the loopback interface", f"{host} 是本机环回接口")
    if literal is not None:
        _check_address(url, literal, policy)
        return Target(url, host, port, (str(literal),))
    return Target(url, name, port)


def _check_address(url: str, address: IPAddress, policy: UrlPolicy) -> None:
    if policy.allow_private_addresses:
        return
    reasons = address_refusals(address)
    if reasons is not None:
        raise WebhookUrlRefused(url, *reasons)


# getaddrinfo takes no timeout and a broken resolver can hang it: it runs on these threads
# and the delivery stops waiting after DNS_TIMEOUT_SECONDS (a failed attempt, retried later).
DNS_TIMEOUT_SECONDS = 5.0
_DNS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jifen-dns")


def system_resolver(host: str, port: int, timeout: float = DNS_TIMEOUT_SECONDS) -> list[str]:
    lookup = _DNS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"no DNS answer within {timeout:g} s") from None
    return [str(info[4][0]) for info in infos]


def resolve(target: Target, policy: UrlPolicy, resolver: Resolver = system_resolver) -> Target:
    """The target with the addresses its host resolves to, every one of them checked.

    Refused if any address is not allowed (an attacker's name may answer with a public
    and a private address, hoping the connection picks the private one), or if the name
    does not resolve."""
    if target.addresses:  # a literal address, already checked
        return target
    try:
        found = list(dict.fromkeys(resolver(target.host, target.port)))
    except OSError as exc:
        raise WebhookUrlRefused(
            target.url,
            f"{target.host} does not resolve ({exc})",
            f"无法解析域名 {target.host}（{exc}）",
        ) from None
    if not found:
        raise WebhookUrlRefused(
            target.url, f"{target.host} does not resolve", f"无法解析域名 {target.host}"
        )
    for text in found:
        # getaddrinfo may name an IPv6 scope ("fe80::1%eth0"): the address is before the %.
        address = _literal(text.split("%", 1)[0])
        if address is None:
            raise WebhookUrlRefused(
                target.url,
                f"{target.host} resolves to {text!r}",
                f"域名 {target.host} 解析为 {text!r}",
            )
        _check_address(target.url, address, policy)
    return Target(target.url, target.host, target.port, tuple(found))
