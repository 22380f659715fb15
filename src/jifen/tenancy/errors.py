"""Why tenancy changes are refused."""

from __future__ import annotations

from jifen.problems import Problem


class MemberAlreadyDeactivated(Problem):
    code = "member_already_deactivated"
    title = "The member is already deactivated"
    status = 409


class MemberNotInHousehold(Problem):
    code = "member_not_in_household"
    title = "The member does not belong to that household"
    status = 409


class OtherVillage(Problem):
    code = "other_village"
    title = "Households and members can only be linked within one village"
    status = 422


class InvalidDate(Problem):
    code = "invalid_date"
    title = "The date does not fit the member's history"
    status = 422
