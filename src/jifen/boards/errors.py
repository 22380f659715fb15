"""Why a board, an entry on it, or its publication is refused."""

from __future__ import annotations

from jifen.problems import Problem


class BoardAlreadyPublished(Problem):
    code = "board_already_published"
    title = "The board is published: it no longer changes"
    title_zh = "该榜单已发布，不能再修改或重复发布"
    status = 409


class BoardEntryHolderInvalid(Problem):
    code = "board_entry_holder_invalid"
    title = "The entry's holder is not one of the board's village"
    title_zh = "上榜对象不属于该村"
    status = 422


class BoardEntryDuplicate(Problem):
    code = "board_entry_duplicate"
    title = "The holder is already on the board"
    title_zh = "该对象已在榜上"
    status = 409


class BoardEntriesTooMany(Problem):
    code = "board_entries_too_many"
    title = "The board would hold more entries than allowed"
    title_zh = "榜单条目超过上限"
    status = 422


class BoardRuleInvalid(Problem):
    code = "board_rule_invalid"
    title = "The board's rule is not a board rule of its side in the charter in force"
    title_zh = "榜单所用的积分规则无效（须为现行村规民约中对应红榜或黑榜的红黑榜规则）"
    status = 422


class BoardEntryNotScorable(Problem):
    code = "board_entry_not_scorable"
    title = "The entry cannot be scored by the board's rule"
    title_zh = "该上榜条目无法按榜单规则计分"
    status = 422


class BoardPeriodNotOver(Problem):
    code = "board_period_not_over"
    title = "The board's period has not begun yet"
    title_zh = "榜单所评周期尚未开始"
    status = 422


class BoardCsvInvalid(Problem):
    code = "board_csv_invalid"
    title = "The uploaded list cannot be read"
    title_zh = "上传的名单无法读取"
    status = 422


class PublicVillageNotFound(Problem):
    code = "public_village_not_found"
    title = "No such village"
    title_zh = "没有这个村"
    status = 404


class BoardInvalid(Problem):
    code = "board_invalid"
    title = "The board's period or sides do not fit together"
    title_zh = "榜单的周期或红黑两侧设置有误"
    status = 422
