"""Pure decisions of the boards: masking personal names for public display, scrubbing
free text, and ranking entries from a month's totals. No I/O, no clock.

Masking follows the usual practice of public notices under the Personal Information
Protection Law: a person's name keeps its first and last character (张*明, 王*), a
household's name likewise before its 户/家 suffix (王*国户); phone, ID and member numbers
never leave at all. Organisations' names are not personal and are shown whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from jifen.tenancy.policy import mask_name

MASK = "*"
_HOUSEHOLD_SUFFIXES = ("户", "家")
# A run of digits as long as a phone number's or ID number's meaningful part: never public.
_LONG_NUMBER = re.compile(r"\d{6,}[\dXx]?")
# Shorter secrets (an ID card's tail) are scrubbed only where they are known.
_SECRET_LENGTH_MIN = 3


def mask_household_name(name: str) -> str:
    """王建国户 → 王*国户, 李四家 → 李*家: the head's name masked, the suffix kept; a
    surname with its suffix (张家) is masked as a two-character name (张*)."""
    text = "".join(name.split())
    for suffix in _HOUSEHOLD_SUFFIXES:
        stem = text[: -len(suffix)]
        if len(stem) >= 2 and text.endswith(suffix):
            return mask_name(stem) + suffix
    return mask_name(text)


def scrub(text: str, *, names: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """Free text (a board entry's reason) made fit to publish: every known personal name
    masked, every known secret and every long run of digits starred out."""
    for name in sorted({n for n in names if len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    for secret in sorted(
        {s for s in secrets if len(s) >= _SECRET_LENGTH_MIN}, key=len, reverse=True
    ):
        text = text.replace(secret, MASK * len(secret))
    return _LONG_NUMBER.sub(lambda match: MASK * len(match.group()), text)


@dataclass(frozen=True)
class Standing:
    """A holder's booked points in the board's period (from the month's ranking)."""

    holder_id: str
    points: int


@dataclass(frozen=True)
class Placed:
    holder_id: str
    side: str  # red | black
    rank: int
    points: int


def place_from_books(
    standings: list[Standing], *, red_count: int, black_count: int
) -> list[Placed]:
    """Top `red_count` by points on the red side (rank 1 = most points), bottom
    `black_count` on the black side (rank 1 = fewest points). A holder never lands on
    both sides: the black side takes only holders not already red. Ties keep the order
    given (the ranking's own order: points, then name)."""
    red = standings[:red_count]
    taken = {s.holder_id for s in red}
    rest = [s for s in standings if s.holder_id not in taken]
    black = list(reversed(rest))[:black_count] if black_count else []
    return [Placed(s.holder_id, "red", i, s.points) for i, s in enumerate(red, 1)] + [
        Placed(s.holder_id, "black", i, s.points) for i, s in enumerate(black, 1)
    ]
