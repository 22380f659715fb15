"""Why a subsidy request is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class SchemeInvalidProblem(Problem):
    code = "subsidy_scheme_invalid"
    title = "The subsidy scheme document is not valid"
    status = 422


class SchemeEffectiveDateTaken(Problem):
    code = "subsidy_scheme_effective_date_not_after_current"
    title = "A new scheme version must take effect after every version and settled period"
    status = 409


class NoSchemeInForce(Problem):
    code = "no_subsidy_scheme_in_force"
    title = "No subsidy scheme version was in force at the period's start"
    status = 422


class WageRateMissing(Problem):
    code = "wage_rate_missing"
    title = "Labor was given on a day with no daily wage rate (工日单价) in force"
    status = 409


class WageRateDateTaken(Problem):
    code = "wage_rate_date_taken"
    title = "The township already has a daily wage rate from that day"
    status = 409


class GiverInvalid(Problem):
    code = "contribution_giver_invalid"
    title = "Name exactly one giver: a member, a household, or an organisation"
    status = 422


class ProjectAlreadyScored(Problem):
    code = "project_already_scored"
    title = "The household has already scored this project"
    status = 409


class PeriodInvalid(Problem):
    code = "settlement_period_invalid"
    title = "Give a quarter (2026Q1) or a first and last day, in that order"
    status = 422


class PoolExceeded(Problem):
    code = "subsidy_pool_exceeded"
    title = "The scheme's awards add up to more than its pool"
    status = 409


class SettlementStale(Problem):
    code = "settlement_stale"
    title = "The books changed since this draft was computed; compute it again"
    status = 409


class SettlementApprovedAlready(Problem):
    code = "settlement_period_approved"
    title = "Another settlement of this period is already approved"
    status = 409


class SelfApproval(Problem):
    code = "settlement_self_approval"
    title = "A settlement is approved by someone other than its drafter"
    status = 409
