"""The `board` rule type (红黑榜积分): what a published board's entries earn or lose.

A charter rule of this type scores one side of a board, either by rank (the first
`top_n` red-listed households gain `points`; the black-listed lose them) or by the star
bands of a rating (五星级文明户: 5 stars +20, 3 stars +10). The quantity a board hands the
rule is the entry's rank (rank mode) or its stars (band mode). Pure: no I/O, no clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.charters.rules.builtin import POINTS_PER_EVENT_MAX
from jifen.charters.rules.protocol import Occurrence, QuantityRefused, Score
from jifen.kit.schemas import Invalid

STARS_MAX = 5


class Side(StrEnum):
    RED = "red"
    BLACK = "black"


SIDE_LABELS = {Side.RED: "红榜", Side.BLACK: "黑榜"}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StarBand(_Params):
    min_stars: int = Field(ge=1, le=STARS_MAX)
    points: int = Field(ge=1, le=POINTS_PER_EVENT_MAX)


class BoardParams(_Params):
    side: Side = Field(description="the side of the board this rule scores")
    points: int | None = Field(
        default=None, ge=1, le=POINTS_PER_EVENT_MAX, description="rank mode: points per entry"
    )
    top_n: int | None = Field(
        default=None, ge=1, le=10_000, description="rank mode: only the first top_n count"
    )
    bands: list[StarBand] | None = Field(
        default=None, min_length=1, max_length=STARS_MAX, description="band mode: by stars"
    )

    @field_validator("bands")
    @classmethod
    def _ascending(cls, bands: list[StarBand] | None) -> list[StarBand] | None:
        if bands is not None:
            stars = [band.min_stars for band in bands]
            if stars != sorted(set(stars)):
                raise Invalid(
                    "bands must have strictly ascending min_stars",
                    "星级分档的 min_stars 必须严格递增",
                )
        return bands

    @model_validator(mode="after")
    def _one_mode(self) -> BoardParams:
        if (self.points is None) == (self.bands is None):
            raise Invalid(
                "give either points (with optional top_n) or bands, not both",
                "points（可带 top_n）与 bands 只能给出其一",
            )
        if self.bands is not None and self.top_n is not None:
            raise Invalid(
                "top_n applies to points by rank, not to star bands",
                "top_n 只用于按名次计分，不用于星级分档",
            )
        return self

    @property
    def by_stars(self) -> bool:
        return self.bands is not None


_WHAT_ZH = {"stars": "星级", "the rank": "名次"}


def _whole(occurrence: Occurrence, what: str) -> int:
    quantity = occurrence.quantity
    if quantity != quantity.to_integral_value() or quantity < 1:
        raise QuantityRefused(
            f"a board rule counts {what} as a whole number from 1, not {quantity}",
            message_zh=f"红黑榜规则的{_WHAT_ZH.get(what, what)}须为从 1 起的整数，"
            f"不能是 {quantity}",
        )
    return int(quantity)


class BoardRule:
    """红黑榜: red top N +x, black −y; or points by star bands."""

    label: ClassVar[str] = "红黑榜评比"
    params_model: ClassVar[type[BaseModel]] = BoardParams

    def evaluate(self, params: BoardParams, occurrence: Occurrence) -> Score:
        side = SIDE_LABELS[params.side]
        sign = -1 if params.side is Side.BLACK else 1
        if params.bands is not None:
            stars = _whole(occurrence, "stars")
            if stars > STARS_MAX:
                raise QuantityRefused(
                    f"a rating has at most {STARS_MAX} stars, not {stars}",
                    message_zh=f"星级最多 {STARS_MAX} 星，不能是 {stars} 星",
                )
            reached = [band for band in params.bands if stars >= band.min_stars]
            if not reached:
                first = params.bands[0].min_stars
                return Score(0, f"{occurrence.label} {stars} 星，未达 {first} 星，不计分")
            band = reached[-1]
            verb = "扣" if sign < 0 else "得"
            return Score(
                sign * band.points,
                f"{occurrence.label} {stars} 星（≥{band.min_stars} 星档）{verb} {band.points} 分",
            )
        assert params.points is not None  # _one_mode
        rank = _whole(occurrence, "the rank")
        if params.top_n is not None and rank > params.top_n:
            return Score(
                0, f"{occurrence.label} {side}第 {rank} 名，未在前 {params.top_n} 名，不计分"
            )
        verb = "扣" if sign < 0 else "得"
        return Score(
            sign * params.points,
            f"{occurrence.label} {side}第 {rank} 名，{verb} {params.points} 分",
        )

    def is_deduction(self, params: BoardParams) -> bool:
        return params.side is Side.BLACK
