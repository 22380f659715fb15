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
from jifen.charters.rules.protocol import Occurrence, Score

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
                raise ValueError("bands must have strictly ascending min_stars")
        return bands

    @model_validator(mode="after")
    def _one_mode(self) -> BoardParams:
        if (self.points is None) == (self.bands is None):
            raise ValueError("give either points (with optional top_n) or bands, not both")
        if self.bands is not None and self.top_n is not None:
            raise ValueError("top_n applies to points by rank, not to star bands")
        return self

    @property
    def by_stars(self) -> bool:
        return self.bands is not None


def _whole(occurrence: Occurrence, what: str) -> int:
    quantity = occurrence.quantity
    if quantity != quantity.to_integral_value() or quantity < 1:
        raise ValueError(f"a board rule counts {what} as a whole number from 1, not {quantity}")
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
                raise ValueError(f"a rating has at most {STARS_MAX} stars, not {stars}")
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
