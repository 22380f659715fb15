"""Fixtures of the labor tests: a clock the app reads, a village with a charter, and a
mini-program client with a bound member."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.api.deps import get_clock
from jifen.charters import service as charters
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger.service import Clock
from jifen.models import Entry, Record
from tests.api.helpers import Village, make_village, ok

# The rules the tests' charter names. Labor counts hours (2 points an hour, at most 10
# points a member a day); a meeting counts times.
LABOR = {
    "id": "labor_hours",
    "category": "labor",
    "label": "义务劳动",
    "type": "per_unit",
    "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
    "recorders": ["village_clerk", "check_in", "resident"],
    "caps": [{"per": "member", "period": "day", "max_points": 10}],
}
MEETING = {
    "id": "meeting",
    "category": "participation",
    "label": "参加志愿活动",
    "type": "fixed",
    "params": {"points": 2},
    "recorders": ["check_in"],
}
CLERK_ONLY = {
    "id": "clean_lane",
    "category": "sanitation",
    "label": "清扫巷道",
    "type": "fixed",
    "params": {"points": 1},
    "recorders": ["village_clerk"],
}
WITH_PHOTO = {
    "id": "green_space",
    "category": "green_space",
    "label": "绿地认养",
    "type": "fixed",
    "params": {"points": 3},
    "recorders": ["check_in"],
    "evidence": ["photo"],
}
LITTER = {
    "id": "litter",
    "category": "conduct",
    "label": "乱扔垃圾",
    "type": "deduction",
    "params": {"points": 5},
    "recorders": ["check_in", "village_clerk"],
}
REPEATABLE = {
    "id": "volunteer",
    "category": "volunteer",
    "label": "志愿服务",
    "type": "fixed",
    "params": {"points": 1},
    "recorders": ["check_in"],
    "allow_repeats": True,
}
RULES = [LABOR, MEETING, CLERK_ONLY, WITH_PHOTO, LITTER, REPEATABLE]
REVIEW_STAGE = {"id": "review", "label": "复核", "roles": ["village_clerk"]}


@dataclass
class FixedClock:
    """The time the app's ClockDep reads. Tests only move it forward."""

    now: datetime

    def at(self, when: datetime) -> None:
        assert when >= self.now, "the clock only moves forward"
        self.now = when


@pytest.fixture
def clock(client: TestClient) -> Iterator[FixedClock]:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    # Real time to start with: the guard checks access tokens against the machine's clock.
    state = FixedClock(utc_now().replace(microsecond=0))
    client.app.dependency_overrides[get_clock] = lambda: Clock(now=state.now, settings=settings)  # type: ignore[attr-defined]
    yield state
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def publish_charter(
    db: Database,
    village_id: str,
    *,
    rules: list[dict[str, Any]] | None = None,
    review: dict[str, Any] | None = None,
    effective_on: date | None = None,
) -> None:
    data: dict[str, Any] = {
        "title": "清泉村村规民约积分细则",
        "effective_on": (effective_on or date.today() - timedelta(days=30)).isoformat(),
        "rules": rules or RULES,
    }
    if review is not None:
        data["settings"] = {"review": review}
    with db.unit_of_work() as session:
        charters.create_version(
            session,
            village_id=uuid.UUID(village_id),
            data=data,
            actor="test",
            now=utc_now(),
            publish=True,
        )


@pytest.fixture
def village(client: TestClient, db: Database, clock: FixedClock) -> Village:
    """A village whose charter (the RULES, no review) is in force."""
    made = make_village(client)
    publish_charter(db, made.id)
    return made


def count(db: Database, model: Any = Record) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def entries(db: Database) -> int:
    return count(db, Entry)


@dataclass
class MiniProgram:
    """A third-party client with a token carrying activities:checkin."""

    client_id: str
    headers: dict[str, str]
    access_token: str

    def bind(self, client: TestClient, member_id: str, user_ref: str) -> str:
        """Bind a user of the mini-program to a member; return the binding id."""
        code = ok(client.post(f"/v1/members/{member_id}/binding-codes"), 201)["secret"]
        binding = ok(
            client.post(
                "/v1/bindings", json={"user_ref": user_ref, "code": code}, headers=self.headers
            ),
            201,
        )
        return str(binding["id"])

    def check_in(self, client: TestClient, binding_id: str, code: str) -> Any:
        return client.post(
            f"/v1/bindings/{binding_id}/check-ins", json={"code": code}, headers=self.headers
        )


def mini_program(client: TestClient, township_id: str, scopes: list[str]) -> MiniProgram:
    record = ok(
        client.post(
            "/v1/clients",
            json={"township_id": township_id, "name": "清泉积分小程序", "scopes": scopes},
        ),
        201,
    )
    basic = base64.b64encode(f"{record['client_id']}:{record['client_secret']}".encode())
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic.decode()}"},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    return MiniProgram(record["client_id"], {"Authorization": f"Bearer {token}"}, token)


@pytest.fixture
def app(client: TestClient, village: Village) -> MiniProgram:
    return mini_program(client, village.township_id, ["members:bind", "activities:checkin"])


def open_activity(
    client: TestClient,
    village_id: str,
    clock: FixedClock,
    *,
    rule_id: str = "labor_hours",
    quantity: str = "3",
    starts_in: timedelta = timedelta(hours=2),
    length: timedelta = timedelta(hours=3),
    **extra: Any,
) -> Any:
    """POST an activity starting `starts_in` from the clock's now; return the response."""
    starts_at = clock.now + starts_in
    body = {
        "rule_id": rule_id,
        "title": "周六村道大扫除",
        "place": "村委会门口",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + length).isoformat(),
        "quantity": quantity,
        **extra,
    }
    return client.post(f"/v1/villages/{village_id}/activities", json=body)


def activity(client: TestClient, village_id: str, clock: FixedClock, **kwargs: Any) -> Any:
    """An activity opened for the test (must succeed)."""
    return ok(open_activity(client, village_id, clock, **kwargs), 201)
