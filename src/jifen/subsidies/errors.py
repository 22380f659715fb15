"""Why a subsidy request is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class SchemeInvalidProblem(Problem):
    code = "subsidy_scheme_invalid"
    title = "The subsidy scheme document is not valid"
    title_zh = "补助方案文件无效"
    status = 422


class SchemeEffectiveDateTaken(Problem):
    code = "subsidy_scheme_effective_date_not_after_current"
    title = "A new scheme version must take effect after every version and settled period"
    title_zh = "新方案版本的生效日期必须晚于所有版本和已结算期间"
    status = 409


class NoSchemeInForce(Problem):
    code = "no_subsidy_scheme_in_force"
    title = "No subsidy scheme version was in force at the period's start"
    title_zh = "期间开始时没有生效的补助方案版本"
    status = 422


class WageRateMissing(Problem):
    code = "wage_rate_missing"
    title = "Labor was given on a day with no daily wage rate (工日单价) in force"
    title_zh = "投工当天没有生效的工日单价"
    status = 409


class WageRateDateTaken(Problem):
    code = "wage_rate_date_taken"
    title = "The township already has a daily wage rate from that day"
    title_zh = "该乡镇从该日起已有工日单价"
    status = 409


class GiverInvalid(Problem):
    code = "contribution_giver_invalid"
    title = "Name exactly one giver: a member, a household, or an organisation"
    title_zh = "请只指定一个出资方：村民、户或组织"
    status = 422


class ProjectAlreadyScored(Problem):
    code = "project_already_scored"
    title = "The household has already scored this project"
    title_zh = "该户已就此项目计过分"
    status = 409


class PeriodInvalid(Problem):
    code = "settlement_period_invalid"
    title = "Give a quarter (2026Q1) or a first and last day, in that order"
    title_zh = "请给出一个季度（如 2026Q1）或按先后顺序的起止日期"
    status = 422


class PoolExceeded(Problem):
    code = "subsidy_pool_exceeded"
    title = "The scheme's awards add up to more than its pool"
    title_zh = "方案奖励合计超过资金池"
    status = 409


class SettlementStale(Problem):
    code = "settlement_stale"
    title = "The books changed since this draft was computed; compute it again"
    title_zh = "草稿计算后账目已变动，请重新计算"
    status = 409


class SettlementApprovedAlready(Problem):
    code = "settlement_period_approved"
    title = "Another settlement of this period is already approved"
    title_zh = "该期间已有另一份结算单获批"
    status = 409


class SelfApproval(Problem):
    code = "settlement_self_approval"
    title = "A settlement is approved by someone other than its drafter"
    title_zh = "结算单须由起草人以外的人审批"
    status = 409


class ProjectAlreadyAccepted(Problem):
    code = "project_already_accepted"
    title = "The project's acceptance (验收) is already recorded"
    title_zh = "该项目已登记验收结果"
    status = 409


class ProjectCancelled(Problem):
    code = "project_cancelled"
    title = "A cancelled project cannot be accepted"
    title_zh = "已取消的项目不能验收"
    status = 409


class NothingWithheld(Problem):
    code = "subsidy_nothing_withheld"
    title = "Nothing of this village's award in this settlement was withheld"
    title_zh = "该结算单未暂扣该村的奖补资金"
    status = 409


class ReleaseNotAccepted(Problem):
    code = "subsidy_release_not_accepted"
    title = "The village's projects of the period have not all been accepted (验收) yet"
    title_zh = "该村本期项目尚未全部验收，暂扣资金不能拨付"
    status = 409


class ReleaseNoProject(Problem):
    code = "subsidy_release_no_project"
    title = "The village had no project in the period whose acceptance could release the money"
    title_zh = "该村本期没有可据以验收拨付的项目"
    status = 409


class RegionUnknown(Problem):
    code = "subsidy_region_unknown"
    title = "The scheme names a region (片区) no village of the township is in, or leaves one out"
    title_zh = "方案中的片区与本乡镇各村所属片区不符"
    status = 422


class VillageWithoutRegion(Problem):
    code = "subsidy_village_without_region"
    title = "The scheme reads each village's region (片区), and some villages have none"
    title_zh = "方案按片区计算，但有村未划入片区"
    status = 422


class WhatIfSchemeInvalid(Problem):
    code = "what_if_scheme_invalid"
    title = "Give exactly one of scheme_version_id (of this township) and scheme"
    title_zh = "请只给出本乡镇的一个方案版本或一份方案文件"
    status = 422
