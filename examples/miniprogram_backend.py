"""A WeChat mini-program's back end, talking to jifen through jifen_client (clients/python).

It signs in with the mini-program's OAuth2 client credentials, runs a small HTTP
receiver for jifen's webhooks and registers it, binds a resident (their openid, as
`--user-ref`) with the one-time code a clerk gave them, prints their points, and then
prints every verified event about them (points.earned, points.redeemed,
points.reversed) until Ctrl-C or `--max-events`.

    .venv/bin/python examples/miniprogram_backend.py --client-id ... --client-secret ... \\
        --binding-code ... --user-ref openid-123

See examples/README.md.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jifen_client import (
    BindingRead,
    JifenClient,
    JifenError,
    WebhookEvent,
    WebhookVerificationError,
    verify_webhook,
)

EVENTS = ["points.earned", "points.redeemed", "points.reversed"]
WEBHOOK_PATH = "/jifen/webhooks"
BODY_BYTES_MAX = 1 << 20
SEEN_IDS_MAX = 10_000


class Receiver:
    """Webhook deliveries, verified, on a thread of their own; events go to `events`.

    It answers 2xx only for a verified delivery (jifen retries the others) and passes on
    each delivery once, however often it comes (jifen retries a delivery whose answer it
    did not get, with the same webhook-id).
    """

    def __init__(self, host: str, port: int) -> None:
        self.events: queue.Queue[WebhookEvent] = queue.Queue()
        self.secret: str | None = None  # known once the endpoint is registered
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status = receiver.receive(self)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the event lines are the output

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def receive(self, request: BaseHTTPRequestHandler) -> int:
        if request.path != WEBHOOK_PATH:
            return 404
        length = int(request.headers.get("Content-Length") or 0)
        if length > BODY_BYTES_MAX:
            return 413
        body = request.rfile.read(length)
        if self.secret is None:
            return 503  # not ready: jifen tries again later
        try:
            event = verify_webhook(self.secret, dict(request.headers.items()), body)
        except WebhookVerificationError as exc:
            print(f"refused a delivery: {exc}", file=sys.stderr)
            return 400
        with self._lock:
            if event.webhook_id in self._seen:
                return 204
            if len(self._seen) >= SEEN_IDS_MAX:
                self._seen.clear()
            self._seen.add(event.webhook_id)
        self.events.put(event)
        return 204


def describe(event: WebhookEvent) -> str:
    data = event.data
    if event.type.startswith("points.") and isinstance(data.get("amount"), int):
        amount = data["amount"]
        users = ", ".join(data.get("user_refs") or [])
        return (
            f"[{event.type}] {amount:+d} points ({data.get('entry_code')}: {data.get('memo')}), "
            f"balance {data.get('balance_after')}, entry {data.get('entry_id')}, for {users}"
        )
    return f"[{event.type}] {json.dumps(data, ensure_ascii=False)}"


def bind(
    jifen: JifenClient, user_ref: str, code: str | None, phone: str | None = None
) -> BindingRead:
    """The user's binding: the one made on an earlier run, or a new one with the code
    (or the phone number the platform verified: WeChat's getPhoneNumber)."""
    existing = jifen.list_bindings(user_ref=user_ref)
    if existing:
        return existing[0]
    if phone is not None:
        return jifen.bind_member(user_ref, phone=phone)
    if code is None:
        raise SystemExit(f"{user_ref} is not bound yet: give --binding-code or --phone")
    return jifen.bind_member(user_ref, code=code)


def run(args: argparse.Namespace) -> None:
    receiver = Receiver(args.listen_host, args.listen_port)
    receiver.start()
    url = args.public_url or f"http://{args.listen_host}:{receiver.port}{WEBHOOK_PATH}"
    with JifenClient(
        args.base_url, client_id=args.client_id, client_secret=args.client_secret
    ) as jifen:
        me = jifen.whoami()
        print(f"signed in as {me.name} (scopes: {' '.join(me.client_scopes)})")
        # Endpoints an earlier run left at this URL sign with secrets this run never saw.
        for old in jifen.list_webhook_endpoints():
            if old.url == url and old.disabled_at is None:
                jifen.update_webhook_endpoint(old.id, disabled=True)
        endpoint = jifen.create_webhook_endpoint(
            url=url, events=EVENTS, description="examples/miniprogram_backend.py"
        )
        receiver.secret = endpoint.secret
        print(f"webhook endpoint {endpoint.id} -> {url}")
        try:
            binding = bind(jifen, args.user_ref, args.binding_code, args.phone)
            bound = jifen.get_binding(binding.id)
            print(
                f"bound {args.user_ref} to {bound.member_name} of {bound.village_name} "
                f"(binding {binding.id})"
            )
            for balance in jifen.bound_balances(binding.id):
                print(
                    f"balance {balance.holder}: {balance.posted} points, "
                    f"{balance.available} available"
                )
            print("waiting for events; Ctrl-C to stop")
            received = 0
            while args.max_events is None or received < args.max_events:
                try:
                    event = receiver.events.get(timeout=0.5)
                except queue.Empty:
                    continue
                print(describe(event))
                received += 1
        finally:
            # Nobody will listen at this URL any more: hold its deliveries, do not fail them.
            jifen.update_webhook_endpoint(endpoint.id, disabled=True)
            receiver.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--binding-code", help="one-time code; not needed once bound")
    parser.add_argument(
        "--phone", help="bind by the phone number the platform verified, instead of a code"
    )
    parser.add_argument("--user-ref", default="openid-demo", help="the user's openid")
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=8787)
    parser.add_argument(
        "--public-url", help="the receiver's URL as jifen reaches it (default: listen address)"
    )
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        run(args)
    except KeyboardInterrupt:
        pass
    except JifenError as exc:
        print(f"jifen refused: {exc.status} {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
