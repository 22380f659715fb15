"""Why a charter, a version or a scoring is refused. Each code is stable."""

from __future__ import annotations

import re
from collections.abc import Iterable

from jifen.problems import Problem


def fields_zh(fields: Iterable[str]) -> str:
    """The places a charter's errors name, for a Chinese detail: field paths stay as they
    are, `line 3` reads 第 3 行 and `(document)` 整个文件."""
    names = []
    for field in fields:
        line = re.fullmatch(r"line (\d+)", field)
        if line:
            names.append(f"第 {line.group(1)} 行")
        else:
            names.append("整个文件" if field == "(document)" else field)
    return "、".join(dict.fromkeys(names))


class CharterInvalidProblem(Problem):
    code = "charter_invalid"
    title = "The charter document is not valid"
    title_zh = "章程文件无效"
    status = 422


class CharterVersionNotDraft(Problem):
    code = "charter_version_not_draft"
    title = "Only a draft version can be published"
    title_zh = "只有草稿版本可以发布"
    status = 409


class CharterEffectiveDateTaken(Problem):
    code = "charter_effective_date_not_after_current"
    title = "A new version must take effect after every published version"
    title_zh = "新版本的生效日期必须晚于所有已发布版本"
    status = 409


class CharterWouldRescore(Problem):
    code = "charter_would_rescore_records"
    title = "Events on or after the effective date were already scored by another version"
    title_zh = "生效日期当天或之后的事件已按其他版本计分"
    status = 409


class NoCharterInForce(Problem):
    code = "no_charter_in_force"
    title = "No published charter version was in force on that day"
    title_zh = "当天没有生效的已发布章程版本"
    status = 422


class UnknownRule(Problem):
    code = "unknown_rule"
    title = "The charter version in force has no such rule"
    title_zh = "生效的章程版本中没有该条规则"
    status = 422


class InvalidQuantity(Problem):
    code = "invalid_quantity"
    title = "The quantity does not suit the rule"
    title_zh = "数量不符合该规则"
    status = 422


class UnsupportedMediaType(Problem):
    code = "unsupported_media_type"
    title = "Send the charter as application/json or application/yaml"
    title_zh = "请以 application/json 或 application/yaml 提交章程"
    status = 415


class CharterUnavailable(Problem):
    """A published version names a rule type this server cannot load (a plugin that is
    not installed here): the operator's to fix, not the caller's."""

    code = "charter_unavailable"
    title = "The charter version uses a rule type this server does not have"
    title_zh = "该章程版本使用了本服务器不支持的规则类型"
    status = 503
