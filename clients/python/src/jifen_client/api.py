"""JifenClient: the jifen REST API over httpx, with typed answers.

Retry safety: every POST the API treats as a booking or a creation carries an
Idempotency-Key (the caller's, or one made per call), and the client's own retries after
a transport error send the same key, so a lost response never books twice. Requests
that answer with a secret carry no key (the server never keeps a secret for a replay, so
a keyed retry could only say the work was done, secret lost): they are retried only when
they never reached the server. Record batches and sheets take no request key: each item
(each sheet row, `<sheet_key>:<line>`) carries its own, so they are retried like keyed
requests, and a retry answers what was done before as it was then (`replayed`).
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx

from jifen_client._decode import DecodeError, decode
from jifen_client.errors import error_from_response, retry_after_seconds
from jifen_client.models import (
    AccountRead,
    ApiKeyIssued,
    ApiKeyRead,
    AuditEventRead,
    BalanceRead,
    BatchRead,
    BindingRead,
    BoundBalanceRead,
    BoundMemberRead,
    ClientIssued,
    ClientSecretRotated,
    CredentialIssued,
    EntryRead,
    GrantRead,
    HouseholdRead,
    MemberRead,
    ObjectionRead,
    Page,
    RecordPreviewRead,
    RecordRead,
    RoleRead,
    SheetRowRead,
    StandingRead,
    StatementRead,
    TokenRead,
    TownshipRead,
    UserRead,
    VillageRead,
    WebhookDelivery,
    WebhookDeliveryDetail,
    WebhookEndpoint,
    WebhookEndpointIssued,
    WebhookEndpointSecretRotated,
    WhoAmIRead,
)

M = TypeVar("M")

Id = uuid.UUID | str
"""An id as the API gives it out, or its string."""

TIMEOUT_DEFAULT = httpx.Timeout(10.0, connect=5.0)
RETRIES_DEFAULT = 2
# The pause before the first, second, ... retry after a transport error.
RETRY_PAUSES_SECONDS = (0.25, 1.0, 2.0)
# A 429 whose Retry-After is at most this is waited out and retried, once.
RATE_LIMIT_WAIT_MAX_SECONDS = 5.0
# A token is renewed this share of its lifetime before it expires (at most a minute)...
TOKEN_RENEW_SHARE = 0.1
TOKEN_RENEW_MARGIN_MAX_SECONDS = 60.0
# ...and a second earlier still: the server counts expiry in whole seconds.
TOKEN_EXPIRY_ROUNDING_SECONDS = 1.0
PAGE_LIMIT_MAX = 200
USER_AGENT = "jifen-python-client/1"
SHEET_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# Transport errors raised before any byte of the request left: always safe to retry.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def new_idempotency_key() -> str:
    return f"jifen-client-{uuid.uuid4()}"


class JifenClient:
    """A synchronous client of one jifen server.

    Authenticate with a user's API key (`api_key=`) or, for a third-party back end,
    with OAuth2 client credentials (`client_id=`, `client_secret=`, and `scopes=` to
    ask for fewer than the client holds): the client fetches a token on first use and
    renews it shortly before it expires, and once more if the server answers 401.

    Refusals raise `jifen_client.JifenError` (or a subclass); network failures that
    outlast the retries raise httpx.TransportError. `language` ("zh-CN", "en") asks for
    the problems' titles and details in that language (Accept-Language; the server's
    default otherwise). Use it as a context manager, or call `close()`. One instance may
    be shared by threads.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Sequence[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout = TIMEOUT_DEFAULT,
        retries: int = RETRIES_DEFAULT,
        rate_limit_wait_max: float = RATE_LIMIT_WAIT_MAX_SECONDS,
        language: str | None = None,
    ) -> None:
        uses_client = client_id is not None or client_secret is not None
        if (api_key is None) == (not uses_client):
            raise ValueError("give either api_key or client_id and client_secret")
        if uses_client and not (client_id and client_secret):
            raise ValueError("client credentials need both client_id and client_secret")
        if retries < 0:
            raise ValueError("retries must not be negative")
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = list(scopes) if scopes is not None else None
        self._retries = retries
        self._rate_limit_wait_max = rate_limit_wait_max
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                **({"Accept-Language": language} if language else {}),
            },
            follow_redirects=False,
        )
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- access -------------------------------------------------------------------------

    def whoami(self) -> WhoAmIRead:
        return decode(WhoAmIRead, self._get("/v1/me"))

    def create_user(
        self,
        *,
        name: str,
        township_id: Id | None = None,
        village_id: Id | None = None,
        username: str | None = None,
        password: str | None = None,
        member_id: Id | None = None,
        idempotency_key: str | None = None,
    ) -> UserRead:
        body = _without_none(
            name=name,
            township_id=township_id,
            village_id=village_id,
            username=username,
            password=password,
            member_id=member_id,
        )
        return decode(UserRead, self._post("/v1/users", body, idempotency_key))

    def get_user(self, user_id: Id) -> UserRead:
        return decode(UserRead, self._get(f"/v1/users/{user_id}"))

    def grant_role(
        self,
        user_id: Id,
        *,
        role_id: Id,
        village_id: Id | None = None,
        idempotency_key: str | None = None,
    ) -> GrantRead:
        body = _without_none(role_id=role_id, village_id=village_id)
        return decode(GrantRead, self._post(f"/v1/users/{user_id}/grants", body, idempotency_key))

    def list_grants(self, user_id: Id) -> list[GrantRead]:
        return _many(GrantRead, self._get(f"/v1/users/{user_id}/grants"))

    def create_api_key(self, user_id: Id, *, name: str) -> ApiKeyIssued:
        """A new key for the user; `.key` is shown this once."""
        data = self._post_secret(f"/v1/users/{user_id}/api-keys", {"name": name})
        return decode(ApiKeyIssued, data)

    def revoke_api_key(self, key_id: Id) -> ApiKeyRead:
        return decode(ApiKeyRead, self._post(f"/v1/api-keys/{key_id}/revocation", None, None))

    def list_roles(
        self, *, township_id: Id | None = None, village_id: Id | None = None
    ) -> list[RoleRead]:
        params = {"township_id": township_id, "village_id": village_id}
        return _many(RoleRead, self._get("/v1/roles", params))

    def find_role(self, code: str, *, township_id: Id | None = None) -> RoleRead:
        """The role with this code (a built-in one, or the township's own)."""
        for role in self.list_roles(township_id=township_id):
            if role.code == code:
                return role
        raise LookupError(f"no role {code!r}")

    def register_client(self, *, township_id: Id, name: str, scopes: Sequence[str]) -> ClientIssued:
        """A third-party client of the township; `.client_secret` is shown this once."""
        body = {"township_id": str(township_id), "name": name, "scopes": list(scopes)}
        return decode(ClientIssued, self._post_secret("/v1/clients", body))

    def rotate_client_secret(
        self, client_id: Id, *, grace_seconds: int | None = None
    ) -> ClientSecretRotated:
        """A new `.client_secret` (shown this once); the old one keeps working until
        `.previous_secret_expires_at` (default 24 h; 0: not at all)."""
        body = _without_none(grace_seconds=grace_seconds)
        path = f"/v1/clients/{client_id}/secret-rotations"
        return decode(ClientSecretRotated, self._post_secret(path, body))

    def audit_events(
        self,
        *,
        township_id: Id | None = None,
        village_id: Id | None = None,
        principal_id: Id | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditEventRead]:
        """Who did what, newest first."""
        params = {
            "township_id": township_id,
            "village_id": village_id,
            "principal_id": principal_id,
            "action": action,
            "since": since,
            "until": until,
            "limit": limit,
            "cursor": cursor,
        }
        return decode(Page[AuditEventRead], self._get("/v1/audit-events", params))

    # --- member binding -----------------------------------------------------------------

    def issue_binding_code(self, member_id: Id) -> CredentialIssued:
        """A one-time code (`.secret`) the member gives the client to be bound."""
        data = self._post_secret(f"/v1/members/{member_id}/binding-codes", None)
        return decode(CredentialIssued, data)

    def issue_card(self, member_id: Id) -> CredentialIssued:
        """A points card token (`.secret`) for the member's QR card; revokes the old one."""
        return decode(CredentialIssued, self._post_secret(f"/v1/members/{member_id}/card", None))

    def bind_member(
        self,
        user_ref: str,
        *,
        code: str | None = None,
        card_token: str | None = None,
        phone: str | None = None,
        idempotency_key: str | None = None,
    ) -> BindingRead:
        """Bind the client's user (e.g. a WeChat openid) to the member who gave `code`
        (a one-time code from a clerk) or `card_token` (their points card), or whose
        phone on record is `phone` (as the platform verified it: WeChat getPhoneNumber)."""
        if sum(x is not None for x in (code, card_token, phone)) != 1:
            raise ValueError("give exactly one of code, card_token and phone")
        body = _without_none(user_ref=user_ref, code=code, card_token=card_token, phone=phone)
        return decode(BindingRead, self._post("/v1/bindings", body, idempotency_key))

    def list_bindings(self, *, user_ref: str | None = None) -> list[BindingRead]:
        return _many(BindingRead, self._get("/v1/bindings", {"user_ref": user_ref}))

    def get_binding(self, binding_id: Id) -> BoundMemberRead:
        return decode(BoundMemberRead, self._get(f"/v1/bindings/{binding_id}"))

    def bound_balances(
        self, binding_id: Id, *, holder: Literal["member", "household"] | None = None
    ) -> list[BoundBalanceRead]:
        """The bound member's points, and their household's: the holder the village's
        charter awards to first (`is_default`); `holder` keeps only that one."""
        return _many(
            BoundBalanceRead,
            self._get(f"/v1/bindings/{binding_id}/balances", {"holder": holder}),
        )

    def bound_history(
        self,
        binding_id: Id,
        *,
        holder: Literal["member", "household"] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> StatementRead:
        """The bound member's (or household's) points history, newest first; by default
        the holder's the village's charter awards points to."""
        params = {"holder": holder, "limit": limit, "cursor": cursor}
        return decode(StatementRead, self._get(f"/v1/bindings/{binding_id}/history", params))

    def unbind(self, binding_id: Id) -> BindingRead:
        return decode(BindingRead, self._request("DELETE", f"/v1/bindings/{binding_id}"))

    def bound_objection(
        self,
        binding_id: Id,
        *,
        notice_list_id: Id,
        entry_id: Id,
        reason: str,
        idempotency_key: str | None = None,
    ) -> ObjectionRead:
        """The bound resident's own objection (异议) to one entry of a notice list (公示)
        of their village, while the list is open; the entry's points are held until the
        objection is decided. Needs the `notice:object` scope."""
        body = _without_none(notice_list_id=notice_list_id, entry_id=entry_id, reason=reason)
        path = f"/v1/bindings/{binding_id}/objections"
        return decode(ObjectionRead, self._post(path, body, idempotency_key))

    # --- tenancy ------------------------------------------------------------------------

    def create_township(
        self, *, code: str, name: str, idempotency_key: str | None = None
    ) -> TownshipRead:
        body = {"code": code, "name": name}
        return decode(TownshipRead, self._post("/v1/townships", body, idempotency_key))

    def get_township(self, township_id: Id) -> TownshipRead:
        return decode(TownshipRead, self._get(f"/v1/townships/{township_id}"))

    def create_village(
        self,
        *,
        township_id: Id,
        code: str,
        name: str,
        allow_below_floor_codes: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> VillageRead:
        body = {
            "township_id": str(township_id),
            "code": code,
            "name": name,
            "allow_below_floor_codes": list(allow_below_floor_codes),
        }
        return decode(VillageRead, self._post("/v1/villages", body, idempotency_key))

    def get_village(self, village_id: Id) -> VillageRead:
        return decode(VillageRead, self._get(f"/v1/villages/{village_id}"))

    def list_villages(
        self, *, township_id: Id | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[VillageRead]:
        params = {"township_id": township_id, "limit": limit, "cursor": cursor}
        return decode(Page[VillageRead], self._get("/v1/villages", params))

    def create_household(
        self, *, village_id: Id, number: str, name: str, idempotency_key: str | None = None
    ) -> HouseholdRead:
        body = {"village_id": str(village_id), "number": number, "name": name}
        return decode(HouseholdRead, self._post("/v1/households", body, idempotency_key))

    def get_household(self, household_id: Id) -> HouseholdRead:
        return decode(HouseholdRead, self._get(f"/v1/households/{household_id}"))

    def create_member(
        self,
        *,
        village_id: Id,
        name: str,
        phone: str | None = None,
        id_number_tail: str | None = None,
        household_id: Id | None = None,
        joined_on: date | None = None,
        is_head: bool = False,
        idempotency_key: str | None = None,
    ) -> MemberRead:
        body = _without_none(
            village_id=village_id,
            name=name,
            phone=phone,
            id_number_tail=id_number_tail,
            household_id=household_id,
            joined_on=joined_on,
            is_head=is_head,
        )
        return decode(MemberRead, self._post("/v1/members", body, idempotency_key))

    def get_member(self, member_id: Id) -> MemberRead:
        return decode(MemberRead, self._get(f"/v1/members/{member_id}"))

    # --- ledger -------------------------------------------------------------------------

    def list_accounts(
        self,
        *,
        village_id: Id | None = None,
        member_id: Id | None = None,
        household_id: Id | None = None,
        organisation_id: Id | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AccountRead]:
        params = {
            "village_id": village_id,
            "member_id": member_id,
            "household_id": household_id,
            "organisation_id": organisation_id,
            "kind": kind,
            "limit": limit,
            "cursor": cursor,
        }
        return decode(Page[AccountRead], self._get("/v1/accounts", params))

    def iter_accounts(
        self,
        *,
        village_id: Id | None = None,
        member_id: Id | None = None,
        household_id: Id | None = None,
        organisation_id: Id | None = None,
        kind: str | None = None,
    ) -> Iterator[AccountRead]:
        """Every matching account, page after page."""
        cursor: str | None = None
        while True:
            page = self.list_accounts(
                village_id=village_id,
                member_id=member_id,
                household_id=household_id,
                organisation_id=organisation_id,
                kind=kind,
                limit=PAGE_LIMIT_MAX,
                cursor=cursor,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_account(self, account_id: Id) -> AccountRead:
        return decode(AccountRead, self._get(f"/v1/accounts/{account_id}"))

    def balance(self, account_id: Id) -> BalanceRead:
        return decode(BalanceRead, self._get(f"/v1/accounts/{account_id}/balance"))

    def statement(
        self, account_id: Id, *, limit: int = 50, cursor: str | None = None
    ) -> StatementRead:
        """The account's postings, newest first, each with the balance after it."""
        params = {"limit": limit, "cursor": cursor}
        return decode(StatementRead, self._get(f"/v1/accounts/{account_id}/statement", params))

    def book_entry(
        self,
        *,
        village_id: Id,
        code: str,
        postings: Sequence[tuple[Id, int]],
        memo: str = "",
        metadata: Mapping[str, Any] | None = None,
        occurred_at: datetime | None = None,
        is_pending: bool = False,
        allow_below_floor: bool = False,
        idempotency_key: str | None = None,
    ) -> EntryRead:
        """Book one balanced entry; `postings` are (account id, amount) pairs, positive
        amounts credit. Give `idempotency_key` to make retries of your own safe (the same
        key and body return the first entry); without one, the client makes one for this
        call and its own retries."""
        body = _without_none(
            village_id=village_id,
            code=code,
            memo=memo,
            metadata=dict(metadata or {}),
            postings=[{"account_id": str(a), "amount": amount} for a, amount in postings],
            occurred_at=occurred_at,
            is_pending=is_pending,
            allow_below_floor=allow_below_floor,
        )
        return decode(EntryRead, self._post("/v1/entries", body, idempotency_key))

    def get_entry(self, entry_id: Id) -> EntryRead:
        return decode(EntryRead, self._get(f"/v1/entries/{entry_id}"))

    def reverse_entry(
        self,
        entry_id: Id,
        *,
        reason: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> EntryRead:
        """Book the entry's reversal (an entry is reversed at most once)."""
        body = {"reason": reason, "metadata": dict(metadata or {})}
        path = f"/v1/entries/{entry_id}/reversals"
        return decode(EntryRead, self._post(path, body, idempotency_key))

    def post_entry(self, entry_id: Id, *, idempotency_key: str | None = None) -> EntryRead:
        """Post a pending entry: its held amounts become posted."""
        return decode(EntryRead, self._post(f"/v1/entries/{entry_id}/post", None, idempotency_key))

    def void_entry(
        self, entry_id: Id, *, reason: str = "", idempotency_key: str | None = None
    ) -> EntryRead:
        """Void a pending entry: its held amounts are released."""
        path = f"/v1/entries/{entry_id}/void"
        return decode(EntryRead, self._post(path, {"reason": reason}, idempotency_key))

    def member_balances(self, member_id: Id) -> StandingRead:
        """A member's points on every track (points, merit): what may be spent now, what
        waits on a notice list, what an objection holds; and the records awaiting review
        that will score for them. For members who hold points (member villages)."""
        return decode(StandingRead, self._get(f"/v1/members/{member_id}/balances"))

    def household_balances(self, household_id: Id) -> StandingRead:
        """A household's points on every track, as `member_balances` gives a member's."""
        return decode(StandingRead, self._get(f"/v1/households/{household_id}/balances"))

    # --- records under the village's charter --------------------------------------------

    def create_record(
        self,
        village_id: Id,
        *,
        rule_id: str,
        occurred_at: datetime,
        member_id: Id | None = None,
        household_id: Id | None = None,
        quantity: Decimal | int | str = 1,
        occurrence: str | None = None,
        project_id: Id | None = None,
        place: str = "",
        evidence: Sequence[Mapping[str, str]] = (),
        note: str = "",
        idempotency_key: str | None = None,
    ) -> RecordRead:
        """Record an event under the charter in force on its day: scored, capped and
        booked (or `pending` review, as the charter says)."""
        body = _record_body(
            rule_id=rule_id,
            occurred_at=occurred_at,
            member_id=member_id,
            household_id=household_id,
            quantity=quantity,
            occurrence=occurrence,
            project_id=project_id,
            place=place,
            evidence=evidence,
            note=note,
        )
        path = f"/v1/villages/{village_id}/records"
        return decode(RecordRead, self._post(path, body, idempotency_key))

    def get_record(self, record_id: Id) -> RecordRead:
        return decode(RecordRead, self._get(f"/v1/records/{record_id}"))

    def list_records(
        self,
        village_id: Id,
        *,
        status: str | None = None,
        rule_id: str | None = None,
        member_id: Id | None = None,
        household_id: Id | None = None,
        occurred_from: date | None = None,
        occurred_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[RecordRead]:
        """A village's records, newest first."""
        params = {
            "status": status,
            "rule_id": rule_id,
            "member_id": member_id,
            "household_id": household_id,
            "occurred_from": occurred_from,
            "occurred_to": occurred_to,
            "limit": limit,
            "cursor": cursor,
        }
        return decode(Page[RecordRead], self._get(f"/v1/villages/{village_id}/records", params))

    def amend_record(
        self,
        record_id: Id,
        *,
        reason: str,
        quantity: Decimal | int | str | None = None,
        member_id: Id | None = None,
        household_id: Id | None = None,
        rule_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> RecordRead:
        """Correct a record (更正) in one step: its entry is reversed, it becomes
        `amended`, and the correction is recorded through the charter. The answer is the
        correction (`amends_record_id` names the old record). What is not given stays as
        the record has it. Within the charter's window the recorder (or a reviewer) may;
        after it, the revoking role."""
        body = _without_none(
            reason=reason,
            quantity=str(quantity) if quantity is not None else None,
            member_id=member_id,
            household_id=household_id,
            rule_id=rule_id,
        )
        path = f"/v1/records/{record_id}/amendments"
        return decode(RecordRead, self._post(path, body, idempotency_key))

    def record_batch(
        self, village_id: Id, items: Sequence[Mapping[str, Any]], *, atomic: bool = False
    ) -> BatchRead[RecordRead]:
        """Record up to 1,000 events at once. Each item is what `create_record` takes
        (`rule_id`, `occurred_at`, `member_id`, ...) plus its own `idempotency_key`: a
        retried batch answers the items done before as then (`replayed`). Each item is
        answered on its own (`result` or `problem`), unless `atomic`: then one refused
        item refuses the whole batch (InvalidRequest `batch_refused`)."""
        body = {"items": [_record_item(item) for item in items], "atomic": atomic}
        path = f"/v1/villages/{village_id}/record-batches"
        # Each item carries its key: a retry after a lost answer replays what was done.
        data = self._request("POST", path, json=body, replayable=True)
        return decode(BatchRead[RecordRead], data)

    def preview_record_batch(
        self, village_id: Id, items: Sequence[Mapping[str, Any]]
    ) -> RecordPreviewRead:
        """The dry run of `record_batch`: each item's outcome (booked, capped, pending,
        duplicate, refused, replayed) and points; nothing is written."""
        body = {"items": [_record_item(item) for item in items]}
        path = f"/v1/villages/{village_id}/record-batch-previews"
        return decode(RecordPreviewRead, self._request("POST", path, json=body, replayable=True))

    def upload_record_sheet(
        self,
        village_id: Id,
        sheet: bytes | str | os.PathLike[str],
        *,
        sheet_key: str,
        filename: str | None = None,
        atomic: bool = False,
    ) -> BatchRead[SheetRowRead]:
        """Record a clerk's sheet (CSV or XLSX, Chinese headers: 规则, 日期, 成员编号 or
        姓名 or 户号, 数量, ...), each row on its own; `sheet` is the file's bytes or its
        path. `sheet_key` (printable ASCII) names the sheet: uploading it again with the
        same key answers the rows done before as they were (`replayed`)."""
        files = _sheet_file(sheet, filename)
        form = {"sheet_key": sheet_key, "atomic": _text(atomic)}
        path = f"/v1/villages/{village_id}/record-sheets"
        data = self._request("POST", path, data=form, files=files, replayable=True)
        return decode(BatchRead[SheetRowRead], data)

    def preview_record_sheet(
        self,
        village_id: Id,
        sheet: bytes | str | os.PathLike[str],
        *,
        filename: str | None = None,
        sheet_key: str | None = None,
    ) -> RecordPreviewRead:
        """The dry run of `upload_record_sheet`: each row's outcome; nothing is written.
        With the `sheet_key` the real upload will use, rows it did already show
        `replayed`."""
        files = _sheet_file(sheet, filename)
        form = {"sheet_key": sheet_key} if sheet_key is not None else {}
        path = f"/v1/villages/{village_id}/record-sheet-previews"
        data = self._request("POST", path, data=form, files=files, replayable=True)
        return decode(RecordPreviewRead, data)

    # --- webhooks -----------------------------------------------------------------------

    def create_webhook_endpoint(
        self, *, url: str, events: Sequence[str], description: str = ""
    ) -> WebhookEndpointIssued:
        """Register an endpoint (by the client itself); `.secret` signs its deliveries
        and is shown this once."""
        body = {"url": url, "events": list(events), "description": description}
        return decode(WebhookEndpointIssued, self._post_secret("/v1/webhook-endpoints", body))

    def rotate_webhook_secret(
        self, endpoint_id: Id, *, grace_seconds: int | None = None
    ) -> WebhookEndpointSecretRotated:
        """A new signing `.secret` (shown this once). Until `.previous_secret_expires_at`
        deliveries carry a signature by each secret: verify with both meanwhile
        (`verify_webhook([new, old], ...)`)."""
        body = _without_none(grace_seconds=grace_seconds)
        path = f"/v1/webhook-endpoints/{endpoint_id}/secret-rotations"
        return decode(WebhookEndpointSecretRotated, self._post_secret(path, body))

    def list_webhook_endpoints(self) -> list[WebhookEndpoint]:
        return _many(WebhookEndpoint, self._get("/v1/webhook-endpoints"))

    def update_webhook_endpoint(
        self,
        endpoint_id: Id,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        disabled: bool | None = None,
    ) -> WebhookEndpoint:
        """Change an endpoint; `disabled=True` holds its deliveries until enabled again."""
        body = _without_none(
            url=url,
            events=list(events) if events is not None else None,
            description=description,
            disabled=disabled,
        )
        data = self._request("PATCH", f"/v1/webhook-endpoints/{endpoint_id}", json=body)
        return decode(WebhookEndpoint, data)

    def list_deliveries(
        self,
        endpoint_id: Id,
        *,
        status: Literal["pending", "succeeded", "failed"] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[WebhookDelivery]:
        params = {"status": status, "limit": limit, "cursor": cursor}
        path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
        return decode(Page[WebhookDelivery], self._get(path, params))

    def get_delivery(self, delivery_id: Id) -> WebhookDeliveryDetail:
        """A delivery and its log of attempts."""
        return decode(WebhookDeliveryDetail, self._get(f"/v1/webhook-deliveries/{delivery_id}"))

    def redeliver(self, delivery_id: Id) -> WebhookDeliveryDetail:
        """Send a delivery again (pending and due now, with a fresh round of attempts)."""
        path = f"/v1/webhook-deliveries/{delivery_id}/redelivery"
        return decode(WebhookDeliveryDetail, self._post(path, None, None))

    # --- requests -----------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def _post(self, path: str, body: object, idempotency_key: str | None) -> Any:
        return self._request(
            "POST", path, json=body, idempotency_key=idempotency_key or new_idempotency_key()
        )

    def _post_secret(self, path: str, body: object) -> Any:
        # No Idempotency-Key: the server would keep the answer, secret and all, with it.
        return self._request("POST", path, json=body)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        idempotency_key: str | None = None,
        replayable: bool | None = None,
    ) -> Any:
        """Send with credentials; renew the token once on 401; raise on a refusal.
        `replayable`: whether a transport error may be retried though the request may
        have arrived (default: GETs and requests with an Idempotency-Key)."""
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        if replayable is None:
            replayable = method == "GET" or idempotency_key is not None
        renewed = False
        while True:
            credential = self._credential()
            headers["Authorization"] = f"Bearer {credential}"
            response = self._send(
                method,
                path,
                replayable=replayable,
                headers=headers,
                params=query,
                json=json,
                data=data,
                files=files,
            )
            if response.status_code == 401 and self._api_key is None and not renewed:
                # Expired early, or the server's key changed: one fresh token, one retry.
                self._drop_token(credential)
                renewed = True
                continue
            if response.is_error:
                raise error_from_response(response)
            return response.json() if response.content else None

    def _send(
        self,
        method: str,
        path: str,
        *,
        replayable: bool,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """One request, retried after transport errors when that is safe, and once after
        a 429 whose Retry-After is short."""
        retries = 0
        waited = False
        while True:
            try:
                response = self._http.request(
                    method,
                    path,
                    headers=headers,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                )
            except httpx.TransportError as exc:
                if retries >= self._retries or not (replayable or isinstance(exc, _UNSENT)):
                    raise
                time.sleep(RETRY_PAUSES_SECONDS[min(retries, len(RETRY_PAUSES_SECONDS) - 1)])
                retries += 1
                continue
            if response.status_code == 429 and not waited:
                wait = retry_after_seconds(response)
                if wait is not None and wait <= self._rate_limit_wait_max:
                    waited = True
                    time.sleep(wait)
                    continue
            return response

    # --- the client-credentials token ---------------------------------------------------

    def _credential(self) -> str:
        if self._api_key is not None:
            return self._api_key
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                self._token, self._token_renew_at = self._fetch_token()
            return self._token

    def _drop_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:  # another thread may have renewed it already
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        """RFC 6749 §4.4: a token for the client's credentials, and when to renew it."""
        assert self._client_id is not None and self._client_secret is not None
        # §2.3.1: both parts are form-urlencoded before the Basic encoding.
        pair = f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}"
        form = {"grant_type": "client_credentials"}
        if self._scopes is not None:
            form["scope"] = " ".join(self._scopes)
        sent_at = time.monotonic()
        response = self._send(
            "POST",
            "/oauth/token",
            replayable=True,  # asking again only issues another token
            headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
            data=form,
        )
        if response.is_error:
            raise error_from_response(response)
        token = decode(TokenRead, response.json())
        lifetime = float(token.expires_in)
        margin = min(lifetime * TOKEN_RENEW_SHARE, TOKEN_RENEW_MARGIN_MAX_SECONDS)
        return token.access_token, sent_at + lifetime - margin - TOKEN_EXPIRY_ROUNDING_SECONDS


def _many(model: type[M], data: Any) -> list[M]:
    if not isinstance(data, list):
        raise DecodeError("", f"expected a JSON array, got {type(data).__name__}")
    return [decode(model, item) for item in data]


def _text(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _without_none(**fields: object) -> dict[str, object]:
    """A JSON body of the given fields that are set, ids and dates as strings."""
    body: dict[str, object] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, uuid.UUID | datetime | date | Decimal):
            value = value.isoformat() if isinstance(value, datetime | date) else str(value)
        body[name] = value
    return body


def _jsonable(value: object) -> object:
    """A value for a JSON body: ids, dates and decimals as strings, containers walked."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _record_body(
    evidence: Sequence[Mapping[str, str]], quantity: Decimal | int | str, **fields: object
) -> dict[str, object]:
    body = _without_none(**fields)
    body["quantity"] = str(quantity)
    body["evidence"] = [dict(item) for item in evidence]
    return body


def _record_item(item: Mapping[str, Any]) -> object:
    if not item.get("idempotency_key"):
        raise ValueError("every item of a batch needs its own idempotency_key")
    body = dict(item)
    if "quantity" in body:
        body["quantity"] = str(body["quantity"])
    return _jsonable(body)


def _sheet_file(
    sheet: bytes | str | os.PathLike[str], filename: str | None
) -> dict[str, tuple[str, bytes, str]]:
    if isinstance(sheet, bytes):
        content = sheet
        name = filename or "sheet.csv"
    else:
        path = Path(sheet)
        content = path.read_bytes()
        name = filename or path.name
    kind = SHEET_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return {"file": (name, content, kind)}
