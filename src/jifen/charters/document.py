"""The charter document: what a clerk writes (JSON, or YAML by hand) and uploads.

Validation runs in two passes. Pydantic checks the shape; then each rule's parameters
are checked by its rule type, and the cross-references (rule ids, review stages,
categories, merit) are checked against each other. Every error names the field it is
about, in the document's own terms: `rules[3].params.points_per_unit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from jifen.charters.rules import registry
from jifen.charters.rules.protocol import RuleType
from jifen.kit.schemas import Invalid
from jifen.problems import validation_errors

RULES_MAX = 500
# Recorders that are not roles: a resident's own report through a client (个人申报), and a
# check-in at an activity (扫码签到).
RECORDER_RESIDENT = "resident"
RECORDER_CHECK_IN = "check_in"
SENIOR_ROLES = frozenset({"platform_admin", "township_admin"})
# Real charters name rules LY-01 and categories 党建引领: Unicode letters and digits,
# `-` and `_` (and `.` in rule ids, as before); `\w` is Unicode-aware here.
_ID = r"^[^\W_][\w.-]{0,63}$"
_CATEGORY = r"^[^\W_][\w-]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Track(StrEnum):
    POINTS = "points"  # spendable points (兑换积分)
    MERIT = "merit"  # merit score (荣誉积分 / 文明积分 / 信用分)


class Holder(StrEnum):
    MEMBER = "member"
    HOUSEHOLD = "household"


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    EVER = "ever"  # once in a lifetime (回村创业 +30 只计一次)


class DuplicatesPer(StrEnum):
    """Whose occurrence a rule counts once: the member named, their household whichever
    member is named (a weekly yard inspection), or the adopted space recorded."""

    MEMBER = "member"
    HOUSEHOLD = "household"
    SPACE = "space"


class InspectionCadence(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class Evidence(StrEnum):
    PHOTO = "photo"
    WITNESS = "witness"
    INSPECTOR = "inspector"
    DOCUMENT = "document"


class DeductionFloor(StrEnum):
    ZERO = "zero"  # take only what is there
    NEGATIVE = "negative"  # go below zero: spending is blocked until it is earned back


class ExpiryPolicy(StrEnum):
    CARRY_OVER = "carry_over"  # 结转累计使用: points never expire
    YEARLY_CLEAR = "yearly_clear"  # 每年清零: balances clear on a day the charter names
    AFTER_MONTHS = "after_months"  # points expire a number of months after they were earned


class NegativeBalances(StrEnum):
    KEEP = "keep"  # a balance below zero stays, as a debt
    CLEAR = "clear"  # a balance below zero is cleared to zero at the yearly clearing


class Cap(_Strict):
    """At most so many points, or so many counted occurrences (once per person, ever;
    twice a month), per member or household in a period: exactly one of the two."""

    per: Holder
    period: CapPeriod
    max_points: int | None = Field(default=None, ge=1, le=1_000_000)
    max_occurrences: int | None = Field(
        default=None, ge=1, le=10_000, description="at most this many records that scored"
    )

    @model_validator(mode="after")
    def _one_limit(self) -> Cap:
        if (self.max_points is None) == (self.max_occurrences is None):
            raise Invalid(
                "a cap has exactly one of max_points and max_occurrences",
                "上限须且只须填写 max_points 和 max_occurrences 中的一项",
            )
        return self


class CategoryCap(Cap):
    category: str = Field(pattern=_CATEGORY)


class Duplicates(_Strict):
    per: DuplicatesPer
    period: CapPeriod = Field(
        description="one occurrence per this period (day, week, month, quarter, year, ever)"
    )


class RuleDocument(_Strict):
    id: str = Field(pattern=_ID, description="stable id, kept across versions")
    category: str = Field(pattern=_CATEGORY, examples=["labor", "sanitation", "conduct"])
    label: str = Field(min_length=1, max_length=100, description="the rule's name, in Chinese")
    type: str = Field(min_length=1, max_length=64, description="a registered rule type")
    params: dict[str, Any] = Field(default_factory=dict)
    moves: list[Track] = Field(default=[Track.POINTS], min_length=1, max_length=2)
    caps: list[Cap] = Field(default_factory=list, max_length=8)
    recorders: list[str] = Field(default=["village_clerk"], min_length=1, max_length=20)
    evidence: list[Evidence] = Field(default_factory=list, max_length=4)
    allow_repeats: bool = Field(
        default=False,
        description="the same member (or household) may be recorded twice for one occurrence",
    )
    duplicates: Duplicates | None = Field(
        default=None,
        description="what counts as the same occurrence, when not the member and the day "
        "(or the occurrence the recorder names)",
    )
    description: str = Field(default="", max_length=1000)

    @field_validator("moves", "evidence", "recorders")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise Invalid("must not repeat a value", "不能有重复的值")
        return values


class ReviewStage(_Strict):
    id: str = Field(pattern=_ID, examples=["first_review"])
    label: str = Field(min_length=1, max_length=40, examples=["初审"])
    roles: list[str] = Field(min_length=1, max_length=20)


class Review(_Strict):
    stages: list[ReviewStage] = Field(default_factory=list, max_length=4)
    # Which recorders' entries wait, and for which stages, in order. A recorder not named
    # here counts at once.
    required: dict[str, list[str]] = Field(default_factory=dict)


class Merit(_Strict):
    enabled: bool = False
    label: str = Field(default="文明积分", min_length=1, max_length=20)
    deductions_lower: bool = Field(
        default=True, description="whether deductions may lower the merit score"
    )


class NoticeMode(StrEnum):
    BEFORE = "before"  # pre-effective: points pending until the list closes (先公示后生效)
    AFTER = "after"  # count at once, open to challenge (先生效后公示)


class NoticePeriod(StrEnum):
    MONTHLY = "monthly"  # the records of month M are listed in month M+1


class NoticeScope(_Strict):
    """One notice list setting: which rule categories, how, and when (see docs/public-notice.md)."""

    categories: list[str] | Literal["all"] = Field(
        description='the rule categories listed, or "all"', examples=["all", ["environment"]]
    )
    mode: NoticeMode
    period: NoticePeriod = NoticePeriod.MONTHLY
    opens_on_day: int = Field(
        ge=1, le=28, description="the day of the month the list opens (e.g. 25, 民主议政日)"
    )
    days: int = Field(ge=1, le=60, description="how many days the list runs")
    appeal_days: int = Field(
        ge=0, le=366, description="late appeals are heard this many days after closing"
    )
    deciding_role: str = Field(
        min_length=1,
        max_length=64,
        description="the role that decides objections (村务监督委员会, the clerk)",
        examples=["supervision_committee", "village_clerk"],
    )

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            if not value:
                raise Invalid(
                    'name at least one category, or "all"', '请至少指明一个类别，或写 "all"'
                )
            if len(set(value)) != len(value):
                raise Invalid("must not repeat a value", "不能有重复的值")
        return value


# What the first version's `public_notice` carried by default: every stored document has
# it, and it meant nothing (nothing read it), so it is dropped rather than refused.
_LEGACY_NOTICE_DEFAULTS = {"days": 7, "categories": []}


class PublicNotice(_Strict):
    # `days` and `categories` are the first version's shape: nothing ever read them. A new
    # document naming them is refused (compile_charter); stored documents still load.
    days: int | None = Field(
        default=None,
        ge=0,
        le=60,
        exclude=True,
        description="refused: set `days` in each of settings.public_notice.lists",
    )
    categories: list[str] | None = Field(
        default=None,
        max_length=20,
        exclude=True,
        description="refused: set `categories` in each of settings.public_notice.lists",
    )
    lists: list[NoticeScope] = Field(default_factory=list, max_length=20)

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key: value
                for key, value in data.items()
                if not (key in _LEGACY_NOTICE_DEFAULTS and value == _LEGACY_NOTICE_DEFAULTS[key])
            }
        return data


# Points announced as expiring this many days ahead, unless the charter says otherwise.
NOTICE_DAYS_DEFAULT = 30
# Every document stored before expiry was applied carries this (then the default) under
# carry_over; it meant nothing there, and is dropped rather than refused.
_LEGACY_CLEAR_ON = "01-01"


class Expiry(_Strict):
    """When spendable points expire (see docs/expiry.md). Merit scores never expire."""

    policy: ExpiryPolicy = Field(
        default=ExpiryPolicy.CARRY_OVER,
        description="carry_over: points never expire (结转累计使用); yearly_clear: balances "
        "clear once a year, on `clear_on` (每年清零); after_months: points expire `months` "
        "months after they were earned, the oldest spent first",
    )
    clear_on: str | None = Field(
        default=None,
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
        description="yearly_clear only: the last day of the points year's grace, MM-DD. At "
        "the end of that day the points earned up to the last 31 December on or before it "
        "are cleared: 12-31 clears the year just ended; 01-10 leaves ten days of January "
        "to spend last year's points, and keeps what was earned since 1 January",
        examples=["12-31", "01-10"],
    )
    months: int | None = Field(
        default=None,
        ge=1,
        le=120,
        description="after_months only: points earned on a day can be spent until the day "
        "before the same day this many months later",
    )
    negative_balances: NegativeBalances = Field(
        default=NegativeBalances.KEEP,
        description="keep: a balance below zero (a penalty debt) stays a debt across the "
        "clearing; clear: it is cleared to zero at the clearing (yearly_clear only)",
    )
    notice_days: int | None = Field(
        default=None,
        ge=0,
        le=366,
        description="announce points this many days before they expire (webhook "
        f"points.expiring); default {NOTICE_DAYS_DEFAULT}, 0 announces nothing",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_clear_on(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("clear_on") == _LEGACY_CLEAR_ON
            and data.get("policy", ExpiryPolicy.CARRY_OVER.value) == ExpiryPolicy.CARRY_OVER.value
        ):
            return {key: value for key, value in data.items() if key != "clear_on"}
        return data

    @field_validator("clear_on")
    @classmethod
    def _every_year(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date(2023, int(value[:2]), int(value[3:]))  # 2023: not a leap year
            except ValueError:
                raise Invalid(
                    f"{value} is not a day of every year", f"{value} 不是每年都有的日期"
                ) from None
        return value

    @property
    def expires(self) -> bool:
        return self.policy is not ExpiryPolicy.CARRY_OVER

    @property
    def notice_days_in_effect(self) -> int:
        if not self.expires:
            return 0
        return NOTICE_DAYS_DEFAULT if self.notice_days is None else self.notice_days


# Days a recorder may correct a record (see Amendments), unless the charter says otherwise.
AMENDMENT_WINDOW_DAYS_DEFAULT = 7


class Amendments(_Strict):
    """How long recorders may correct their records themselves (更正, see
    docs/clerk-guide.md). After the window, or once the record's notice list has closed,
    only the revoking role (records:revoke) amends."""

    window_days: int = Field(
        default=AMENDMENT_WINDOW_DAYS_DEFAULT,
        ge=0,
        le=366,
        description="days after a record was made in which its recorder (or another clerk "
        "of the village) may correct it; 0: recorders may not amend at all",
    )


class CharterSettings(_Strict):
    points_holder: Holder = Holder.MEMBER
    deduction_floor: DeductionFloor = DeductionFloor.ZERO
    merit: Merit = Merit()
    review: Review = Review()
    public_notice: PublicNotice = PublicNotice()
    expiry: Expiry = Expiry()
    amendments: Amendments = Amendments()
    point_value_fen: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="What one point is worth, in fen (100: 1 分 = 1 元). The "
        "points-exchange fund owes this for every point outstanding: the supermarket's "
        "reconciliation values the village's points with it",
    )


class Inspections(_Strict):
    """How the village inspects adopted spaces of one kind (认领区域巡查)."""

    space_kind: str = Field(pattern=r"^(green_space|public_space|facility)$")
    cadence: InspectionCadence = Field(description="one inspection of a space per period")
    passed_rule: str = Field(pattern=_ID, description="the rule a passed inspection scores")
    failed_rule: str | None = Field(
        default=None, pattern=_ID, description="the rule a failed one scores (none: no points)"
    )


class CharterDocument(_Strict):
    title: str = Field(min_length=1, max_length=200)
    effective_on: date = Field(description="the first day events are scored by this version")
    settings: CharterSettings = CharterSettings()
    rules: list[RuleDocument] = Field(min_length=1, max_length=RULES_MAX)
    category_caps: list[CategoryCap] = Field(default_factory=list, max_length=50)
    inspections: list[Inspections] = Field(default_factory=list, max_length=3)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    # The message in Chinese (zh-CN), shown beside the English one in a problem's `errors`.
    message_zh: str = "取值无效"

    def as_error(self, prefix: str = "") -> dict[str, str]:
        """The error as a problem's `errors` item (the field under `prefix`, if any)."""
        return {
            "field": prefix + self.field,
            "message": self.message,
            "message_zh": self.message_zh,
        }


