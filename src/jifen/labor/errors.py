"""Why a project, an activity or a check-in is refused. Each code is stable.

Check-in codes: a code that is not one of ours (bad signature, malformed, another
audience such as an access token) is `check_in_code_invalid`; one of ours past its expiry
is `check_in_code_expired`; both are 422, the payload being at fault. A genuine code of
another village's activity is `check_in_code_wrong_village` (403: the member may not
check in there). The activity's own state (not yet open, ended, closed) is a 409.
"""

from __future__ import annotations

from jifen.problems import Problem


class ProjectCodeTaken(Problem):
    code = "project_code_taken"
    title = "The village already has a project with this code"
    title_zh = "本村已有相同编号的项目"
    status = 409


class ProjectDatesInvalid(Problem):
    code = "project_dates_invalid"
    title = "A project ends on or after the day it starts"
    title_zh = "项目结束日期不能早于开始日期"
    status = 422


class ActivityWindowInvalid(Problem):
    code = "activity_window_invalid"
    title = "An activity ends after it starts, not in the past, and lasts a limited time"
    title_zh = "活动须在开始后结束、不在过去，且时长有限"
    status = 422


class RuleNotForCheckIn(Problem):
    code = "rule_not_for_check_in"
    title = "The charter does not let this rule be recorded by check-in"
    title_zh = "章程不允许通过签到记录该规则"
    status = 422


class RuleNeedsEvidence(Problem):
    code = "rule_needs_evidence"
    title = "The rule needs evidence a check-in cannot give"
    title_zh = "该规则需要签到无法提供的佐证"
    status = 422


class ActivityNotStarted(Problem):
    code = "activity_not_started"
    title = "Check-in has not opened yet"
    title_zh = "签到尚未开始"
    status = 409


class ActivityEnded(Problem):
    code = "activity_ended"
    title = "The activity has ended"
    title_zh = "活动已结束"
    status = 409


class ActivityClosed(Problem):
    code = "activity_closed"
    title = "The activity was closed"
    title_zh = "活动已关闭"
    status = 409


class CheckInCodeInvalid(Problem):
    code = "check_in_code_invalid"
    title = "This is not a check-in code of this service"
    title_zh = "这不是本系统的签到码"
    status = 422


class CheckInCodeExpired(Problem):
    code = "check_in_code_expired"
    title = "The check-in code has expired"
    title_zh = "签到码已过期"
    status = 422


class CheckInCodeWrongVillage(Problem):
    code = "check_in_code_wrong_village"
    title = "The check-in code is for an activity of another village"
    title_zh = "该签到码属于其他村的活动"
    status = 403
