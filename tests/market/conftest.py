"""Fixtures of the allied-shop, reconciliation and report tests: a clock the app reads,
set to local days of the past, and a village made at the first of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from jifen.api.deps import get_clock
from jifen.kit.clock import as_utc
from jifen.ledger.service import Clock
from tests.api.helpers import Village, make_village

DAYS_BACK = 20


@dataclass
class DayClock:
    """The time the app's ClockDep reads, in local days D0, D1, …: tests only move it
    forward. D0 is DAYS_BACK days before today, so that every day of a test is over."""

    now: datetime
    zone: ZoneInfo
    d0: date

    def day(self, n: int) -> date:
        return self.d0 + timedelta(days=n)

    def at(self, n: int, hour: int, minute: int = 0) -> None:
        """Local day Dn at hour:minute."""
        when = as_utc(datetime.combine(self.day(n), time(hour, minute), tzinfo=self.zone))
        assert when >= self.now, "the clock only moves forward"
        self.now = when


@pytest.fixture
def clock(client: TestClient) -> Iterator[DayClock]:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    zone = settings.zone
    d0 = datetime.now(zone).date() - timedelta(days=DAYS_BACK)
    state = DayClock(as_utc(datetime.combine(d0, time(8), tzinfo=zone)), zone, d0)
    client.app.dependency_overrides[get_clock] = lambda: Clock(now=state.now, settings=settings)  # type: ignore[attr-defined]
    yield state
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


@pytest.fixture
def village(client: TestClient, clock: DayClock) -> Village:
    """A fresh township and village, made on D0."""
    return make_village(client)
