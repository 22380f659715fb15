"""Pure rules for finding members: pinyin initials, matching, phone masking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

QUERY_LENGTH_MAX = 40
# Digits typed for a phone search: fewer match too much to mean anything.
PHONE_DIGITS_MIN = 4
_LETTERS = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class Candidate:
    name: str
    phone: str | None
    household_number: str | None


def initials(name: str) -> str:
    """张小梅 -> zxm; letters in the name are kept, other characters dropped."""
    letters = lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")
    return "".join(part[:1] for part in letters if part[:1].isalnum()).lower()


def full_pinyin(name: str) -> str:
    return "".join(lazy_pinyin(name)).lower()


def matched_by(candidate: Candidate, query: str) -> str | None:
    """What the query matched ("name", "household_number", "phone", "pinyin"), or None."""
    folded = query.strip().lower()
    if not folded:
        return None
    if folded in candidate.name.lower():
        return "name"
    if candidate.household_number and folded == candidate.household_number.lower():
        return "household_number"
    digits = folded.replace(" ", "").replace("-", "")
    is_phone_query = digits.isdigit() and len(digits) >= PHONE_DIGITS_MIN
    if is_phone_query and candidate.phone and digits in re.sub(r"\D", "", candidate.phone):
        return "phone"
    if _LETTERS.match(folded):
        if initials(candidate.name).startswith(folded):
            return "pinyin"
        if len(folded) > 1 and full_pinyin(candidate.name).startswith(folded):
            return "pinyin"
    return None


def mask_name(name: str) -> str:
    """张三明 -> 张*明, 王五 -> 王*, 欧阳娜娜 -> 欧**娜 (one character -> *): the first and
    last character kept, as public notices do, for a screen or a list others can see."""
    text = "".join(name.split())
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678: enough to tell people apart at a counter."""
    if phone is None:
        return None
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