class CharterInvalid(Exception):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to score: its document, its type, its validated parameters."""

    document: RuleDocument
    rule_type: RuleType
    params: Any

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def is_deduction(self) -> bool:
        return self.rule_type.is_deduction(self.params)


@dataclass(frozen=True)
class Charter:
    document: CharterDocument
    rules: Mapping[str, CompiledRule]

    def rule(self, rule_id: str) -> CompiledRule | None:
        return self.rules.get(rule_id)

    def review_stages_for(self, recorder: str) -> list[str]:
        return list(self.document.settings.review.required.get(recorder, []))

    def stage(self, stage_id: str) -> ReviewStage:
        return next(s for s in self.document.settings.review.stages if s.id == stage_id)


def field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


def _pydantic_errors(
    error: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[FieldError]:
    raw = error.errors(include_url=False)
    return [
        FieldError(field_path(prefix + tuple(e["loc"])), e["msg"], said["message_zh"])
        for e, said in zip(raw, validation_errors(raw), strict=True)
    ]


def parse_text(text: str, media_type: str) -> Any:
    """Read a JSON or YAML document into plain data, naming the line of a syntax error."""
    try:
        if "yaml" in media_type:
            return yaml.safe_load(text)
        return json.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(document)"
        raise CharterInvalid(
            [FieldError(where, f"not valid YAML: {exc}", "不是有效的 YAML")]
        ) from None
    except json.JSONDecodeError as exc:
        raise CharterInvalid(
            [FieldError(f"line {exc.lineno}", f"not valid JSON: {exc.msg}", "不是有效的 JSON")]
        ) from None
    except ValueError as exc:  # a YAML scalar that cannot be built, e.g. 2025-13-01
        raise CharterInvalid(
            [
                FieldError(
                    "(document)", f"not valid YAML: {exc}", "不是有效的 YAML（有无法识别的值）"
                )
            ]
        ) from None


def compile_charter(data: Any, *, stored: bool = False) -> Charter:
    """Validate a document and compile its rules, or raise CharterInvalid with every error.

    `stored`: a document stored earlier is loaded, not submitted: the first version's
    `public_notice.days`/`categories`, which nothing ever read, are ignored there instead
    of refused."""
    try:
        document = CharterDocument.model_validate(data)
    except ValidationError as error:
        raise CharterInvalid(_pydantic_errors(error)) from None
    errors: list[FieldError] = []
    rules: dict[str, CompiledRule] = {}
    seen: set[str] = set()
    settings = document.settings
    categories = {rule.category for rule in document.rules}
    stage_ids = [stage.id for stage in settings.review.stages]
    for index, rule in enumerate(document.rules):
        at = f"rules[{index}]"
        if rule.id in seen:
            errors.append(
                FieldError(
                    f"{at}.id", f"rule id {rule.id!r} is used twice", f"规则编号 {rule.id} 重复"
                )
            )
        seen.add(rule.id)
        rule_type = registry.find(rule.type)
        if rule_type is None:
            known = ", ".join(sorted(registry.rule_types()))
            errors.append(
                FieldError(
                    f"{at}.type",
                    f"unknown rule type {rule.type!r} ({known})",
                    f"未知的规则类型 {rule.type}（可用：{known}）",
                )
            )
            continue
        try:
            params = rule_type.params_model.model_validate(rule.params)
        except ValidationError as error:
            errors.extend(_pydantic_errors(error, ("rules", index, "params")))
            continue
        deduction = rule_type.is_deduction(params)
        if Track.MERIT in rule.moves and not settings.merit.enabled:
            errors.append(
                FieldError(
                    f"{at}.moves",
                    "moves merit, but settings.merit is off",
                    "计入文明积分，但 settings.merit 未启用",
                )
            )
        if deduction and Track.MERIT in rule.moves and not settings.merit.deductions_lower:
            errors.append(
                FieldError(
                    f"{at}.moves",
                    "a deduction may not lower merit: settings.merit.deductions_lower is false",
                    "扣分不能减少文明积分：settings.merit.deductions_lower 为 false",
                )
            )
        if deduction and rule.caps:
            errors.append(
                FieldError(
                    f"{at}.caps",
                    "caps limit awards; a deduction has none",
                    "上限只限制加分，扣分规则不设上限",
                )
            )
        if rule.duplicates is not None and rule.allow_repeats:
            errors.append(
                FieldError(
                    f"{at}.duplicates",
                    "a rule that allows repeats has no duplicates",
                    "允许重复记录的规则不设 duplicates",
                )
            )
        rules.setdefault(rule.id, CompiledRule(rule, rule_type, params))
    for index, stage in enumerate(settings.review.stages):
        if stage_ids.count(stage.id) > 1:
            errors.append(
                FieldError(
                    f"settings.review.stages[{index}].id",
                    f"stage {stage.id!r} twice",
                    f"审核环节 {stage.id} 重复",
                )
            )
    for recorder, stages in settings.review.required.items():
        for position, stage_id in enumerate(stages):
            if stage_id not in stage_ids:
                errors.append(
                    FieldError(
                        f"settings.review.required.{recorder}[{position}]",
                        f"no review stage {stage_id!r} in settings.review.stages",
                        f"settings.review.stages 中没有审核环节 {stage_id}",
                    )
                )
        if len(set(stages)) != len(stages):
            errors.append(
                FieldError(
                    f"settings.review.required.{recorder}", "names a stage twice", "审核环节重复"
                )
            )
    for index, cap in enumerate(document.category_caps):
        if cap.category not in categories:
            errors.append(
                FieldError(
                    f"category_caps[{index}].category",
                    f"no rule in {cap.category!r}",
                    f"类别 {cap.category} 下没有规则",
                )
            )
    errors.extend(_expiry_errors(settings.expiry))
    errors.extend(_inspection_errors(document, rules))
    if not stored:
        errors.extend(_legacy_notice_errors(settings.public_notice))
    errors.extend(_notice_errors(settings.public_notice, categories))
    if errors:
        raise CharterInvalid(errors)
    return Charter(document, rules)


def _inspection_errors(
    document: CharterDocument, rules: dict[str, CompiledRule]
) -> list[FieldError]:
    errors: list[FieldError] = []
    kinds = [setting.space_kind for setting in document.inspections]
    for index, setting in enumerate(document.inspections):
        at = f"inspections[{index}]"
        if kinds.count(setting.space_kind) > 1:
            errors.append(
                FieldError(
                    f"{at}.space_kind",
                    f"{setting.space_kind!r} twice",
                    f"场地类型 {setting.space_kind} 重复",
                )
            )
        for name in ("passed_rule", "failed_rule"):
            rule_id = getattr(setting, name)
            if rule_id is not None and rule_id not in rules:
                errors.append(
                    FieldError(f"{at}.{name}", f"no rule {rule_id!r}", f"没有规则 {rule_id}")
                )
    return errors


# The notice service (src/jifen/notice/) applies the lists: recording, the clock, the API
# for objections and the balance split. Tests may turn it off to check the refusal.
NOTICE_LISTS_APPLIED = True


def _legacy_notice_errors(notice: PublicNotice) -> list[FieldError]:
    at = "settings.public_notice"
    return [
        FieldError(
            f"{at}.{key}",
            f"no longer accepted (nothing reads it): name the categories, mode and days of "
            f"each notice list in {at}.lists",
            f"不再接受此项（没有地方读取它）：请在 {at}.lists 中为每个公示名单写明类别、方式和天数",
        )
        for key in ("days", "categories")
        if getattr(notice, key) is not None
    ]


def _notice_errors(notice: PublicNotice, categories: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    claimed: dict[str, int] = {}
    for index, scope in enumerate(notice.lists):
        at = f"settings.public_notice.lists[{index}]"
        if scope.categories == "all":
            if len(notice.lists) > 1:
                errors.append(
                    FieldError(
                        f"{at}.categories",
                        '"all" must be the only notice list setting',
                        '写 "all" 时只能有这一个公示名单设置',
                    )
                )
            continue
        for position, category in enumerate(scope.categories):
            if category not in categories:
                errors.append(
                    FieldError(
                        f"{at}.categories[{position}]",
                        f"no rule in {category!r}",
                        f"类别 {category} 下没有规则",
                    )
                )
            elif category in claimed:
                errors.append(
                    FieldError(
                        f"{at}.categories[{position}]",
                        f"{category!r} is already listed by lists[{claimed[category]}]",
                        f"类别 {category} 已列在 lists[{claimed[category]}] 中",
                    )
                )
            else:
                claimed[category] = index
    if notice.lists and not NOTICE_LISTS_APPLIED:
        errors.append(
            FieldError(
                "settings.public_notice.lists",
                "notice lists are not applied by this server yet: nothing would act on them",
                "本服务器尚未启用公示名单：这些设置不会生效",
            )
        )
    return errors


def _expiry_errors(expiry: Expiry) -> list[FieldError]:
    """Settings that only one policy reads are refused under the others."""
    at, policy = "settings.expiry", expiry.policy
    yearly, monthly = policy is ExpiryPolicy.YEARLY_CLEAR, policy is ExpiryPolicy.AFTER_MONTHS
    errors: list[FieldError] = []
    if yearly and expiry.clear_on is None:
        errors.append(
            FieldError(
                f"{at}.clear_on",
                "yearly_clear needs the day (MM-DD)",
                "yearly_clear 须写明日期（MM-DD）",
            )
        )
    if not yearly and expiry.clear_on is not None:
        errors.append(
            FieldError(
                f"{at}.clear_on",
                f"only yearly_clear clears on a day, not {policy}",
                f"只有 yearly_clear 按日期清零，{policy} 不用此项",
            )
        )
    if monthly and expiry.months is None:
        errors.append(
            FieldError(
                f"{at}.months", "after_months needs the number of months", "after_months 须写明月数"
            )
        )
    if not monthly and expiry.months is not None:
        errors.append(
            FieldError(
                f"{at}.months",
                f"only after_months counts months, not {policy}",
                f"只有 after_months 按月数计算，{policy} 不用此项",
            )
        )
    if not yearly and expiry.negative_balances is NegativeBalances.CLEAR:
        errors.append(
            FieldError(
                f"{at}.negative_balances",
                f"only a yearly clearing clears a balance below zero; under {policy} a debt "
                "is kept",
                f"只有每年清零才会清除负余额；{policy} 下欠分保留",
            )
        )
    if not expiry.expires and expiry.notice_days is not None:
        errors.append(
            FieldError(
                f"{at}.notice_days",
                "points never expire under carry_over: no notice",
                "carry_over 下积分永不过期，无需提前通知",
            )
        )
    return errors


def role_codes_named(document: CharterDocument) -> list[tuple[str, str]]:
    """Every role code the document names, with the field naming it (to check they exist)."""
    named: list[tuple[str, str]] = []
    for index, rule in enumerate(document.rules):
        for position, code in enumerate(rule.recorders):
            if code not in (RECORDER_RESIDENT, RECORDER_CHECK_IN):
                named.append((f"rules[{index}].recorders[{position}]", code))
    for index, stage in enumerate(document.settings.review.stages):
        for position, code in enumerate(stage.roles):
            named.append((f"settings.review.stages[{index}].roles[{position}]", code))
    for recorder in document.settings.review.required:
        if recorder not in (RECORDER_RESIDENT, RECORDER_CHECK_IN):
            named.append((f"settings.review.required.{recorder}", recorder))
    for index, scope in enumerate(document.settings.public_notice.lists):
        named.append((f"settings.public_notice.lists[{index}].deciding_role", scope.deciding_role))
    return named
