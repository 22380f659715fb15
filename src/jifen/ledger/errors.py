"""Why the ledger refuses a booking. Each code is stable: clients switch on it."""

from __future__ import annotations

from jifen.problems import Problem


class UnbalancedEntry(Problem):
    code = "unbalanced_entry"
    title = "The postings of an entry must sum to zero per asset"
    status = 422


class TooFewPostings(Problem):
    code = "too_few_postings"
    title = "An entry needs at least two postings"
    status = 422


class TooManyPostings(Problem):
    code = "too_many_postings"
    title = "An entry has more postings than allowed"
    status = 422


class DuplicateAccount(Problem):
    code = "duplicate_account"
    title = "An account appears twice in one entry"
    status = 422


class AmountOutOfRange(Problem):
    code = "amount_out_of_range"
    title = "A posting amount is zero or too large"
    status = 422


class InvalidEntryCode(Problem):
    code = "invalid_entry_code"
    title = "The entry code is not allowed"
    status = 422


class AccountInOtherBooks(Problem):
    code = "account_in_other_books"
    title = "Every account of an entry must belong to the entry's village books"
    status = 422


class InsufficientPoints(Problem):
    code = "insufficient_points"
    title = "Not enough points available"
    status = 409


class InsufficientFunds(Problem):
    code = "insufficient_funds"
    title = "Not enough money available"
    status = 409


class InsufficientStock(Problem):
    code = "insufficient_stock"
    title = "Not enough of a good on the shelf (库存不足)"
    status = 409


class GoodsNeedTheSupermarket(Problem):
    code = "goods_need_the_supermarket"
    title = "Goods move only through the supermarket's own operations"
    status = 422


class FloorOverrideNotAllowed(Problem):
    code = "floor_override_not_allowed"
    title = "This village does not let entries of this code pass a balance floor"
    status = 422


class MemberInactive(Problem):
    code = "member_inactive"
    title = "The member was deactivated before the entry's date"
    status = 409


class OccurredInFuture(Problem):
    code = "occurred_at_in_future"
    title = "An entry cannot be dated in the future"
    status = 422


class EntryAlreadyReversed(Problem):
    code = "entry_already_reversed"
    title = "The entry has already been reversed"
    status = 409


class EntryNotReversible(Problem):
    code = "entry_not_reversible"
    title = "This entry cannot be reversed"
    status = 409


class EntryNotPending(Problem):
    code = "entry_not_pending"
    title = "The entry is not a pending entry"
    status = 409


class PendingEntryAlreadyPosted(Problem):
    code = "pending_entry_already_posted"
    title = "The pending entry has already been posted"
    status = 409


class PendingEntryAlreadyVoided(Problem):
    code = "pending_entry_already_voided"
    title = "The pending entry has already been voided"
    status = 409


class AccountAlreadyExists(Problem):
    code = "account_already_exists"
    title = "The owner already has an account of this kind, category and asset"
    status = 409


class InvalidAccount(Problem):
    code = "invalid_account"
    title = "The account's kind and owner do not fit together"
    status = 422


class EntryBelongsToRecord(Problem):
    code = "entry_belongs_to_record"
    title = "The entry was booked for a charter record: revoke the record instead"
    status = 409
