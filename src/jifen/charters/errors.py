"""Why a charter, a version or a scoring is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class CharterInvalidProblem(Problem):
    code = "charter_invalid"
    title = "The charter document is not valid"
    status = 422


class CharterVersionNotDraft(Problem):
    code = "charter_version_not_draft"
    title = "Only a draft version can be published"
    status = 409


class CharterEffectiveDateTaken(Problem):
    code = "charter_effective_date_not_after_current"
    title = "A new version must take effect after every published version"
    status = 409


class CharterWouldRescore(Problem):
    code = "charter_would_rescore_records"
    title = "Events on or after the effective date were already scored by another version"
    status = 409


class NoCharterInForce(Problem):
    code = "no_charter_in_force"
    title = "No published charter version was in force on that day"
    status = 422


class UnknownRule(Problem):
    code = "unknown_rule"
    title = "The charter version in force has no such rule"
    status = 422


class InvalidQuantity(Problem):
    code = "invalid_quantity"
    title = "The quantity does not suit the rule"
    status = 422


class UnsupportedMediaType(Problem):
    code = "unsupported_media_type"
    title = "Send the charter as application/json or application/yaml"
    status = 415


class CharterUnavailable(Problem):
    """A published version names a rule type this server cannot load (a plugin that is
    not installed here): the operator's to fix, not the caller's."""

    code = "charter_unavailable"
    title = "The charter version uses a rule type this server does not have"
    status = 503
