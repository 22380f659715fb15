"""The subsidy scheme document (以奖代补方案): what township finance writes and uploads.

Validated in two passes, as charters are: Pydantic checks the shape; then each
indicator's and the award method's parameters are checked by their plugin, and the
cross-references (indicator ids in gates, tie breaks and tiers; weights adding up to
100) against each other. Every error names its field: `indicators[2].normalise.target`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jifen.charters.document import FieldError, field_path
from jifen.kit.schemas import Invalid
from jifen.problems import validation_errors
from jifen.subsidies.builtin import Gate
from jifen.subsidies.plugins import AwardMethod, IndicatorType, award_methods, indicator_types

INDICATORS_MAX = 20
WEIGHT_TOTAL = Decimal(100)
_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normalisation(StrEnum):
    RATIO = "ratio"  # raw ÷ target, no more than the ceiling
    MIN_MAX = "min_max"  # (raw − min) ÷ (max − min) across the eligible villages
    RANK = "rank"  # 1 for the first, 0 for the last, evenly between


class Normalise(_Strict):
    method: Normalisation
    target: Decimal | None = Field(default=None, gt=0, description="ratio: the raw value worth 1")
    ceiling: Decimal = Field(default=Decimal(1), gt=0, le=10, description="ratio: at most this")


class IndicatorDocument(_Strict):
    id: str = Field(pattern=_ID)
    type: str = Field(min_length=1, max_length=64, description="a registered indicator type")
    label: str | None = Field(default=None, min_length=1, max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)
    weight: Decimal = Field(gt=0, le=100, description="weights add up to 100")
    normalise: Normalise


class Rounding(StrEnum):
    FEN = "fen"
    YUAN = "yuan"


class Remainder(StrEnum):
    LARGEST_REMAINDER = "largest_remainder"  # one unit each to the largest fractions
    RETAINED = "retained"  # what rounding cuts stays in the township's pool


class RoundingDocument(_Strict):
    unit: Rounding = Rounding.FEN
    remainder: Remainder = Remainder.LARGEST_REMAINDER


class InvestmentBasis(StrEnum):
    PLANNED = "planned"  # the village's projects' planned investment
    PERIOD_INPUTS = "period_inputs"  # what residents put in during the period (labor+money+kind)


class Caps(_Strict):
    share_of_investment: Decimal | None = Field(
        default=None, gt=0, le=1, description="at most this share of the projects' investment"
    )
    investment_basis: InvestmentBasis = Field(
        default=InvestmentBasis.PLANNED,
        description="what share_of_investment is a share of; only with share_of_investment",
    )
    per_village_max_fen: int | None = Field(default=None, ge=0, le=10**12)

    @model_validator(mode="after")
    def _basis_needs_a_share(self) -> Caps:
        # The default is what a stored document says once its defaults are written out, so
        # only another basis, which nothing would read, is refused.
        if self.share_of_investment is None and self.investment_basis != InvestmentBasis.PLANNED:
            raise Invalid(
                "investment_basis is only read with share_of_investment",
                "investment_basis 只与 share_of_investment 一起使用",
            )
        return self


class ReleasedOn(StrEnum):
    ACCEPTANCE = "acceptance"  # 验收: when every project of the village in the period is accepted


class Withholding(_Strict):
    """Part of each award held back until the village's projects pass acceptance (验收)."""

    share: Decimal = Field(
        gt=0, lt=1, decimal_places=6, description="the share withheld, e.g. 0.3 of the award"
    )
    released_on: ReleasedOn = ReleasedOn.ACCEPTANCE


class AwardDocument(_Strict):
    method: str = Field(min_length=1, max_length=64, description="a registered award method")
    params: dict[str, Any] = Field(default_factory=dict)


class SchemeDocument(_Strict):
    title: str = Field(min_length=1, max_length=200)
    effective_on: date
    pool_fen: int = Field(ge=0, le=10**13, description="the money the township sets aside")
    indicators: list[IndicatorDocument] = Field(min_length=1, max_length=INDICATORS_MAX)
    gates: list[Gate] = Field(default_factory=list, max_length=10)
    tie_break: list[str] = Field(
        default_factory=list,
        max_length=INDICATORS_MAX,
        description="after score: these indicators' raw values, higher first; then village code",
    )
    award: AwardDocument
    caps: Caps = Caps()
    rounding: RoundingDocument = RoundingDocument()
    withholding: Withholding | None = Field(
        default=None, description="withheld until acceptance (验收); see docs/subsidies.md"
    )


