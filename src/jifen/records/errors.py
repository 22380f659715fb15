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
