"""The plugin protocols of subsidy schemes: indicator types and award methods.

Both are pure: no I/O, no clock. An indicator type measures one raw value from a
village's facts; an award method turns ranked candidates into amounts. Built-ins are
entry points of jifen itself (`jifen.indicators`, `jifen.awards`), found exactly as a
plugin package's are.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from importlib.metadata import entry_points
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

from pydantic import BaseModel

INDICATORS: Final = "jifen.indicators"
AWARDS: Final = "jifen.awards"
PLACES: Final = Decimal("0.000001")

log = logging.getLogger(__name__)


def q(value: Decimal) -> Decimal:
    """Every intermediate value has six decimal places, rounded half up: one spelling."""
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class VillageFacts:
    """What the books and records say about one village in the period."""

    village_id: str
    code: str
    name: str
    households_total: int
    households_participating: int
    person_days: Decimal
    labor_value_fen: int
    money_fen: int
    in_kind_fen: int
    planned_investment_fen: int
    scores_count: int
    scores_sum: int
    meetings: int
    meeting_households: int
    region: str | None = None  # the township's region (片区) the village belongs to

    def as_json(self) -> dict[str, Any]:
        # The region is written only when the village has one, so the inputs of a township
        # without regions read (and digest) as they did before regions existed.
        region = {} if self.region is None else {"region": self.region}
        return {
            **region,
            "village_id": self.village_id,
            "code": self.code,
            "name": self.name,
            "households_total": self.households_total,
            "households_participating": self.households_participating,
            "person_days": str(self.person_days),
            "labor_value_fen": self.labor_value_fen,
            "money_fen": self.money_fen,
            "in_kind_fen": self.in_kind_fen,
            "planned_investment_fen": self.planned_investment_fen,
            "scores_count": self.scores_count,
            "scores_sum": self.scores_sum,
            "meetings": self.meetings,
            "meeting_households": self.meeting_households,
        }


@runtime_checkable
class IndicatorType(Protocol):
    """Register under `jifen.indicators`; the entry point's name is the scheme's `type`.
    `unit` is how the raw value reads: ratio (shown as %), person_day, fen, score, count."""

    label: ClassVar[str]
    unit: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]

    def measure(self, params: Any, facts: VillageFacts) -> Decimal: ...


@dataclass(frozen=True)
class Candidate:
    """An eligible village as an award method sees it, in the scheme's tie order."""

    village_id: str
    code: str
    name: str
    score: Decimal
    raw: dict[str, Decimal]
    labels: dict[str, str]
    units: dict[str, str]
    region: str | None = None


@dataclass(frozen=True)
class Allocation:
    """What a method gives a village before caps and rounding (fen, maybe fractional)."""

    village_id: str
    amount_fen: Decimal
    tier_id: str | None = None
    tier_label: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class AwardMethod(Protocol):
    """Register under `jifen.awards`; the entry point's name is the scheme's `award.method`.

    A method that reads regions (片区) may also define `region_refs(params)`: (field path
    under `award.params`, region name) for every region it names, and (path, None) for a
    field that reads each village's own region. The settlement then refuses unknown region
    names and villages without a region, naming them (it is not part of the protocol, so
    methods written before regions still load)."""

    label: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]

    def indicator_refs(self, params: Any) -> list[tuple[str, str]]:
        """(field path under `award.params`, indicator id) for every indicator it names."""
        ...

    def allocate(
        self, params: Any, candidates: Sequence[Candidate], pool_fen: int
    ) -> list[Allocation]:
        """Amounts for `candidates` (best first, ties already broken)."""
        ...


class _Registry:
    def __init__(self, group: str, protocol: type) -> None:
        self.group = group
        self.protocol = protocol
        self._lock = threading.Lock()
        self._found: dict[str, Any] | None = None

    def all(self) -> dict[str, Any]:
        with self._lock:
            if self._found is None:
                self._found = self._load()
            return self._found

    def find(self, name: str) -> Any | None:
        return self.all().get(name)

    def _load(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for entry_point in entry_points(group=self.group):
            if entry_point.name in found:
                log.warning(
                    "%s %r is registered twice; keeping the first", self.group, entry_point.name
                )
                continue
            try:
                loaded = entry_point.load()
                plugin = loaded() if isinstance(loaded, type) else loaded
            except Exception:  # a broken plugin must not take the service down
                log.exception("%s %r could not be loaded", self.group, entry_point.name)
                continue
            if not isinstance(plugin, self.protocol):
                log.error("%s %r does not follow its protocol", self.group, entry_point.name)
                continue
            found[entry_point.name] = plugin
        return found


indicator_types = _Registry(INDICATORS, IndicatorType)
award_methods = _Registry(AWARDS, AwardMethod)


def format_value(value: Decimal, unit: str) -> str:
    """How a raw value reads in an explanation."""
    if unit == "ratio":
        return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"
    if unit == "fen":
        return f"{yuan(value)} 元"
    text = format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize(), "f")
    return {"person_day": f"{text} 工日", "score": f"{text} 分", "count": f"{text} 次"}.get(
        unit, text
    )


def yuan(fen: Decimal | int) -> str:
    """Fen as yuan with two decimals and thousands separators: 30,000.00."""
    value = (Decimal(fen) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,.2f}"
