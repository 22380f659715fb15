"""jifen_client (clients/python) against a real `jifen serve`, and the mini-program example
against both.

Each server test starts `jifen serve` in a subprocess on the test database (SQLite, and
PostgreSQL when one answers), which also runs the webhook delivery worker. Waits poll
with deadlines; nothing sleeps and hopes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from jifen.access.permissions import ClientScope
from jifen.db import Database
from jifen.webhooks.delivery import signature_header
from jifen_client import (
    AccessDenied,
    AuthenticationFailed,
    DecodeError,
    EntryRead,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidRequest,
    JifenClient,
    JifenError,
    MemberRead,
    NotFound,
    RateLimited,
    ServerError,
    TownshipRead,
    VillageRead,
    WebhookVerificationError,
    decode,
    models,
    verify_webhook,
)
from tests.records.charters import qingquan

JIFEN = [sys.executable, "-m", "jifen"]
# The example's receiver listens on http://127.0.0.1: the development webhook settings.
WEBHOOKS_TO_THIS_HOST = {
    "JIFEN_WEBHOOK_ALLOW_HTTP": "true",
    "JIFEN_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
    "JIFEN_WEBHOOK_PORTS": "any",
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "miniprogram_backend.py"
DEADLINE_SECONDS = 30.0
# Starting `jifen serve` (imports, migrations checked) on a loaded 2-core machine.
SERVER_START_SECONDS = 120.0
POLL_SECONDS = 0.1
ALL_SCOPES = [scope.value for scope in ClientScope]


# --- a real server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(ready: Callable[[], bool], what: str, deadline: float = DEADLINE_SECONDS) -> None:
    end = time.monotonic() + deadline
    while not ready():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(POLL_SECONDS)


@pytest.fixture
def serve(database_url: str, db: Database, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `jifen serve` on the test database with extra JIFEN_* settings; its base URL.

    Depends on `db` for the after-test check that every village's books balance and
    their chains verify.
    """
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(**settings: str) -> str:
        port = _free_port()
        env = {**os.environ, "JIFEN_DATABASE_URL": database_url, **WEBHOOKS_TO_THIS_HOST}
        env.update({f"JIFEN_{name.upper()}": value for name, value in settings.items()})
        log = (tmp_path / f"server-{port}.log").open("w+b")
        process = subprocess.Popen(
            [*JIFEN, "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        _poll(answers, "the server to answer", SERVER_START_SECONDS)
        return base

    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def server_key(database_url: str) -> str:
    """A platform administrator's key, made with the command an operator uses."""
    created = subprocess.run(
        [*JIFEN, "create-admin", "--name", "e2e", "--key-only"],
        env={**os.environ, "JIFEN_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("jfk_")
    return key


@dataclass(frozen=True)
class World:
    township: TownshipRead
    village: VillageRead
    member: MemberRead
    issuance_id: uuid.UUID
    supermarket_id: uuid.UUID
    member_account_id: uuid.UUID

    def award(self, jifen: JifenClient, points: int, **options: Any) -> EntryRead:
        return jifen.book_entry(
            village_id=self.village.id,
            code="labor_award",
            memo=f"义务劳动 {points} 分",
            postings=[(self.issuance_id, -points), (self.member_account_id, points)],
            **options,
        )


def make_world(admin: JifenClient) -> World:
    township = admin.create_township(code="e2e", name="端到端镇")
    village = admin.create_village(township_id=township.id, code="v", name="测试村")
    member = admin.create_member(village_id=village.id, name="张三")
    accounts = list(admin.iter_accounts(village_id=village.id))
    return World(
        township=township,
        village=village,
        member=member,
        issuance_id=next(a.id for a in accounts if a.kind == "issuance"),
        supermarket_id=next(a.id for a in accounts if a.kind == "supermarket"),
        member_account_id=next(a.id for a in accounts if a.member_id == member.id),
    )


# --- transports that watch or disturb the wire ----------------------------------------------


class Watching(httpx.BaseTransport):
    """Passes requests to the network, counting tokens issued and 401s answered."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.tokens_issued = 0
        self.unauthorized = 0
        self.idempotency_keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "idempotency-key" in request.headers:
            self.idempotency_keys.append(request.headers["idempotency-key"])
        response = self.inner.handle_request(request)
        if request.url.path == "/oauth/token" and response.status_code == 200:
            self.tokens_issued += 1
        if response.status_code == 401:
            self.unauthorized += 1
        return response

    def close(self) -> None:
        self.inner.close()


class LosesFirstBookingAnswer(Watching):
    """The first POST /v1/entries reaches the server, but its answer is lost on the way."""

    lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/v1/entries" and not self.lost:
            self.lost = True
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


class OverstatesTokenLifetime(Watching):
    """Tells the client its tokens live an hour, so that it meets the server's 401."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path != "/oauth/token" or response.status_code != 200:
            return response
        body = json.loads(response.read())
        body["expires_in"] = 3600
        return httpx.Response(200, json=body)


# --- API keys -------------------------------------------------------------------------------


def test_admin_books_once_per_idempotency_key_and_reverses(
    serve: Callable[..., str], server_key: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        me = admin.whoami()
        assert me.kind == "user"
        world = make_world(admin)
        assert admin.get_township(world.township.id) == world.township
        assert admin.get_village(world.village.id).name == "测试村"
        assert admin.get_member(world.member.id) == world.member
        household = admin.create_household(village_id=world.village.id, number="3-12", name="王家")
        assert admin.get_household(household.id) == household
        resident = admin.create_member(
            village_id=world.village.id, name="王五", household_id=household.id, is_head=True
        )
        assert resident.village_id == world.village.id

        first = world.award(admin, 6, idempotency_key="clerk-phone-0001")
        again = world.award(admin, 6, idempotency_key="clerk-phone-0001")
        assert again.id == first.id and again.idempotency_key == "clerk-phone-0001"
        assert admin.balance(world.member_account_id).posted == 6

    # The answer to the first attempt is lost: the client's retry carries the same key.
    lossy = LosesFirstBookingAnswer()
    with JifenClient(base, api_key=server_key, transport=lossy) as admin:
        second = world.award(admin, 4)
        assert len(lossy.idempotency_keys) == 2
        assert lossy.idempotency_keys[0] == lossy.idempotency_keys[1] == second.idempotency_key
        balance = admin.balance(world.member_account_id)
        assert (balance.posted, balance.available) == (10, 10)
        lines = admin.statement(world.member_account_id).items
        assert [(line.entry_id, line.amount, line.balance_after) for line in lines] == [
            (second.id, 4, 10),
            (first.id, 6, 6),
        ]

        reversal = admin.reverse_entry(first.id, reason="录入错误")
        assert reversal.reverses_entry_id == first.id
        assert admin.get_entry(first.id).status == "reversed"
        assert admin.balance(world.member_account_id).posted == 4

        events = admin.audit_events(village_id=world.village.id, principal_id=me.principal_id)
        assert len(events.items) >= 3
        assert all(event.principal_id == me.principal_id for event in events.items)


def test_staff_user_key_is_made_granted_and_revoked(
    serve: Callable[..., str], server_key: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        clerk_role = admin.find_role("village_clerk")
        assert clerk_role.township_id is None  # built in
        user = admin.create_user(
            name="清泉村文书", township_id=world.township.id, village_id=world.village.id
        )
        grant = admin.grant_role(user.id, role_id=clerk_role.id)
        assert grant.role_code == "village_clerk" and grant.village_id == world.village.id
        issued = admin.create_api_key(user.id, name="文书手机")
        assert issued.key.startswith("jfk_")

        with JifenClient(base, api_key=issued.key) as clerk:
            assert clerk.whoami().principal_id == user.id
            assert world.award(clerk, 3).actor
            with pytest.raises(AccessDenied) as refused:  # a redemption is the cashier's
                clerk.book_entry(
                    village_id=world.village.id,
                    code="redemption",
                    postings=[(world.member_account_id, -1), (world.supermarket_id, 1)],
                )
            assert (refused.value.status, refused.value.code) == (403, "forbidden")
            admin.revoke_api_key(issued.id)
            with pytest.raises(AuthenticationFailed) as gone:
                clerk.whoami()
            assert gone.value.status == 401 and gone.value.code == "unauthenticated"


# --- OAuth2 clients and bindings ------------------------------------------------------------


def test_client_binds_a_member_and_reads_their_points(
    serve: Callable[..., str], server_key: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        award = world.award(admin, 6)
        registered = admin.register_client(
            township_id=world.township.id, name="积分小程序", scopes=ALL_SCOPES
        )
        code = admin.issue_binding_code(world.member.id).secret

    watching = Watching()
    with JifenClient(
        base,
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        transport=watching,
    ) as app:
        me = app.whoami()
        assert me.kind == "client" and sorted(me.client_scopes) == sorted(ALL_SCOPES)
        binding = app.bind_member("openid-123", code=code)
        assert binding.member_id == world.member.id
        assert app.list_bindings(user_ref="openid-123") == [binding]
        assert app.get_binding(binding.id).member_name == "张三"
        [balance] = app.bound_balances(binding.id)
        assert (balance.holder, balance.posted, balance.available) == ("member", 6, 6)
        history = app.bound_history(binding.id)
        assert [(line.entry_id, line.amount) for line in history.items] == [(award.id, 6)]

        with pytest.raises(InvalidRequest) as used:
            app.bind_member("openid-456", code=code)  # a one-time code works once
        assert used.value.code == "credential_rejected"

        # Deliveries to an endpoint nobody listens at fail, are logged and can be resent.
        endpoint = app.create_webhook_endpoint(
            url=f"http://127.0.0.1:{_free_port()}/hooks", events=["points.earned"]
        )
        assert endpoint.secret.startswith("whsec_")
        assert [e.id for e in app.list_webhook_endpoints()] == [endpoint.id]
        with JifenClient(base, api_key=server_key) as admin:
            world.award(admin, 2)

        # One delivery per event the worker dispatched after the endpoint existed (the
        # first award's too, if it had not been dispatched yet); the oldest goes first.
        def attempted() -> list[uuid.UUID]:
            deliveries = app.list_deliveries(endpoint.id).items
            return [d.id for d in deliveries if d.attempts >= 1]

        _poll(lambda: bool(attempted()), "a delivery attempt")
        delivery_id = attempted()[0]
        detail = app.get_delivery(delivery_id)
        assert detail.event_type == "points.earned"
        assert detail.log and detail.log[0].status_code is None and detail.log[0].error
        again = app.redeliver(delivery_id)
        assert again.status == "pending" and again.attempts == 0 and len(again.log) >= 1

        app.unbind(binding.id)
        with pytest.raises(NotFound) as unbound:
            app.bound_balances(binding.id)
        assert unbound.value.code == "not_found"
    assert watching.tokens_issued == 1


def test_refusals_are_typed_errors(serve: Callable[..., str], server_key: str) -> None:
    base = serve(binding_rate_limit="3/minute")
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        world.award(admin, 6)
        with pytest.raises(InsufficientPoints) as short:
            admin.book_entry(
                village_id=world.village.id,
                code="redemption",
                postings=[(world.member_account_id, -100), (world.supermarket_id, 100)],
            )
        assert (short.value.status, short.value.code) == (409, "insufficient_points")
        assert short.value.problem["balance_points"] == 6
        assert short.value.problem["requested_points"] == 100

        with pytest.raises(NotFound) as missing:
            admin.get_member(uuid.uuid4())
        assert (missing.value.status, missing.value.code) == (404, "not_found")

        world.award(admin, 1, idempotency_key="once")
        with pytest.raises(IdempotencyKeyReused) as reused:
            world.award(admin, 2, idempotency_key="once")
        assert reused.value.code == "idempotency_key_reused"

        reader = admin.register_client(
            township_id=world.township.id,
            name="只读小程序",
            scopes=["members:read", "members:bind", "balances:read"],
        )

    with JifenClient(base, client_id=reader.client_id, client_secret=reader.client_secret) as app:
        with pytest.raises(AccessDenied) as no_scope:
            app.create_webhook_endpoint(url="http://127.0.0.1:9/hooks", events=["points.earned"])
        assert (no_scope.value.status, no_scope.value.code) == (403, "forbidden")

        for _ in range(3):
            with pytest.raises(JifenError) as wrong:
                app.bind_member("openid-x", code="WRONG1")
            assert wrong.value.code == "credential_rejected"
        with pytest.raises(RateLimited) as limited:
            app.bind_member("openid-x", code="WRONG1")
        assert limited.value.status == 429 and limited.value.code == "rate_limited"
        assert limited.value.retry_after is not None and limited.value.retry_after > 5

    with (
        JifenClient(
            base,
            client_id=reader.client_id,
            client_secret=reader.client_secret,
            scopes=["members:read"],
        ) as narrow,
        pytest.raises(AccessDenied),
    ):
        narrow.bind_member("openid-y", code="ANY123")

    with JifenClient(base, client_id=reader.client_id, client_secret="wrong") as impostor:
        with pytest.raises(AuthenticationFailed) as bad:
            impostor.whoami()
        assert (bad.value.status, bad.value.code) == (401, "invalid_client")


def test_tokens_are_renewed_across_their_expiry(serve: Callable[..., str], server_key: str) -> None:
    base = serve(access_token_ttl_seconds="2")
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        registered = admin.register_client(
            township_id=world.township.id, name="小程序", scopes=ALL_SCOPES
        )

    def signed_in(transport: httpx.BaseTransport) -> JifenClient:
        return JifenClient(
            base,
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            transport=transport,
        )

    # Renewed ahead of expiry: every call in three tokens' lifetimes goes through.
    ahead = Watching()
    with signed_in(ahead) as app:
        _poll(lambda: app.whoami().kind == "client" and ahead.tokens_issued >= 3, "renewals")

    # The client believes its token lives an hour: the server's 401 makes it renew once.
    late = OverstatesTokenLifetime()
    with signed_in(late) as app:
        _poll(lambda: app.whoami().kind == "client" and late.unauthorized >= 1, "a 401")
        assert (late.tokens_issued, late.unauthorized) == (2, 1)


# --- what this round added for integrators --------------------------------------------------


@dataclass(frozen=True)
class CharterVillage:
    village: VillageRead
    household: models.HouseholdRead
    member: MemberRead  # 王五, head of household 3-12, phone 13800138000
    clerk_key: str


def charter_village(
    admin: JifenClient, township: TownshipRead, *, notice: bool = False
) -> CharterVillage:
    """A village under 清泉村's charter (points held per household), published through the
    API, with a household, a member and a village clerk's API key. With `notice`, every
    month's records are on a public notice list (先生效后公示) open from the 1st of the
    next month for 60 days."""
    village = admin.create_village(township_id=township.id, code="qq", name="清泉村")
    household = admin.create_household(village_id=village.id, number="3-12", name="王家")
    member = admin.create_member(
        village_id=village.id,
        name="王五",
        household_id=household.id,
        is_head=True,
        phone="13800138000",
        joined_on=date(2026, 1, 1),
    )
    document = qingquan()
    # Without the group leaders' role (the township would have to make it first).
    for rule in document["rules"]:
        if "recorders" in rule:
            rule["recorders"] = [r for r in rule["recorders"] if r != "group_leader"]
    review = document["settings"]["review"]
    for stage in review["stages"]:
        stage["roles"] = [r for r in stage["roles"] if r != "group_leader"]
    del review["required"]["group_leader"]
    if notice:
        document["settings"]["public_notice"] = {
            "lists": [
                {
                    "categories": "all",
                    "mode": "after",
                    "period": "monthly",
                    "opens_on_day": 1,
                    "days": 60,
                    "appeal_days": 0,
                    "deciding_role": "village_clerk",
                }
            ]
        }
    published = admin._request(  # charters are not the client's business: the raw call
        "POST",
        f"/v1/villages/{village.id}/charter-versions",
        params={"publish": True},
        json=document,
        idempotency_key=f"charter-{village.id}",
    )
    assert published["status"] == "published", published
    clerk = admin.create_user(name="村会计", township_id=township.id, village_id=village.id)
    admin.grant_role(clerk.id, role_id=admin.find_role("village_clerk").id)
    key = admin.create_api_key(clerk.id, name="文书电脑").key
    return CharterVillage(village, household, member, key)


def _sheet(*rows: tuple[str, str, str, str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["规则", "日期", "姓名", "数量"])
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def test_clerk_records_amends_and_records_a_sheet_and_a_batch(
    serve: Callable[..., str], server_key: str, tmp_path: Path
) -> None:
    base = serve()
    now = datetime.now(UTC)
    with JifenClient(base, api_key=server_key) as admin:
        township = admin.create_township(code="e2e", name="端到端镇")
        qq = charter_village(admin, township)
    household_id = qq.household.id

    with JifenClient(base, api_key=qq.clerk_key, language="en") as clerk:
        # 3 hours of labour, 1.5 points an hour: 5 points (half up) for the household.
        record = clerk.create_record(
            qq.village.id,
            rule_id="voluntary_labor",
            member_id=qq.member.id,
            quantity=3,
            occurred_at=now - timedelta(days=2),
        )
        assert (record.status, record.points, record.quantity) == ("approved", 5, Decimal(3))
        assert record.holder == "household" and record.household_id == household_id
        assert clerk.get_record(record.id) == record

        # It was 2 hours: the clerk corrects their own record, within the window.
        corrected = clerk.amend_record(record.id, quantity="2", reason="误录为 3 小时，实为 2 小时")
        assert corrected.amends_record_id == record.id and corrected.quantity == Decimal(2)
        assert corrected.points == 3 and corrected.status == "approved"
        amended = clerk.get_record(record.id)
        assert amended.status == "amended" and amended.amended_by_record_id == corrected.id
        assert amended.amend_reason == "误录为 3 小时，实为 2 小时"
        statuses = {r.id: r.status for r in clerk.list_records(qq.village.id).items}
        assert statuses == {record.id: "amended", corrected.id: "approved"}
        with pytest.raises(InvalidRequest) as nothing:
            clerk.amend_record(corrected.id, quantity="2", reason="再改一次")
        assert nothing.value.code == "amendment_changes_nothing"
        assert nothing.value.title and nothing.value.status == 422

        # A sheet from the inspection round: the dry run, then for real, then again.
        yesterday = (now - timedelta(days=1)).date().isoformat()
        sheet = _sheet(
            ("voluntary_labor", yesterday, "王五", "2"), ("no_such_rule", yesterday, "王五", "1")
        )
        preview = clerk.preview_record_sheet(qq.village.id, sheet, filename="巡查.csv")
        assert preview.dry_run and preview.counts == {"booked": 1, "refused": 1}
        [first, second] = preview.rows
        assert (first.line, first.outcome, first.record and first.record.points) == (2, "booked", 3)
        assert second.outcome == "refused" and second.problem is not None
        assert second.problem["code"] == "unknown_rule"
        assert clerk.list_records(qq.village.id).items[0].id == corrected.id  # nothing written

        path = tmp_path / "巡查.csv"
        path.write_bytes(sheet)
        done = clerk.upload_record_sheet(qq.village.id, path, sheet_key="round-1")
        assert (done.done, done.replayed, done.refused) == (1, 0, 1)
        [booked, refused] = done.items
        assert booked.idempotency_key == "round-1:2" and booked.status == 201
        assert booked.result is not None and booked.result.outcome == "booked"
        assert booked.result.record is not None and booked.result.record.points == 3
        assert refused.result is None and refused.problem is not None
        assert refused.problem["code"] == "unknown_rule"
        again = clerk.upload_record_sheet(qq.village.id, sheet, sheet_key="round-1")
        assert (again.done, again.replayed, again.refused) == (0, 1, 1)
        assert again.items[0].result == booked.result
        replayed = clerk.preview_record_sheet(qq.village.id, sheet, sheet_key="round-1")
        assert replayed.counts == {"replayed": 1, "refused": 1}

        # A batch of the app's own rows, with a key each; its dry run first.
        items = [
            {
                "idempotency_key": "clean-1",
                "rule_id": "public_cleaning",
                "member_id": qq.member.id,
                "occurred_at": now - timedelta(hours=3),
            }
        ]
        dry = clerk.preview_record_batch(qq.village.id, items)
        assert [(r.idempotency_key, r.outcome) for r in dry.rows] == [("clean-1", "booked")]
        batch = clerk.record_batch(qq.village.id, items)
        assert (batch.done, batch.items[0].status) == (1, 201)
        assert batch.items[0].result is not None and batch.items[0].result.points == 3
        assert clerk.record_batch(qq.village.id, items).replayed == 1
        with pytest.raises(ValueError):
            clerk.record_batch(qq.village.id, [{"rule_id": "public_cleaning"}])

        # The household's points on every track: 3 + 3 + 3.
        standing = clerk.household_balances(household_id)
        assert (standing.holder_kind, standing.holder_id) == ("household", household_id)
        points = next(t for t in standing.tracks if t.track == "points")
        assert (points.posted, points.available) == (9, 9)
        assert standing.awaiting_review_count == 0
        with pytest.raises(NotFound):
            clerk.member_balances(uuid.uuid4())


def test_a_member_village_s_balances_and_bindings_by_phone_and_objections(
    serve: Callable[..., str], server_key: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        world.award(admin, 6)
        standing = admin.member_balances(world.member.id)
        assert (standing.holder_kind, standing.holder_id) == ("member", world.member.id)
        [points] = [t for t in standing.tracks if t.track == "points"]
        assert (points.account_id, points.posted, points.available) == (
            world.member_account_id,
            6,
            6,
        )
        phoned = admin.create_member(
            village_id=world.village.id, name="李四", phone="139 0013 9000"
        )
        registered = admin.register_client(
            township_id=world.township.id, name="积分小程序", scopes=ALL_SCOPES
        )

    with JifenClient(
        base, client_id=registered.client_id, client_secret=registered.client_secret
    ) as app:
        # The phone number WeChat verified, as the platform gives it.
        binding = app.bind_member("openid-li", phone="+86 13900139000")
        assert binding.member_id == phoned.id
        assert app.get_binding(binding.id).member_name == "李四"
        with pytest.raises(InvalidRequest) as unknown:
            app.bind_member("openid-nobody", phone="13700000000")
        assert unknown.value.code == "phone_not_matched"
        with pytest.raises(ValueError):
            app.bind_member("openid-li", phone="13900139000", code="ABC")

        # An objection needs an open notice list of the member's village.
        with pytest.raises(NotFound) as no_list:
            app.bound_objection(
                binding.id, notice_list_id=uuid.uuid4(), entry_id=uuid.uuid4(), reason="不实"
            )
        assert no_list.value.code == "not_found"


def test_client_and_webhook_secrets_rotate_without_downtime(
    serve: Callable[..., str], server_key: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        registered = admin.register_client(
            township_id=world.township.id, name="积分小程序", scopes=ALL_SCOPES
        )
        rotated = admin.rotate_client_secret(registered.id, grace_seconds=3600)
        assert rotated.id == registered.id and rotated.client_id == registered.client_id
        assert rotated.client_secret != registered.client_secret
        assert rotated.previous_secret_expires_at is not None

    def signs_in(secret: str) -> bool:
        with JifenClient(base, client_id=registered.client_id, client_secret=secret) as app:
            try:
                return app.whoami().kind == "client"
            except AuthenticationFailed as refused:
                assert refused.code == "invalid_client"
                return False

    assert signs_in(rotated.client_secret) and signs_in(registered.client_secret)
    with JifenClient(base, api_key=server_key) as admin:
        latest = admin.rotate_client_secret(registered.id, grace_seconds=0)
        assert latest.previous_secret_expires_at is None
        with pytest.raises(InvalidRequest) as too_long:
            admin.rotate_client_secret(registered.id, grace_seconds=10**8)
        assert too_long.value.code == "grace_too_long"
    assert signs_in(latest.client_secret)
    assert not signs_in(rotated.client_secret) and not signs_in(registered.client_secret)

    with JifenClient(
        base, client_id=registered.client_id, client_secret=latest.client_secret
    ) as app:
        endpoint = app.create_webhook_endpoint(
            url=f"http://127.0.0.1:{_free_port()}/hooks", events=["points.earned"]
        )
        renewed = app.rotate_webhook_secret(endpoint.id, grace_seconds=600)
        assert renewed.id == endpoint.id and renewed.secret.startswith("whsec_")
        assert renewed.secret != endpoint.secret
        assert renewed.previous_secret_expires_at is not None
        assert isinstance(renewed, models.WebhookEndpoint)


def test_a_resident_objects_through_the_binding_to_an_entry_on_notice(
    serve: Callable[..., str], server_key: str, database_url: str
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        township = admin.create_township(code="e2e", name="端到端镇")
        qq = charter_village(admin, township, notice=True)
        registered = admin.register_client(
            township_id=township.id, name="积分小程序", scopes=ALL_SCOPES
        )
    # Last month's record is on last month's list, which opens on the 1st of this month.
    this_month = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    with JifenClient(base, api_key=qq.clerk_key) as clerk:
        record = clerk.create_record(
            qq.village.id,
            rule_id="voluntary_labor",
            member_id=qq.member.id,
            quantity=2,
            occurred_at=this_month - timedelta(days=1),
        )
        assert record.status == "approved" and record.entry_id is not None
    ticked = subprocess.run(
        [*JIFEN, "tick"],
        env={**os.environ, "JIFEN_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ticked.returncode == 0, ticked.stderr
    with JifenClient(base, api_key=server_key) as admin:
        lists = admin._request("GET", f"/v1/villages/{qq.village.id}/notice-lists")["items"]
    [notice_list] = [item for item in lists if item["state"] == "open"]

    with JifenClient(
        base, client_id=registered.client_id, client_secret=registered.client_secret
    ) as app:
        binding = app.bind_member("openid-wang", phone="138-0013-8000")
        assert binding.member_id == qq.member.id
        objection = app.bound_objection(
            binding.id,
            notice_list_id=notice_list["id"],
            entry_id=record.entry_id,
            reason="他那天不在村里",
        )
        assert (objection.entry_id, objection.list_id) == (
            record.entry_id,
            uuid.UUID(notice_list["id"]),
        )
        assert objection.raised_by == f"member:{qq.member.id}"
        assert objection.recorded_by.startswith("client:") and objection.reason == "他那天不在村里"
        assert (objection.kind, objection.state) == ("objection", "open")
        # 先生效后公示: the points stay the household's until the objection is decided.
        [bound] = app.bound_balances(binding.id, holder="household")
        assert (bound.posted, bound.available) == (record.points, record.points)


# --- the example mini-program back end ------------------------------------------------------


class Output:
    """A subprocess's lines, read on a thread, waited for with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, deadline: float = DEADLINE_SECONDS) -> str:
        end = time.monotonic() + deadline
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                message = f"no line with {text!r} in {deadline} s: {self.lines}"
                raise AssertionError(message) from None
            if line is None:
                raise AssertionError(f"the script ended before {text!r}: {self.lines}")
            self.lines.append(line)
            if text in line:
                return line


def test_example_backend_prints_the_verified_points_earned_event(
    serve: Callable[..., str], server_key: str, tmp_path: Path
) -> None:
    base = serve()
    with JifenClient(base, api_key=server_key) as admin:
        world = make_world(admin)
        world.award(admin, 6)
        registered = admin.register_client(
            township_id=world.township.id, name="中子镇积分小程序", scopes=ALL_SCOPES
        )
        code = admin.issue_binding_code(world.member.id).secret

        errors = (tmp_path / "example.err").open("w+")
        script = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE),
                "--base-url",
                base,
                "--client-id",
                registered.client_id,
                "--client-secret",
                registered.client_secret,
                "--binding-code",
                code,
                "--user-ref",
                "openid-e2e",
                "--listen-port",
                str(_free_port()),
            ],
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            encoding="utf-8",
        )
        try:
            assert script.stdout is not None
            output = Output(script.stdout)
            output.wait_for("bound openid-e2e to 张三 of 测试村")
            assert "balance member: 6 points, 6 available" in output.wait_for("balance member")
            output.wait_for("waiting for events")

            award = world.award(admin, 5)
            # The worker polls each second; on a loaded machine a delivery may need a retry.
            line = output.wait_for(f"entry {award.id}", deadline=2 * DEADLINE_SECONDS)
            assert line.startswith("[points.earned] +5 points (labor_award: 义务劳动 5 分)")
            assert "balance 11" in line and "for openid-e2e" in line
            # (The first award's event may come first too: the worker delivers what it had
            # not dispatched yet when the binding was made.) Ctrl-C ends the script.
            script.send_signal(signal.SIGINT)
            assert script.wait(timeout=DEADLINE_SECONDS) == 0
        finally:
            if script.poll() is None:
                script.kill()
                script.wait()
            errors.seek(0)
            stderr = errors.read()
            errors.close()
        assert stderr == ""

    with JifenClient(
        base, client_id=registered.client_id, client_secret=registered.client_secret
    ) as app:
        [endpoint] = app.list_webhook_endpoints()
        assert endpoint.disabled_at is not None  # the script let go of it on leaving
        deliveries = app.list_deliveries(endpoint.id).items
        assert deliveries and {d.status for d in deliveries} == {"succeeded"}


# --- without a server -----------------------------------------------------------------------


def test_verify_webhook_accepts_what_the_server_signs_and_nothing_else() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    old = "whsec_" + "b2xkIHNpZ25pbmcgc2VjcmV0"
    body = json.dumps(
        {"type": "points.earned", "timestamp": "2026-01-01T00:00:00Z", "data": {"amount": 6}}
    )
    body = body.replace('"data"', '"memo": "义务劳动", "data"')  # UTF-8 beyond ASCII too
    now = datetime(2026, 11, 27, 3, 0, 0, 500_000, tzinfo=UTC)
    headers = {  # as the server's signer (standardwebhooks) signs it, any letter case
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": signature_header(secret, None, "msg_1", now, body.encode()),
    }
    event = verify_webhook(secret, headers, body.encode(), now=now)
    assert (event.webhook_id, event.type, event.data) == ("msg_1", "points.earned", {"amount": 6})
    assert event.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert verify_webhook(secret, headers, body, now=now).data == {"amount": 6}  # str body
    # Within five minutes either way of the receiver's clock.
    for skew in (-299, 299):
        verify_webhook(secret, headers, body.encode(), now=now + timedelta(seconds=skew))

    for bad_headers, bad_body, at in [
        (headers, body.replace("6", "600"), now),  # tampered body
        ({**headers, "Webhook-Id": "msg_2"}, body, now),  # another message's id
        ({**headers, "Webhook-Signature": "nonsense"}, body, now),
        ({**headers, "Webhook-Signature": "v1,!!notbase64"}, body, now),
        ({**headers, "Webhook-Signature": "v2," + headers["Webhook-Signature"][3:]}, body, now),
        ({**headers, "Webhook-Timestamp": str(int(now.timestamp()) + 1)}, body, now),
        ({**headers, "Webhook-Timestamp": "soon"}, body, now),
        (headers, body, now + timedelta(seconds=301)),  # stale
        (headers, body, now - timedelta(seconds=301)),  # from the future
        ({k: v for k, v in headers.items() if k != "Webhook-Signature"}, body, now),
    ]:
        with pytest.raises(WebhookVerificationError):
            verify_webhook(secret, bad_headers, bad_body.encode(), now=at)
    with pytest.raises(WebhookVerificationError):  # a wrong secret
        verify_webhook("whsec_" + "b3RoZXIgc2VjcmV0IGtleQ==", headers, body.encode(), now=now)
    with pytest.raises(ValueError):
        verify_webhook([], headers, body.encode(), now=now)

    # During a rotation the server signs with both: either secret verifies, as do both.
    rotated = {
        **headers,
        "Webhook-Signature": signature_header(secret, old, "msg_1", now, body.encode()),
    }
    for secrets in (secret, old, [old, secret], ["whsec_" + "QUFBQQ==", secret]):
        assert verify_webhook(secrets, rotated, body.encode(), now=now).webhook_id == "msg_1"
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "QUFBQQ==", rotated, body.encode(), now=now)

    # A signed body that is not a jifen event is refused too.
    signed_list = {
        **headers,
        "Webhook-Signature": signature_header(secret, None, "msg_1", now, b"[1]"),
    }
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, signed_list, b"[1]", now=now)


SERVER_SCHEMAS: list[tuple[str, str, str]] = [
    # (the client's dataclass, the server's module, its schema)
    *[
        (name, "jifen.access.schemas", name)
        for name in [
            "WhoAmIRead",
            "UserRead",
            "GrantRead",
            "ApiKeyRead",
            "ApiKeyIssued",
            "RoleRead",
            "ClientIssued",
            "ClientSecretRotated",
            "AuditEventRead",
            "CredentialIssued",
            "BindingRead",
            "BoundMemberRead",
            "BoundBalanceRead",
            "TokenRead",
        ]
    ],
    *[
        (n, "jifen.tenancy.schemas", n)
        for n in ["TownshipRead", "VillageRead", "HouseholdRead", "MemberRead"]
    ],
    *[
        (n, "jifen.ledger.schemas", n)
        for n in [
            "AccountRead",
            "BalanceRead",
            "PostingRead",
            "EntryRead",
            "StatementNoticeRead",
            "StatementLineRead",
            "StatementRead",
        ]
    ],
    *[
        (n, "jifen.records.schemas", n)
        for n in [
            "ReviewRead",
            "RecordRead",
            "SheetRowRead",
            "RecordPreviewRowRead",
            "RecordPreviewRead",
        ]
    ],
    *[
        (n, "jifen.rankings.schemas", n)
        for n in ["TrackBalanceRead", "AwaitingRecordRead", "StandingRead"]
    ],
    ("ObjectionRead", "jifen.notice.schemas", "ObjectionRead"),
    ("Page", "jifen.kit.schemas", "PageRead"),
    ("BatchRead", "jifen.api.batches", "BatchRead"),
    ("BatchItemRead", "jifen.api.batches", "BatchItemRead"),
    ("WebhookEndpoint", "jifen.webhooks.router", "EndpointRead"),
    ("WebhookEndpointIssued", "jifen.webhooks.router", "EndpointIssued"),
    ("WebhookEndpointSecretRotated", "jifen.webhooks.router", "EndpointSecretRotated"),
    ("WebhookDelivery", "jifen.webhooks.router", "DeliveryRead"),
    ("WebhookDeliveryDetail", "jifen.webhooks.router", "DeliveryDetail"),
    ("WebhookAttempt", "jifen.webhooks.router", "AttemptRead"),
]


def test_client_models_match_the_server() -> None:
    """Each answer type of the client has exactly the fields of the server's schema, and
    every schema a client method answers with is here (a test cannot miss a new one)."""
    import importlib

    covered = {name for name, _, _ in SERVER_SCHEMAS}
    for name, module, schema in SERVER_SCHEMAS:
        mine = getattr(models, name)
        theirs = getattr(importlib.import_module(module), schema)
        assert {f.name for f in dataclasses.fields(mine)} == set(theirs.model_fields), name
    answered = {
        cls.__name__
        for cls in vars(models).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    }
    assert answered - covered == {"WebhookEvent"}  # built by verify_webhook, not an answer


def test_decoding_converts_by_type_and_ignores_what_it_does_not_know() -> None:
    member_id = uuid.uuid4()
    data = {
        "holder_kind": "member",
        "holder_id": str(member_id),
        "village_id": str(member_id),
        "tracks": [
            {
                "track": "points",
                "account_id": str(member_id),
                "posted": 5,
                "available": 3,
                "pending_under_notice": 2,
                "held_by_objection": 0,
                "pending_other": 0,
                "added_by_a_newer_server": {"x": 1},
            }
        ],
        "awaiting_review_count": 1,
        "awaiting_review_points": 4,
        "awaiting_review": [
            {
                "id": str(member_id),
                "rule_id": "LY-01",
                "occurred_on": "2026-11-20",
                "scored_points": 4,
                "stages_pending": ["复核"],
                "recorder": "user:1",
            }
        ],
        "future_member": True,
    }
    standing = decode(models.StandingRead, data)
    assert standing.holder_id == member_id and standing.tracks[0].posted == 5
    assert standing.awaiting_review[0].occurred_on == date(2026, 11, 20)
    page = decode(
        models.Page[models.TownshipRead],
        {
            "items": [
                {
                    "id": str(member_id),
                    "code": "t",
                    "name": "镇",
                    "created_at": "2026-11-27T03:00:00Z",
                }
            ],
            "next_cursor": None,
        },
    )
    assert page.items[0].created_at == datetime(2026, 11, 27, 3, tzinfo=UTC)
    with pytest.raises(DecodeError) as missing:
        decode(models.TownshipRead, {"id": str(member_id), "code": "t", "name": "镇"})
    assert missing.value.path == "created_at"
    with pytest.raises(DecodeError) as wrong:
        decode(models.StandingRead, {**data, "awaiting_review_count": "1"})
    assert wrong.value.path == "awaiting_review_count"


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> JifenClient:
    return JifenClient(
        "http://jifen.test", api_key="jfk_test", transport=httpx.MockTransport(handler)
    )


def test_retries_keep_the_key_and_never_resend_what_may_have_arrived() -> None:
    seen: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadError("connection reset", request=request)
        if len(seen) == 2:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"code": "rate_limited"})
        problem = {"code": "insufficient_points", "detail": "1 available", "balance_points": 1}
        return httpx.Response(409, json=problem)

    with _mock(flaky) as jifen, pytest.raises(InsufficientPoints) as refused:
        jifen.book_entry(village_id=uuid.uuid4(), code="redemption", postings=[])
    assert refused.value.problem["balance_points"] == 1
    keys = {request.headers["idempotency-key"] for request in seen}
    assert len(seen) == 3 and len(keys) == 1  # reset, 429 waited out, then answered

    # A secret-bearing POST carries no key: after a reset it is not sent again...
    seen.clear()
    with _mock(flaky) as jifen, pytest.raises(httpx.ReadError):
        jifen.create_api_key(uuid.uuid4(), name="till")
    assert len(seen) == 1 and "idempotency-key" not in seen[0].headers

    # ...but a request that never left is.
    def unreachable_once(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(502, text="<html>bad gateway</html>")

    seen.clear()
    with _mock(unreachable_once) as jifen, pytest.raises(ServerError) as failed:
        jifen.create_api_key(uuid.uuid4(), name="till")
    assert len(seen) == 2 and (failed.value.status, failed.value.code) == (502, "http_502")
