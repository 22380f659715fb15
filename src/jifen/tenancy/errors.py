"""Why tenancy changes are refused."""

from __future__ import annotations

from jifen.problems import Problem


class MemberAlreadyDeactivated(Problem):
    code = "member_already_deactivated"
    title = "The member is already deactivated"
    title_zh = "该村民已停用"
    status = 409


class MemberNotInHousehold(Problem):
    code = "member_not_in_household"
    title = "The member does not belong to that household"
    title_zh = "该村民不属于该户"
    status = 409


class OtherVillage(Problem):
    code = "other_village"
    title = "Households and members can only be linked within one village"
    title_zh = "户与村民只能在同一村内关联"
    status = 422


class InvalidDate(Problem):
    code = "invalid_date"
    title = "The date does not fit the member's history"
    title_zh = "日期与该村民的履历不符"
    status = 422
