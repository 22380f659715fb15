"""Why recording, reviewing or revoking is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class DuplicateRecord(Problem):
    code = "duplicate_record"
    title = "This occurrence was already recorded for this person and rule"
    title_zh = "此人此规则的这次事项已记录过"
    status = 409


class RecorderNotAllowed(Problem):
    code = "recorder_not_allowed"
    title = "The charter does not let this recorder record this rule"
    title_zh = "章程不允许该记录人记录此规则"
    status = 403


class ReviewerNotAllowed(Problem):
    code = "reviewer_not_allowed"
    title = "The charter does not let this reviewer decide this stage"
    title_zh = "章程不允许该审核人审核此环节"
    status = 403


class ReviewBySameActor(Problem):
    code = "review_by_same_actor"
    title = "A record is reviewed by someone other than its recorder and earlier reviewers"
    title_zh = "记录须由记录人和前序审核人以外的人审核"
    status = 409


class RecordNotPending(Problem):
    code = "record_not_pending"
    title = "Only a pending record can be reviewed"
    title_zh = "只有待审核的记录可以审核"
    status = 409


class RecordNotRevocable(Problem):
    code = "record_not_revocable"
    title = "Only an approved record can be revoked"
    title_zh = "只有已通过的记录可以撤销"
    status = 409


class EvidenceMissing(Problem):
    code = "evidence_missing"
    title = "The rule needs evidence the record does not carry"
    title_zh = "该规则需要佐证，但记录没有附上"
    status = 422


class SubjectInvalid(Problem):
    code = "record_subject_invalid"
    title = "The record must name a member (or a household) of the village"
    title_zh = "记录必须指明本村的一位村民（或一户）"
    status = 422


class ProjectNotInVillage(Problem):
    code = "project_not_in_village"
    title = "The project is not one of the village's"
    title_zh = "该项目不属于本村"
    status = 422


class RecordNotAmendable(Problem):
    code = "record_not_amendable"
    title = "Only a pending or approved record can be amended"
    title_zh = "只有待审核或已生效的记录可以更正"
    status = 409


class AmendmentNotOwnRecord(Problem):
    code = "amendment_not_own_record"
    title = "Only the record's recorder, a reviewer of the village or the revoking role amends it"
    title_zh = "只有记录人、本村审核人或有撤回权限的人可以更正该记录"
    status = 403


class AmendmentWindowClosed(Problem):
    code = "amendment_window_closed"
    title = "The charter's amendment window has passed: the revoking role amends it now"
    title_zh = "已超过章程规定的更正期限，须由有撤回权限的人更正"
    status = 403


class NoticeClosed(Problem):
    code = "notice_closed"
    title = "The record's public notice has closed: the revoking role amends it now"
    title_zh = "该记录的公示已结束，须由有撤回权限的人更正"
    status = 403


class RecordUnderObjection(Problem):
    code = "record_under_objection"
    title = "An objection to the record waits for a decision: decide it first"
    title_zh = "该记录有待处理的公示异议，请先处理异议"
    status = 409


class AmendmentChangesNothing(Problem):
    code = "amendment_changes_nothing"
    title = "The amendment names the same quantity, subject and rule as the record"
    title_zh = "更正内容与原记录相同（数量、对象、规则均未改变）"
    status = 422


class SheetUnreadable(Problem):
    code = "sheet_unreadable"
    title = "The sheet is not a CSV or XLSX file with the columns a record sheet has"
    title_zh = "表格无法读取：须为含规定表头的 CSV 或 XLSX 文件"
    status = 422


class SheetTooLarge(Problem):
    code = "sheet_too_large"
    title = "The sheet has too many rows or bytes"
    title_zh = "表格行数或文件大小超过上限"
    status = 413


class SheetRowInvalid(Problem):
    code = "sheet_row_invalid"
    title = "A row of the sheet cannot be read as a record"
    title_zh = "表格中该行无法识别为一条记录"
    status = 422
