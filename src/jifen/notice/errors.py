"""Refusals of the public notice domain, with their stable problem codes."""

from __future__ import annotations

from jifen.problems import Problem


class EntryNotOnList(Problem):
    """An objection names an entry of one list: the entry of another list is refused."""

    code = "entry_not_on_notice_list"
    title = "The entry is not on this notice list"
    title_zh = "该记账不在此公示名单上"
    status = 422


class NoticeListNotOpen(Problem):
    code = "notice_list_not_open"
    title = "The notice list is not open yet"
    title_zh = "公示名单尚未开始公示"
    status = 409


class AppealWindowClosed(Problem):
    code = "appeal_window_closed"
    title = "The notice list closed and its appeal window has ended"
    title_zh = "公示已结束且申诉期已过"
    status = 409


class EntryNotObjectable(Problem):
    """A voided or reversed entry (e.g. its record was revoked) no longer counts."""

    code = "entry_not_objectable"
    title = "The entry no longer counts: there is nothing to object to"
    title_zh = "该记账已作废或已冲正，无可异议"
    status = 409


class ObjectionAlreadyOpen(Problem):
    code = "objection_already_open"
    title = "An objection to this entry is waiting for a decision"
    title_zh = "该记账已有待处理的异议"
    status = 409


class ObjectionAlreadyDecided(Problem):
    code = "objection_already_decided"
    title = "The objection was decided already"
    title_zh = "该异议已处理"
    status = 409


class ObjectionDeciderNotAllowed(Problem):
    code = "objection_decider_not_allowed"
    title = "Only the list's deciding role decides its objections"
    title_zh = "只有公示名单指定的角色可以处理异议"
    status = 403
