"""What a rule type is: it validates its parameters and scores one recorded event.

A rule type is pure: no I/O, no clock. `evaluate` receives plain facts and returns a
signed number of points and a Chinese explanation a clerk can read aloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel


@dataclass(frozen=True)
class Occurrence:
    """One recorded event, as a rule type sees it.

    `quantity` is in the rule's unit: occurrences for a fixed rule (5 clean-ups this
    month), hours, person-days, kg or m² for a per-unit rule.
    """

    label: str
    quantity: Decimal
    occurred_on: date


@dataclass(frozen=True)
class Score:
    """Signed points (positive awards, negative deducts) and why."""

    points: int
    explanation: str


@runtime_checkable
class RuleType(Protocol):
    """The plugin protocol. Register an implementation under the `jifen.rules`
    entry-point group; the entry point's name is the `type` charters use."""

    label: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]

    def evaluate(self, params: Any, occurrence: Occurrence) -> Score:
        """Score `occurrence` with `params` (an instance of `params_model`)."""
        ...

    def is_deduction(self, params: Any) -> bool:
        """Whether the rule takes points away (the charter's floor policy applies)."""
        ...


class QuantityRefused(ValueError):
    """What `evaluate` raises for a quantity the rule cannot score (a ValueError, which
    plugins may raise too): the English message, and the same in Chinese for the caller's
    problem (`message_zh`)."""

    def __init__(self, message: str, *, message_zh: str) -> None:
        super().__init__(message)
        self.message_zh = message_zh


def quantity_refusal_zh(error: ValueError, rule_id: str, quantity: Decimal) -> str:
    """The Chinese detail of a refused quantity: the rule type's own words when it gave
    them (QuantityRefused), else a plain sentence naming the rule and the quantity."""
    if isinstance(error, QuantityRefused):
        return error.message_zh
    return f"数量 {format_quantity(quantity)} 不符合规则 {rule_id} 的要求"


def format_quantity(quantity: Decimal) -> str:
    """2 rather than 2.00, 2.5 rather than 2.50."""
    text = format(quantity.normalize(), "f")
    return text
