"""A stateful property test of the ledger service layer on a real database.

Hypothesis throws random sequences of bookings (posted and pending, some that must be
refused: overdrafts, unbalanced entries, floor overrides a village does not allow,
duplicate accounts, accounts of another village), reversals, posts and voids at
jifen.ledger.service. A small model of its own (which entries exist and whether they
are pending, posted, voided or reversed) predicts every answer, refusals included.

After every step the books are checked from the database, each check computed
independently of the service (in full for every village whose books or model changed
since they were last checked; a village whose books head, balances and entry and posting
counts are unchanged has, the books being append-only, unchanged books):
- every entry's postings sum to zero per asset;
- every stored balance equals the sum of its postings (own SQL);
- replaying the postings in sequence order (own Python) reproduces every balance and
  every posting's balance_after;
- no entry took an account below its floor unless it carried allow_below_floor, and
  that permission is one the village grants for the entry's code (or it is a reversal);
- the hash chain verifies (service.verify_books);
- the entries, their postings, their statuses and the balances are what the model says.

Each example opens a new township with two villages, so it starts from empty books;
villages are independent books, so every check is scoped to the example's villages.
Village "a" lets conduct_penalty entries pass a floor, village "b" lets nothing; every
owner account has a floor of 0 except a member's "credit" account (-5); the issuance,
supermarket and expiry accounts have none; the fund (CNY) has a floor of 0.

Each refused call must leave the books exactly as they were. Run pytest with
--hypothesis-verbosity=verbose to see every step.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import Account, AccountBalance, Book, Entry, Posting
from jifen.problems import NotFound, Problem
from jifen.tenancy import service as tenancy

PENALTY = "conduct_penalty"  # the code village "a" lets pass a floor
NOT_ALLOWED_CODES = ("late_fee", "labor_award")  # no village lets these pass a floor
VILLAGES = ("a", "b")
ALLOWED_CODES = {"a": frozenset({PENALTY}), "b": frozenset[str]()}

# Accounts each village gets, by role. "credit" is a second member account whose floor
# is -5 (it may go five points into debt), to check floors other than zero.
MEMBER_ROLES = ("member1", "member2", "member3")
OWNER_ROLES = (*MEMBER_ROLES, "credit", "household")
SINK_ROLES = ("supermarket", "expiry")
CREDIT_FLOOR = -5

# Entry kinds of the model, and the posting effect each one writes.
BOOKING, PENDING, REVERSAL, PENDING_POST, PENDING_VOID = (
    "booking",
    "pending",
    "reversal",
    "pending_post",
    "pending_void",
)
EFFECT_OF_KIND = {
    BOOKING: "posted",
    PENDING: "pending",
    REVERSAL: "posted",
    PENDING_POST: "pending_posted",
    PENDING_VOID: "pending_voided",
}
CODE_OF_KIND = {REVERSAL: "reversal", PENDING_POST: "pending_post", PENDING_VOID: "pending_void"}

small_amounts = st.integers(min_value=1, max_value=8)


# --- the model -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bal:
    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits


@dataclass(frozen=True)
class AccountModel:
    id: uuid.UUID
    village: str
    role: str
    asset: Asset
    floor: int | None


@dataclass
class EntryModel:
    id: uuid.UUID
    seq: int
    kind: str
    code: str
    lines: tuple[tuple[uuid.UUID, int], ...]
    allow_below_floor: bool = False
    pending_entry_id: uuid.UUID | None = None
    reverses_entry_id: uuid.UUID | None = None
    resolved_by: uuid.UUID | None = None  # pending entries: the post or void
    reversed_by: uuid.UUID | None = None

    @property
    def effect(self) -> str:
        return EFFECT_OF_KIND[self.kind]

    def __repr__(self) -> str:
        links = {
            "pending_entry": self.pending_entry_id,
            "reverses": self.reverses_entry_id,
            "resolved_by": self.resolved_by,
            "reversed_by": self.reversed_by,
        }
        return (
            f"<entry #{self.seq} {self.kind} {self.code!r} {self.id}"
            f" amounts={[amount for _, amount in self.lines]}"
            + "".join(f" {key}={value}" for key, value in links.items() if value)
            + (" allow_below_floor" if self.allow_below_floor else "")
            + ">"
        )


@dataclass
class VillageModel:
    name: str
    id: uuid.UUID
    allowed_codes: frozenset[str]
    accounts: dict[str, AccountModel]
    entries: list[EntryModel] = field(default_factory=list)
    by_id: dict[uuid.UUID, EntryModel] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<village {self.name} {self.id}: {len(self.entries)} entries>"

    def add(self, entry: EntryModel) -> None:
        self.entries.append(entry)
        self.by_id[entry.id] = entry

    def resolution_kind(self, entry: EntryModel) -> str | None:
        return self.by_id[entry.resolved_by].kind if entry.resolved_by else None

    def status(self, entry: EntryModel) -> str:
        """What service.get_entry should call the entry."""
        if entry.kind == PENDING:
            resolution = self.resolution_kind(entry)
            if resolution is None:
                return "pending"
            if resolution == PENDING_VOID:
                return "voided"
            assert entry.resolved_by is not None
            return "reversed" if self.by_id[entry.resolved_by].reversed_by else "posted"
        return "reversed" if entry.reversed_by else "posted"

    def balances(self) -> dict[uuid.UUID, Bal]:
        """Balances from what each entry is now, not from replaying effects: bookings and
        reversals count; a pending entry holds its amounts until it is posted (then they
        count as posted) or voided (then they count for nothing)."""
        posted: dict[uuid.UUID, int] = defaultdict(int)
        debits: dict[uuid.UUID, int] = defaultdict(int)
        credits: dict[uuid.UUID, int] = defaultdict(int)
        for entry in self.entries:
            if entry.kind in (BOOKING, REVERSAL):
                for account_id, amount in entry.lines:
                    posted[account_id] += amount
            elif entry.kind == PENDING:
                resolution = self.resolution_kind(entry)
                for account_id, amount in entry.lines:
                    if resolution == PENDING_POST:
                        posted[account_id] += amount
                    elif resolution is None and amount < 0:
                        debits[account_id] -= amount
                    elif resolution is None:
                        credits[account_id] += amount
        return {
            a.id: Bal(posted[a.id], debits[a.id], credits[a.id]) for a in self.accounts.values()
        }


@dataclass(frozen=True)
class Refusal:
    problem: type[Problem]
    extra: dict[str, Any] = field(default_factory=dict)


def effect_delta(effect: str, amount: int) -> Bal:
    """What one posting does to a balance, as documented on models.Posting."""
    debit = amount < 0
    match effect:
        case "posted":
            return Bal(posted=amount)
        case "pending":
            return Bal(pending_debits=-amount) if debit else Bal(pending_credits=amount)
        case "pending_posted":
            if debit:
                return Bal(posted=amount, pending_debits=amount)
            return Bal(posted=amount, pending_credits=-amount)
        case "pending_voided":
            return Bal(pending_debits=amount) if debit else Bal(pending_credits=-amount)
    raise AssertionError(f"unknown effect {effect!r}")


def plus(a: Bal, b: Bal) -> Bal:
    return Bal(
        a.posted + b.posted,
        a.pending_debits + b.pending_debits,
        a.pending_credits + b.pending_credits,
    )


# --- the state machine ---------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    db: ClassVar[Database]
    app_settings: ClassVar[Settings]

    def __init__(self) -> None:
        super().__init__()
        self.villages: dict[str, VillageModel] = {}
        # What each village's books looked like when last checked in full.
        self.checked: dict[uuid.UUID, tuple[Any, ...]] = {}

    # -- helpers

    def clock(self) -> ledger.Clock:
        return ledger.Clock(now=utc_now(), settings=self.app_settings)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.db.unit_of_work(write=False) as session:
            yield session

    def states(self, s: Session) -> dict[uuid.UUID, tuple[Any, ...]]:
        """Per village of the example: its books head, balances and how many entries and
        postings it has. Entries and postings are append-only, so while this stays the
        same, so do the books."""
        ids = [v.id for v in self.villages.values()]
        heads = {
            row.village_id: (row.last_seq, row.last_hash)
            for row in s.execute(
                select(Book.village_id, Book.last_seq, Book.last_hash).where(
                    Book.village_id.in_(ids)
                )
            )
        }
        balances: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
        for row in s.execute(
            select(
                AccountBalance.village_id,
                AccountBalance.account_id,
                AccountBalance.posted,
                AccountBalance.pending_debits,
                AccountBalance.pending_credits,
                AccountBalance.last_seq,
            )
            .where(AccountBalance.village_id.in_(ids))
            .order_by(AccountBalance.account_id)
        ):
            balances[row[0]].append(tuple(row[1:]))
        entries = {
            row[0]: row[1]
            for row in s.execute(
                select(Entry.village_id, func.count())
                .where(Entry.village_id.in_(ids))
                .group_by(Entry.village_id)
            )
        }
        postings = {
            row[0]: row[1]
            for row in s.execute(
                select(Posting.village_id, func.count())
                .where(Posting.village_id.in_(ids))
                .group_by(Posting.village_id)
            )
        }
        return {
            i: (heads.get(i), tuple(balances[i]), entries.get(i, 0), postings.get(i, 0))
            for i in ids
        }

    def snapshot(self) -> dict[uuid.UUID, tuple[Any, ...]]:
        """Everything a refused call must leave as it was."""
        with self.reading() as s:
            return self.states(s)

    def call(
        self,
        action: Callable[[Session, ledger.Clock], ledger.EntryView],
        refusal: Refusal | None,
    ) -> ledger.EntryView | None:
        """Run one service call in its own unit of work; expect exactly `refusal`."""
        if refusal is None:
            with self.db.unit_of_work() as session:
                return action(session, self.clock())
        event(f"refused: {refusal.problem.code}")
        before = self.snapshot()
        with pytest.raises(Problem) as info, self.db.unit_of_work() as session:
            action(session, self.clock())
        assert type(info.value) is refusal.problem, (
            f"expected {refusal.problem.__name__}, got {info.value!r}"
        )
        for key, value in refusal.extra.items():
            assert info.value.extra.get(key) == value, (key, info.value.extra, refusal.extra)
        assert self.snapshot() == before, "a refused call changed the books"
        return None

    def record(
        self,
        village: VillageModel,
        view: ledger.EntryView | None,
        *,
        kind: str,
        code: str,
        lines: Sequence[tuple[uuid.UUID, int]],
        allow_below_floor: bool = False,
        pending_entry_id: uuid.UUID | None = None,
        reverses_entry_id: uuid.UUID | None = None,
    ) -> EntryModel:
        """Check what the service returned for a booking and add it to the model."""
        assert view is not None
        entry = view.entry
        model = EntryModel(
            id=entry.id,
            seq=len(village.entries) + 1,
            kind=kind,
            code=code,
            lines=tuple(lines),
            allow_below_floor=allow_below_floor,
            pending_entry_id=pending_entry_id,
            reverses_entry_id=reverses_entry_id,
        )
        assert view.status == ("pending" if kind == PENDING else "posted")
        assert not view.replayed
        assert entry.village_id == village.id
        assert entry.seq == model.seq
        assert entry.code == code
        assert entry.is_pending == (kind == PENDING)
        assert entry.allow_below_floor == allow_below_floor
        assert entry.pending_entry_id == pending_entry_id
        assert entry.reverses_entry_id == reverses_entry_id
        assert [(p.account_id, p.amount, p.effect) for p in entry.postings] == [
            (account_id, amount, model.effect) for account_id, amount in lines
        ]
        village.add(model)
        if pending_entry_id is not None:
            village.by_id[pending_entry_id].resolved_by = model.id
        if reverses_entry_id is not None:
            village.by_id[reverses_entry_id].reversed_by = model.id
        after = village.balances()
        for p in entry.postings:
            # The posted balance after the line; an entry names an account once.
            assert p.balance_after == after[p.account_id].posted, p
        event(f"booked: {kind}")
        for account in village.accounts.values():
            if account.floor is not None and after[account.id].available < account.floor:
                event(f"below floor after: {kind} {code}")
        # The service's view of every entry the booking changed the status of.
        touched = {model.id, pending_entry_id, reverses_entry_id}
        if reverses_entry_id is not None:
            touched.add(village.by_id[reverses_entry_id].pending_entry_id)
        self.check_views(village, [entry_id for entry_id in touched if entry_id is not None])
        return model

    def check_views(self, village: VillageModel, entry_ids: Sequence[uuid.UUID]) -> None:
        """service.get_entry agrees with the model on status and links."""
        with self.reading() as s:
            views = [ledger.get_entry(s, entry_id) for entry_id in entry_ids]
        for view in views:
            entry = village.by_id[view.entry.id]
            assert view.status == village.status(entry), (entry, view.status)
            assert view.resolved_by_entry_id == entry.resolved_by, entry
            reversed_by = entry.reversed_by
            if entry.kind == PENDING and entry.resolved_by is not None:
                reversed_by = village.by_id[entry.resolved_by].reversed_by
            assert view.reversed_by_entry_id == reversed_by, entry

    def account(self, village: str, role: str) -> AccountModel:
        return self.villages[village].accounts[role]

    # -- predictions

    def predict_booking(
        self,
        village: VillageModel,
        lines: Sequence[tuple[AccountModel, int]],
        code: str,
        allow_below_floor: bool,
    ) -> Refusal | None:
        """The refusal the writer should give, in the order it checks."""
        seen: set[uuid.UUID] = set()
        for account, amount in lines:
            if account.id in seen:
                return Refusal(errors.DuplicateAccount, {"account_id": str(account.id)})
            seen.add(account.id)
            if amount == 0:
                return Refusal(errors.AmountOutOfRange, {"account_id": str(account.id)})
        for account, _ in lines:
            if account.village != village.name:
                return Refusal(errors.AccountInOtherBooks, {"account_id": str(account.id)})
        sums: dict[str, int] = defaultdict(int)
        for account, amount in lines:
            sums[account.asset.value] += amount
        unbalanced = {asset: total for asset, total in sums.items() if total}
        if unbalanced:
            return Refusal(errors.UnbalancedEntry, {"sums": unbalanced})
        if allow_below_floor and code not in village.allowed_codes:
            return Refusal(errors.FloorOverrideNotAllowed, {"entry_code": code})
        if allow_below_floor:
            return None
        balances = village.balances()
        for account, amount in lines:
            if amount >= 0 or account.floor is None:
                continue
            available = balances[account.id].available
            if available + amount < account.floor:
                if account.asset is Asset.POINTS:
                    return Refusal(
                        errors.InsufficientPoints,
                        {
                            "account_id": str(account.id),
                            "balance_points": available,
                            "requested_points": -amount,
                            "floor_points": account.floor,
                        },
                    )
                return Refusal(
                    errors.InsufficientFunds,
                    {
                        "account_id": str(account.id),
                        "balance_fen": available,
                        "requested_fen": -amount,
                        "floor_fen": account.floor,
                    },
                )
        return None

    def predict_reversal(
        self, village: VillageModel, entry: EntryModel
    ) -> tuple[EntryModel | None, Refusal | None]:
        """The entry a reversal books the mirror of, or why it is refused."""
        target = entry
        if entry.kind == PENDING:
            resolution = village.resolution_kind(entry)
            if resolution is None or resolution == PENDING_VOID:
                return None, Refusal(errors.EntryNotReversible, {"entry_id": str(entry.id)})
            assert entry.resolved_by is not None
            target = village.by_id[entry.resolved_by]
        if target.kind in (REVERSAL, PENDING_VOID):
            return None, Refusal(errors.EntryNotReversible, {"entry_id": str(target.id)})
        if target.reversed_by is not None:
            return None, Refusal(
                errors.EntryAlreadyReversed,
                {"entry_id": str(target.id), "reversed_by_entry_id": str(target.reversed_by)},
            )
        return target, None

    def predict_resolution(self, village: VillageModel, entry: EntryModel) -> Refusal | None:
        if entry.kind != PENDING:
            return Refusal(errors.EntryNotPending, {"entry_id": str(entry.id)})
        resolution = village.resolution_kind(entry)
        if resolution is None:
            return None
        problem = (
            errors.PendingEntryAlreadyPosted
            if resolution == PENDING_POST
            else errors.PendingEntryAlreadyVoided
        )
        return Refusal(
            problem, {"entry_id": str(entry.id), "resolved_by_entry_id": str(entry.resolved_by)}
        )

    # -- actions

    def book(
        self,
        village_name: str,
        lines: Sequence[tuple[AccountModel, int]],
        *,
        code: str,
        is_pending: bool,
        allow_below_floor: bool = False,
    ) -> None:
        village = self.villages[village_name]
        refusal = self.predict_booking(village, lines, code, allow_below_floor)
        view = self.call(
            lambda s, clock: ledger.book(
                s,
                village_id=village.id,
                code=code,
                postings=[ledger.PostingInput(a.id, amount) for a, amount in lines],
                actor="stateful",
                clock=clock,
                is_pending=is_pending,
                allow_below_floor=allow_below_floor,
            ),
            refusal,
        )
        if refusal is None:
            self.record(
                village,
                view,
                kind=PENDING if is_pending else BOOKING,
                code=code,
                lines=[(a.id, amount) for a, amount in lines],
                allow_below_floor=allow_below_floor,
            )

    def reverse(self, village: VillageModel, entry: EntryModel) -> None:
        target, refusal = self.predict_reversal(village, entry)
        view = self.call(
            lambda s, clock: ledger.reverse(
                s, entry_id=entry.id, actor="stateful", clock=clock, reason="test"
            ),
            refusal,
        )
        if target is not None:
            self.record(
                village,
                view,
                kind=REVERSAL,
                code=CODE_OF_KIND[REVERSAL],
                lines=[(account_id, -amount) for account_id, amount in target.lines],
                allow_below_floor=True,
                reverses_entry_id=target.id,
            )

    def resolve(self, village: VillageModel, entry: EntryModel, post: bool) -> None:
        refusal = self.predict_resolution(village, entry)

        def action(s: Session, clock: ledger.Clock) -> ledger.EntryView:
            if post:
                return ledger.post_pending(s, entry_id=entry.id, actor="stateful", clock=clock)
            return ledger.void_pending(s, entry_id=entry.id, actor="stateful", clock=clock)

        view = self.call(action, refusal)
        if refusal is None:
            kind = PENDING_POST if post else PENDING_VOID
            self.record(
                village,
                view,
                kind=kind,
                code=CODE_OF_KIND[kind],
                lines=entry.lines,
                pending_entry_id=entry.id,
            )

    # -- setup

    @initialize(
        opening=st.lists(
            st.integers(min_value=0, max_value=10),
            min_size=len(VILLAGES) * (len(OWNER_ROLES) + 1),
            max_size=len(VILLAGES) * (len(OWNER_ROLES) + 1),
        )
    )
    def open_villages(self, opening: list[int]) -> None:
        """A new township with two villages, and some opening balances so that spending
        is not refused from the start: one multi-line award entry and one fund top-up
        per village (when not zero)."""
        now = utc_now()
        with self.db.unit_of_work() as s:
            township = tenancy.create_township(
                s, code=f"t{uuid.uuid4().hex}", name="状态测试镇", now=now
            )
            for name in VILLAGES:
                self.villages[name] = self.open_village(s, township.id, name)
        amounts = iter(opening)
        for name in VILLAGES:
            lines = [(self.account(name, role), next(amounts)) for role in OWNER_ROLES]
            lines = [(account, amount) for account, amount in lines if amount]
            if lines:
                issuance = self.account(name, "issuance")
                total = sum(amount for _, amount in lines)
                self.book(name, [(issuance, -total), *lines], code="opening", is_pending=False)
            fen = next(amounts)
            if fen:
                fund, funding = self.account(name, "fund"), self.account(name, "funding")
                self.book(name, [(funding, -fen), (fund, fen)], code="fund_topup", is_pending=False)

    def open_village(self, s: Session, township_id: uuid.UUID, name: str) -> VillageModel:
        now = utc_now()
        today = self.clock().local_date(now)
        village = tenancy.create_village(
            s,
            township_id=township_id,
            code=f"v{name}",
            name=f"状态测试村{name}",
            allow_below_floor_codes=sorted(ALLOWED_CODES[name]),
            now=now,
        )
        found: list[tuple[str, Account | None, int | None]] = []
        for role in MEMBER_ROLES:
            member = tenancy.create_member(
                s, village_id=village.id, name=f"村民{role}", now=now, today=today
            )
            account = ledger.find_account(
                s, village_id=village.id, kind=AccountKind.MEMBER, owner_id=member.id
            )
            found.append((role, account, 0))
            if role == "member1":
                credit = ledger.open_account(
                    s,
                    village_id=village.id,
                    kind=AccountKind.MEMBER,
                    member_id=member.id,
                    category="credit",
                    balance_floor=CREDIT_FLOOR,
                    use_default_floor=False,
                    now=now,
                )
                found.append(("credit", credit, CREDIT_FLOOR))
        household = tenancy.create_household(
            s, village_id=village.id, number="1", name="测试户", now=now
        )
        found.append(
            (
                "household",
                ledger.find_account(
                    s, village_id=village.id, kind=AccountKind.HOUSEHOLD, owner_id=household.id
                ),
                0,
            )
        )
        for role, kind, asset, category, floor in (
            ("issuance", AccountKind.ISSUANCE, Asset.POINTS, "general", None),
            ("supermarket", AccountKind.SUPERMARKET, Asset.POINTS, "main", None),
            ("expiry", AccountKind.EXPIRY, Asset.POINTS, "main", None),
            ("fund", AccountKind.FUND, Asset.CNY, "main", 0),
            ("funding", AccountKind.FUNDING, Asset.CNY, "main", None),
        ):
            account = ledger.find_account(
                s, village_id=village.id, kind=kind, asset=asset, category=category
            )
            found.append((role, account, floor))
        accounts: dict[str, AccountModel] = {}
        for role, account, floor in found:
            assert account is not None, role
            assert account.balance_floor == floor, (role, account.balance_floor)
            accounts[role] = AccountModel(account.id, name, role, Asset(account.asset), floor)
        return VillageModel(name, village.id, ALLOWED_CODES[name], accounts)

    # -- bookings

    @rule(
        village=st.sampled_from(VILLAGES),
        to=st.sampled_from(OWNER_ROLES),
        amount=st.integers(min_value=1, max_value=20),
        is_pending=st.booleans(),
    )
    def award(self, village: str, to: str, amount: int, is_pending: bool) -> None:
        """Issue points: the issuance account has no floor, so this always books."""
        self.book(
            village,
            [(self.account(village, "issuance"), -amount), (self.account(village, to), amount)],
            code="labor_award",
            is_pending=is_pending,
        )

    @rule(
        village=st.sampled_from(VILLAGES),
        source=st.sampled_from(OWNER_ROLES),
        payee=st.sampled_from(OWNER_ROLES + SINK_ROLES),
        amount=small_amounts,
        is_pending=st.booleans(),
        code=st.sampled_from(("transfer", "supermarket_redeem")),
    )
    def spend(
        self, village: str, source: str, payee: str, amount: int, is_pending: bool, code: str
    ) -> None:
        """Move points from an owner: refused when it would overdraw."""
        if payee == source:
            payee = "supermarket"
        self.book(
            village,
            [(self.account(village, source), -amount), (self.account(village, payee), amount)],
            code=code,
            is_pending=is_pending,
        )

    @rule(
        village=st.sampled_from(VILLAGES),
        sources=st.lists(st.sampled_from(OWNER_ROLES), min_size=2, max_size=3, unique=True),
        amounts=st.lists(small_amounts, min_size=3, max_size=3),
        payee=st.sampled_from(OWNER_ROLES + SINK_ROLES),
        is_pending=st.booleans(),
    )
    def collect(
        self,
        village: str,
        sources: list[str],
        amounts: list[int],
        payee: str,
        is_pending: bool,
    ) -> None:
        """Several owners pay one account in one entry; the first line that would
        overdraw names the refusal."""
        if payee in sources:
            payee = "supermarket"
        lines = [
            (self.account(village, role), -amount)
            for role, amount in zip(sources, amounts, strict=False)
        ]
        total = sum(amounts[: len(sources)])
        lines.append((self.account(village, payee), total))
        self.book(village, lines, code="household_collect", is_pending=is_pending)

    @rule(
        village=st.sampled_from(VILLAGES),
        source=st.sampled_from(OWNER_ROLES),
        amount=st.integers(min_value=1, max_value=12),
        code=st.sampled_from((PENALTY, PENALTY, *NOT_ALLOWED_CODES)),
        allow_below_floor=st.booleans(),
        is_pending=st.booleans(),
    )
    def penalty(
        self,
        village: str,
        source: str,
        amount: int,
        code: str,
        allow_below_floor: bool,
        is_pending: bool,
    ) -> None:
        """Take points away, sometimes with a permission to pass the floor: only village
        "a", and only for its penalty code, may grant it."""
        self.book(
            village,
            [(self.account(village, source), -amount), (self.account(village, "expiry"), amount)],
            code=code,
            is_pending=is_pending,
            allow_below_floor=allow_below_floor,
        )

    @rule(
        village=st.sampled_from(VILLAGES),
        into_fund=st.booleans(),
        amount=small_amounts,
        is_pending=st.booleans(),
    )
    def money(self, village: str, into_fund: bool, amount: int, is_pending: bool) -> None:
        """Money (fen) in and out of the fund, which has a floor of zero."""
        fund, funding = self.account(village, "fund"), self.account(village, "funding")
        source, target = (funding, fund) if into_fund else (fund, funding)
        self.book(
            village,
            [(source, -amount), (target, amount)],
            code="fund_topup" if into_fund else "fund_payout",
            is_pending=is_pending,
        )

    @rule(
        village=st.sampled_from(VILLAGES),
        member=st.sampled_from(MEMBER_ROLES),
        points=small_amounts,
        fen=small_amounts,
        money_first=st.booleans(),
        is_pending=st.booleans(),
    )
    def redeem(
        self, village: str, member: str, points: int, fen: int, money_first: bool, is_pending: bool
    ) -> None:
        """A two-asset entry: points to the supermarket, money out of the fund."""
        points_lines = [
            (self.account(village, member), -points),
            (self.account(village, "supermarket"), points),
        ]
        money_lines = [
            (self.account(village, "fund"), -fen),
            (self.account(village, "funding"), fen),
        ]
        lines = money_lines + points_lines if money_first else points_lines + money_lines
        self.book(village, lines, code="supermarket_redeem", is_pending=is_pending)

    @rule(
        village=st.sampled_from(VILLAGES),
        drafts=st.lists(
            st.tuples(
                st.sampled_from(("issuance", *OWNER_ROLES)),
                st.sampled_from(OWNER_ROLES + SINK_ROLES),
                small_amounts,
                st.booleans(),
            ),
            min_size=2,
            max_size=6,
        ),
    )
    def group(self, village: str, drafts: list[tuple[str, str, int, bool]]) -> None:
        """Bookings committed together by the group committer, in one transaction, with
        refusals in the middle: each refused one refuses only itself and leaves nothing;
        the others are booked in the order they came, as if one after another."""
        model = self.villages[village]
        plans: list[tuple[list[tuple[AccountModel, int]], bool, Refusal | None]] = []
        provisional: list[EntryModel] = []
        for source, payee, amount, is_pending in drafts:
            if payee == source:
                payee = "expiry"
            lines = [
                (self.account(village, source), -amount),
                (self.account(village, payee), amount),
            ]
            refusal = self.predict_booking(model, lines, "group_booking", False)
            plans.append((lines, is_pending, refusal))
            if refusal is None:
                # Later drafts of the group see this one's amounts.
                entry = EntryModel(
                    id=uuid.uuid4(),
                    seq=len(model.entries) + 1,
                    kind=PENDING if is_pending else BOOKING,
                    code="group_booking",
                    lines=tuple((a.id, n) for a, n in lines),
                )
                model.add(entry)
                provisional.append(entry)
        for entry in provisional:
            model.entries.remove(entry)
            del model.by_id[entry.id]

        def booking(
            lines: list[tuple[AccountModel, int]], is_pending: bool
        ) -> Callable[[Session], ledger.EntryView]:
            return lambda s: ledger.book(
                s,
                village_id=model.id,
                code="group_booking",
                postings=[ledger.PostingInput(a.id, n) for a, n in lines],
                actor="stateful",
                clock=self.clock(),
                is_pending=is_pending,
            )

        committer = self.db.committer
        groups_before = committer.stats.groups
        outcomes = committer.run_all_sync([booking(lines, pending) for lines, pending, _ in plans])
        # Queued together, they went in one transaction.
        assert committer.stats.groups == groups_before + 1
        event(f"group of {len(plans)}, {sum(1 for *_, r in plans if r)} refused")
        for (lines, is_pending, refusal), outcome in zip(plans, outcomes, strict=True):
            if refusal is not None:
                assert type(outcome) is refusal.problem, (refusal, outcome)
                assert isinstance(outcome, Problem)
                for key, value in refusal.extra.items():
                    assert outcome.extra.get(key) == value, (key, outcome.extra, refusal.extra)
                continue
            assert isinstance(outcome, ledger.EntryView), outcome
            self.record(
                model,
                outcome,
                kind=PENDING if is_pending else BOOKING,
                code="group_booking",
                lines=[(a.id, n) for a, n in lines],
            )

    @rule(
        village=st.sampled_from(VILLAGES),
        flaw=st.sampled_from(
            ("unbalanced", "unbalanced_across_assets", "other_village", "duplicate", "zero")
        ),
        role=st.sampled_from(OWNER_ROLES),
        amount=small_amounts,
        off_by=st.integers(min_value=-3, max_value=3).filter(bool),
        is_pending=st.booleans(),
    )
    def malformed(
        self, village: str, flaw: str, role: str, amount: int, off_by: int, is_pending: bool
    ) -> None:
        """Entries that can never be booked: refused whatever the balances, even when
        they would also overdraw."""
        owner = self.account(village, role)
        issuance, expiry = self.account(village, "issuance"), self.account(village, "expiry")
        other_village = next(name for name in VILLAGES if name != village)
        lines: list[tuple[AccountModel, int]]
        match flaw:
            case "unbalanced":
                lines = [(owner, -amount), (expiry, amount + off_by)]
            case "unbalanced_across_assets":  # zero in total, but not per asset
                lines = [(owner, -amount), (self.account(village, "fund"), amount)]
            case "other_village":
                lines = [(issuance, -amount), (self.account(other_village, role), amount)]
            case "duplicate":
                lines = [(issuance, -2 * amount), (owner, amount), (owner, amount)]
            case _:
                lines = [(issuance, -amount), (owner, amount), (expiry, 0)]
        self.book(village, lines, code="transfer", is_pending=is_pending)

    # -- corrections and resolutions

    def draw_entry(
        self,
        data: st.DataObject,
        keep: Callable[[VillageModel, EntryModel], bool],
        *,
        or_unknown: bool = False,
    ) -> tuple[VillageModel, EntryModel | None]:
        """An entry of either village that `keep` accepts; with `or_unknown`, perhaps
        (last, so rarely) an entry id that does not exist."""
        # Drawn as (village, seq), so that a failing example reads well.
        candidates: list[tuple[str, int | None]] = [
            (village.name, entry.seq)
            for village in self.villages.values()
            for entry in village.entries
            if keep(village, entry)
        ]
        if or_unknown:
            candidates.append((VILLAGES[0], None))
        name, seq = data.draw(st.sampled_from(candidates), label="village and entry seq")
        village = self.villages[name]
        return village, None if seq is None else village.entries[seq - 1]

    def has_entries(self) -> bool:
        return any(v.entries for v in self.villages.values())

    def has_open_pending(self) -> bool:
        return any(
            e.kind == PENDING and e.resolved_by is None
            for v in self.villages.values()
            for e in v.entries
        )

    def has_reversible(self) -> bool:
        return any(
            self.predict_reversal(v, e)[1] is None
            for v in self.villages.values()
            for e in v.entries
        )

    def unknown_entry(self, operation: str) -> None:
        """Reversing, posting or voiding an entry that does not exist."""
        entry_id = uuid.uuid4()

        def action(s: Session, clock: ledger.Clock) -> ledger.EntryView:
            if operation == "reverse":
                return ledger.reverse(s, entry_id=entry_id, actor="stateful", clock=clock)
            if operation == "post":
                return ledger.post_pending(s, entry_id=entry_id, actor="stateful", clock=clock)
            return ledger.void_pending(s, entry_id=entry_id, actor="stateful", clock=clock)

        self.call(action, Refusal(NotFound, {"resource": "entry"}))

    @precondition(lambda self: self.has_entries())
    @rule(data=st.data())
    def reverse_any(self, data: st.DataObject) -> None:
        """Reverse any entry: pending, voided, reversals and voids are not reversible;
        a second reversal is refused."""
        village, entry = self.draw_entry(data, lambda v, e: True, or_unknown=True)
        if entry is None:
            self.unknown_entry("reverse")
        else:
            self.reverse(village, entry)

    @precondition(lambda self: self.has_reversible())
    @rule(data=st.data())
    def reverse_reversible(self, data: st.DataObject) -> None:
        village, entry = self.draw_entry(data, lambda v, e: self.predict_reversal(v, e)[1] is None)
        assert entry is not None
        self.reverse(village, entry)

    @precondition(lambda self: self.has_entries())
    @rule(data=st.data(), post=st.booleans())
    def resolve_any(self, data: st.DataObject, post: bool) -> None:
        """Post or void any entry: only an unresolved pending entry may be."""
        village, entry = self.draw_entry(data, lambda v, e: True, or_unknown=True)
        if entry is None:
            self.unknown_entry("post" if post else "void")
        else:
            self.resolve(village, entry, post)

    @precondition(lambda self: self.has_open_pending())
    @rule(data=st.data(), post=st.booleans())
    def resolve_open(self, data: st.DataObject, post: bool) -> None:
        village, entry = self.draw_entry(
            data, lambda v, e: e.kind == PENDING and e.resolved_by is None
        )
        assert entry is not None
        self.resolve(village, entry, post)

    # -- invariants, checked after every step

    @invariant()
    def books_are_sound(self) -> None:
        """Check each village's books in full whenever they (or the model) changed since
        they were last checked."""
        with self.reading() as s:
            states = self.states(s)
            for village in self.villages.values():
                key = (states[village.id], len(village.entries))
                if self.checked.get(village.id) != key:
                    self.check_village(s, village)
                    self.checked[village.id] = key

    def check_village(self, s: Session, village: VillageModel) -> None:
        accounts = {
            row.id: row
            for row in s.execute(
                select(Account.id, Account.asset, Account.balance_floor).where(
                    Account.village_id == village.id
                )
            )
        }
        assert {a.id: a.balance_floor for a in accounts.values()} == {
            a.id: a.floor for a in village.accounts.values()
        }
        stored = {
            row.account_id: Bal(row.posted, row.pending_debits, row.pending_credits)
            for row in s.execute(
                select(
                    AccountBalance.account_id,
                    AccountBalance.posted,
                    AccountBalance.pending_debits,
                    AccountBalance.pending_credits,
                ).where(AccountBalance.village_id == village.id)
            )
        }
        assert set(stored) == set(accounts)
        entries = s.execute(
            select(
                Entry.id,
                Entry.seq,
                Entry.code,
                Entry.is_pending,
                Entry.allow_below_floor,
                Entry.pending_entry_id,
                Entry.reverses_entry_id,
                Entry.posting_count,
            )
            .where(Entry.village_id == village.id)
            .order_by(Entry.seq)
        ).all()
        postings = s.execute(
            select(
                Posting.seq,
                Posting.position,
                Posting.account_id,
                Posting.asset,
                Posting.amount,
                Posting.effect,
                Posting.balance_after,
            )
            .where(Posting.village_id == village.id)
            .order_by(Posting.seq, Posting.position)
        ).all()

        # 1. Every entry's postings sum to zero per asset, and each posting's asset is
        # its account's.
        unbalanced = s.execute(
            select(Posting.entry_id, Posting.asset, func.sum(Posting.amount))
            .where(Posting.village_id == village.id)
            .group_by(Posting.entry_id, Posting.asset)
            .having(func.sum(Posting.amount) != 0)
        ).all()
        assert unbalanced == [], unbalanced
        for p in postings:
            assert p.asset == accounts[p.account_id].asset, p
        by_seq = {seq: list(group) for seq, group in itertools.groupby(postings, lambda p: p.seq)}
        assert list(by_seq) == [e.seq for e in entries]
        for e in entries:
            assert e.posting_count == len(by_seq[e.seq]) >= 2, e
            assert [p.position for p in by_seq[e.seq]] == list(range(e.posting_count)), e

        # 2. Every stored balance is the sum of its postings, summed by the database.
        self.check_sums(s, village, stored)

        # 3. Replaying the postings in sequence order gives every balance and every
        # posting's balance_after; 4. nothing went below a floor without permission.
        replayed: dict[uuid.UUID, Bal] = defaultdict(Bal)
        for e in entries:
            if e.allow_below_floor:
                assert e.code == "reversal" or e.code in village.allowed_codes, (
                    f"entry seq {e.seq} carries a floor permission its village does not "
                    f"grant for {e.code!r}"
                )
            for p in by_seq[e.seq]:
                before = replayed[p.account_id]
                after = plus(before, effect_delta(p.effect, p.amount))
                replayed[p.account_id] = after
                assert p.balance_after == after.posted, (e, p)
                assert after.pending_debits >= 0 and after.pending_credits >= 0, (e, p)
                floor = accounts[p.account_id].balance_floor
                if floor is not None and after.available < min(before.available, floor):
                    assert e.allow_below_floor, (
                        f"entry seq {e.seq} ({e.code}) took account {p.account_id} from "
                        f"{before.available} to {after.available}, below its floor {floor}, "
                        "without permission"
                    )
        for account_id, balance in stored.items():
            assert balance == replayed.get(account_id, Bal()), (account_id, balance)

        # 5. The hash chain verifies.
        result = ledger.verify_books(s, village.id)
        assert result.is_intact, result
        assert result.entries_checked == result.last_seq == len(village.entries)

        # 6. The books are what the model says.
        assert [tuple(row)[:-1] for row in entries] == [
            (
                e.id,
                e.seq,
                e.code,
                e.kind == PENDING,
                e.allow_below_floor,
                e.pending_entry_id,
                e.reverses_entry_id,
            )
            for e in village.entries
        ]
        assert [(p.seq, p.account_id, p.amount, p.effect) for p in postings] == [
            (e.seq, account_id, amount, e.effect)
            for e in village.entries
            for account_id, amount in e.lines
        ]
        assert stored == village.balances()

    def check_sums(self, s: Session, village: VillageModel, stored: dict[uuid.UUID, Bal]) -> None:
        debit, credit = Posting.amount < 0, Posting.amount > 0
        pending = Posting.effect == "pending"
        resolved = Posting.effect.in_(("pending_posted", "pending_voided"))
        posted_sum = func.sum(
            case((Posting.effect.in_(("posted", "pending_posted")), Posting.amount), else_=0)
        )
        debits_sum = func.sum(
            case(
                (and_(debit, pending), -Posting.amount),
                (and_(debit, resolved), Posting.amount),
                else_=0,
            )
        )
        credits_sum = func.sum(
            case(
                (and_(credit, pending), Posting.amount),
                (and_(credit, resolved), -Posting.amount),
                else_=0,
            )
        )
        sums = {
            row[0]: Bal(int(row[1]), int(row[2]), int(row[3]))
            for row in s.execute(
                select(Posting.account_id, posted_sum, debits_sum, credits_sum)
                .where(Posting.village_id == village.id)
                .group_by(Posting.account_id)
            )
        }
        assert set(sums) <= set(stored)
        for account_id, balance in stored.items():
            assert balance == sums.get(account_id, Bal()), (account_id, balance, sums)

    def teardown(self) -> None:
        """At the end of each example: every village in full again, and the service's
        view of every entry."""
        with self.reading() as s:
            for village in self.villages.values():
                self.check_village(s, village)
                page = ledger.list_entries(s, village_id=village.id, limit=1000)
                assert page.next_cursor is None
                assert [view.entry.id for view in page.items] == [
                    e.id for e in reversed(village.entries)
                ]
        for village in self.villages.values():
            self.check_views(village, [e.id for e in village.entries])
        event(f"entries per example: {sum(len(v.entries) for v in self.villages.values())}")


HYPOTHESIS_SETTINGS = hypothesis_settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_ledger_service_keeps_its_invariants(db: Database, settings: Settings) -> None:
    machine = type("LedgerServiceMachine", (LedgerMachine,), {"db": db, "app_settings": settings})
    run_state_machine_as_test(machine, settings=HYPOTHESIS_SETTINGS)
