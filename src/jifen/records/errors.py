"""Why recording, reviewing or revoking is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class DuplicateRecord(Problem):
    code = "duplicate_record"
    title = "This occurrence was already recorded for this person and rule"
    status = 409


class RecorderNotAllowed(Problem):
    code = "recorder_not_allowed"
    title = "The charter does not let this recorder record this rule"
    status = 403


class ReviewerNotAllowed(Problem):
    code = "reviewer_not_allowed"
    title = "The charter does not let this reviewer decide this stage"
    status = 403


class ReviewBySameActor(Problem):
    code = "review_by_same_actor"
    title = "A record is reviewed by someone other than its recorder and earlier reviewers"
    status = 409


class RecordNotPending(Problem):
    code = "record_not_pending"
    title = "Only a pending record can be reviewed"
    status = 409


class RecordNotRevocable(Problem):
    code = "record_not_revocable"
    title = "Only an approved record can be revoked"
    status = 409


class EvidenceMissing(Problem):
    code = "evidence_missing"
    title = "The rule needs evidence the record does not carry"
    status = 422


class SubjectInvalid(Problem):
    code = "record_subject_invalid"
    title = "The record must name a member (or a household) of the village"
    status = 422


class ProjectNotInVillage(Problem):
    code = "project_not_in_village"
    title = "The project is not one of the village's"
    status = 422
