"""Why the ledger refuses a booking. Each code is stable: clients switch on it."""

from __future__ import annotations

from jifen.problems import Problem


class UnbalancedEntry(Problem):
    code = "unbalanced_entry"
    title = "The postings of an entry must sum to zero per asset"
    title_zh = "分录各笔记账按资产合计必须为零"
    status = 422


class TooFewPostings(Problem):
    code = "too_few_postings"
    title = "An entry needs at least two postings"
    title_zh = "一条分录至少需要两笔记账"
    status = 422


class TooManyPostings(Problem):
    code = "too_many_postings"
    title = "An entry has more postings than allowed"
    title_zh = "分录的记账笔数超过上限"
    status = 422


class DuplicateAccount(Problem):
    code = "duplicate_account"
    title = "An account appears twice in one entry"
    title_zh = "同一分录中账户重复出现"
    status = 422


class AmountOutOfRange(Problem):
    code = "amount_out_of_range"
    title = "A posting amount is zero or too large"
    title_zh = "记账金额为零或过大"
    status = 422


class InvalidEntryCode(Problem):
    code = "invalid_entry_code"
    title = "The entry code is not allowed"
    title_zh = "不允许使用该分录代码"
    status = 422


class AccountInOtherBooks(Problem):
    code = "account_in_other_books"
    title = "Every account of an entry must belong to the entry's village books"
    title_zh = "分录的所有账户必须属于该分录所在村的账簿"
    status = 422


class InsufficientPoints(Problem):
    code = "insufficient_points"
    title = "Not enough points available"
    title_zh = "可用积分不足"
    status = 409


class InsufficientFunds(Problem):
    code = "insufficient_funds"
    title = "Not enough money available"
    title_zh = "可用资金不足"
    status = 409


class InsufficientStock(Problem):
    code = "insufficient_stock"
    title = "Not enough of a good on the shelf (库存不足)"
    title_zh = "库存不足"
    status = 409


class GoodsNeedTheSupermarket(Problem):
    code = "goods_need_the_supermarket"
    title = "Goods move only through the supermarket's own operations"
    title_zh = "商品只能通过积分超市自身的操作出入库"
    status = 422


class FloorOverrideNotAllowed(Problem):
    code = "floor_override_not_allowed"
    title = "This village does not let entries of this code pass a balance floor"
    title_zh = "本村不允许此类分录突破余额下限"
    status = 422


class MemberInactive(Problem):
    code = "member_inactive"
    title = "The member was deactivated before the entry's date"
    title_zh = "该村民在分录日期之前已停用"
    status = 409


class OccurredInFuture(Problem):
    code = "occurred_at_in_future"
    title = "An entry cannot be dated in the future"
    title_zh = "分录日期不能晚于当前时间"
    status = 422


class EntryAlreadyReversed(Problem):
    code = "entry_already_reversed"
    title = "The entry has already been reversed"
    title_zh = "该分录已被冲销"
    status = 409


class EntryNotReversible(Problem):
    code = "entry_not_reversible"
    title = "This entry cannot be reversed"
    title_zh = "该分录不能冲销"
    status = 409


class EntryNotPending(Problem):
    code = "entry_not_pending"
    title = "The entry is not a pending entry"
    title_zh = "该分录不是待定分录"
    status = 409


class PendingEntryAlreadyPosted(Problem):
    code = "pending_entry_already_posted"
    title = "The pending entry has already been posted"
    title_zh = "该待定分录已入账"
    status = 409


class PendingEntryAlreadyVoided(Problem):
    code = "pending_entry_already_voided"
    title = "The pending entry has already been voided"
    title_zh = "该待定分录已作废"
    status = 409


class AccountAlreadyExists(Problem):
    code = "account_already_exists"
    title = "The owner already has an account of this kind, category and asset"
    title_zh = "该所有者已有同类别、同资产的账户"
    status = 409


class InvalidAccount(Problem):
    code = "invalid_account"
    title = "The account's kind and owner do not fit together"
    title_zh = "账户类型与所有者不匹配"
    status = 422


class EntryBelongsToRecord(Problem):
    code = "entry_belongs_to_record"
    title = "The entry was booked for a charter record: revoke the record instead"
    title_zh = "该分录由章程记录产生，请撤销记录"
    status = 409


class EarmarkedFunds(Problem):
    code = "earmarked_funds_to_owner"
    title = (
        "Subsidy money is earmarked for project construction: it may not go to members, "
        "households or organisations"
    )
    title_zh = "以奖代补资金限用于项目建设，不得转入村民、农户或组织账户"
    status = 422


class UseRecords(Problem):
    """Where a charter is in force, points reach members and households through its
    records (caps, evidence, duplicates); a raw entry is a manual adjustment."""

    code = "use_records"
    title = "A charter is in force: award points through records, not raw entries"
    title_zh = "本村已施行积分章程：请通过积分登记记分，不能直接记账"
    status = 409


class WithheldSubsidyMovesByRelease(Problem):
    code = "withheld_subsidy_moves_by_release"
    title = "Withheld subsidy money moves only by its release after the projects' acceptance"
    title_zh = "暂扣的以奖代补资金只能在项目验收后通过拨付或收回变动"
    status = 409
