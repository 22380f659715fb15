"""Refusals of the expiry domain, with their stable problem codes."""

from __future__ import annotations

from jifen.problems import Problem


class NotHolderAccount(Problem):
    """Only a member's or a household's spendable points account has lots that expire."""

    code = "not_a_holder_account"
    title = "Only a member's or household's spendable points expire"
    title_zh = "只有村民或户的可用积分会过期"
    status = 422