class SchemeInvalid(Exception):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class CompiledIndicator:
    document: IndicatorDocument
    type: IndicatorType
    params: Any

    @property
    def label(self) -> str:
        return self.document.label or self.type.label


@dataclass(frozen=True)
class Scheme:
    document: SchemeDocument
    indicators: tuple[CompiledIndicator, ...]
    method: AwardMethod
    method_params: Any


def _errors(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[FieldError]:
    raw = error.errors(include_url=False)
    return [
        FieldError(field_path(prefix + tuple(e["loc"])), e["msg"], said["message_zh"])
        for e, said in zip(raw, validation_errors(raw), strict=True)
    ]


def compile_scheme(data: Any) -> Scheme:
    try:
        document = SchemeDocument.model_validate(data)
    except ValidationError as error:
        raise SchemeInvalid(_errors(error)) from None
    errors: list[FieldError] = []
    compiled: list[CompiledIndicator] = []
    seen: set[str] = set()
    for index, indicator in enumerate(document.indicators):
        at = f"indicators[{index}]"
        if indicator.id in seen:
            errors.append(
                FieldError(
                    f"{at}.id",
                    f"indicator id {indicator.id!r} is used twice",
                    f"指标编号 {indicator.id} 重复",
                )
            )
        seen.add(indicator.id)
        if indicator.normalise.method is Normalisation.RATIO and indicator.normalise.target is None:
            errors.append(
                FieldError(f"{at}.normalise.target", "ratio needs a target", "ratio 须写明 target")
            )
        if indicator.normalise.method is not Normalisation.RATIO and (
            indicator.normalise.target is not None
        ):
            errors.append(
                FieldError(
                    f"{at}.normalise.target", "only ratio has a target", "只有 ratio 使用 target"
                )
            )
        kind = indicator_types.find(indicator.type)
        if kind is None:
            known = ", ".join(sorted(indicator_types.all()))
            errors.append(
                FieldError(
                    f"{at}.type",
                    f"unknown indicator type ({known})",
                    f"未知的指标类型（可用：{known}）",
                )
            )
            continue
        try:
            params = kind.params_model.model_validate(indicator.params)
        except ValidationError as error:
            errors.extend(_errors(error, ("indicators", index, "params")))
            continue
        compiled.append(CompiledIndicator(indicator, kind, params))
    total = sum((i.weight for i in document.indicators), Decimal(0))
    if total != WEIGHT_TOTAL:
        errors.append(
            FieldError(
                "indicators",
                f"weights add up to {total}, not 100",
                f"权重合计为 {total}，不是 100",
            )
        )
    for index, gate in enumerate(document.gates):
        if gate.indicator not in seen:
            errors.append(
                FieldError(
                    f"gates[{index}].indicator",
                    f"no indicator {gate.indicator!r}",
                    f"没有指标 {gate.indicator}",
                )
            )
    for index, name in enumerate(document.tie_break):
        if name not in seen:
            errors.append(
                FieldError(f"tie_break[{index}]", f"no indicator {name!r}", f"没有指标 {name}")
            )
    method = award_methods.find(document.award.method)
    method_params = None
    if method is None:
        known = ", ".join(sorted(award_methods.all()))
        errors.append(
            FieldError(
                "award.method",
                f"unknown award method ({known})",
                f"未知的奖补方法（可用：{known}）",
            )
        )
    else:
        try:
            method_params = method.params_model.model_validate(document.award.params)
        except ValidationError as error:
            errors.extend(_errors(error, ("award", "params")))
        else:
            for path, name in method.indicator_refs(method_params):
                if name not in seen:
                    errors.append(
                        FieldError(
                            f"award.params.{path}", f"no indicator {name!r}", f"没有指标 {name}"
                        )
                    )
    if errors:
        raise SchemeInvalid(errors)
    assert method is not None
    return Scheme(document, tuple(compiled), method, method_params)
