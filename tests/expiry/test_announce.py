"""Announcing ahead: the expiring query (village, member) and the points.expiring
webhook event, once per holder and day."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.api.deps import get_clock
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger.service import Clock
from jifen.models import ExpiryNotice, OutboxEvent
from tests.api.helpers import ok, problem
from tests.expiry.world import World, at


def _clock_at(client: TestClient, settings: Settings, now: datetime) -> None:
    client.app.dependency_overrides[get_clock] = lambda: Clock(now=now, settings=settings)  # type: ignore[attr-defined]


def _the_story(world: World, notice_days: int | None = None) -> uuid.UUID:
    expiry = {"policy": "after_months", "months": 12}
    if notice_days is not None:
        expiry["notice_days"] = notice_days
    world.publish(expiry)
    wang = world.member("王芳")
    world.earn(wang, 10, at("2025-01-15"))
    world.earn(wang, 20, at("2025-03-10"))
    world.spend(wang, 15, at("2025-04-02"))
    return wang


def test_the_expiring_query(world: World, client: TestClient, settings: Settings) -> None:
    wang = _the_story(world)
    village = f"/v1/villages/{world.village_id}/expiring"

    _clock_at(client, settings, at("2026-01-01"))
    assert ok(client.get(village))["items"] == []  # January's lot was spent
    _clock_at(client, settings, at("2026-02-20"))
    [holder] = ok(client.get(village))["items"]  # default window: 30 days
    assert holder["account_id"] == str(wang)
    assert holder["holder"] == "member"
    assert holder["member_id"] == str(world.member_ids["王芳"])
    assert holder["points"] == 15
    assert holder["expiring"] == [
        {"expires_on": "2026-03-09", "points": 15, "kind": "expiry", "policy": "after_months"}
    ]
    assert ok(client.get(village, params={"within_days": 10}))["items"] == []
    # Per member: their own points, and their household's (none here).
    member = ok(client.get(f"/v1/members/{world.member_ids['王芳']}/expiring"))
    assert [h["expiring"][0]["points"] for h in member] == [15]
    # Overdue (the tick has not run yet) still counts: the next tick takes it.
    _clock_at(client, settings, at("2026-03-12"))
    [late] = ok(client.get(village, params={"within_days": 0}))["items"]
    assert late["expiring"][0]["expires_on"] == "2026-03-09"

    problem(client.get(village, params={"within_days": 367}), 422, "validation_failed")
    problem(client.get(f"/v1/villages/{wang}/expiring"), 404, "not_found")


def test_the_village_list_pages(world: World, client: TestClient, settings: Settings) -> None:
    world.publish({"policy": "yearly_clear", "clear_on": "12-31"})
    for name, points in (("甲", 1), ("乙", 2), ("丙", 3)):
        world.earn(world.member(name), points, at("2025-06-01"))
    world.member("丁")  # nothing to expire
    _clock_at(client, settings, at("2025-12-15"))
    first = ok(client.get(f"/v1/villages/{world.village_id}/expiring", params={"limit": 2}))
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = ok(
        client.get(
            f"/v1/villages/{world.village_id}/expiring",
            params={"limit": 2, "cursor": first["next_cursor"]},
        )
    )
    assert second["next_cursor"] is None
    listed = first["items"] + second["items"]
    assert sorted(h["points"] for h in listed) == [1, 2, 3]
    assert {h["expiring"][0]["kind"] for h in listed} == {"clearing"}
    assert len({h["account_id"] for h in listed}) == 3


def _expiring_events(db: Database) -> list[dict[str, object]]:
    with db.unit_of_work(write=False) as session:
        return list(
            session.execute(
                select(OutboxEvent.payload)
                .where(OutboxEvent.type == "points.expiring")
                .order_by(OutboxEvent.seq)
            ).scalars()
        )


def test_the_tick_announces_once_per_holder_and_day(world: World, db: Database) -> None:
    wang = _the_story(world, notice_days=10)
    world.tick(at("2026-02-20"))  # 9 March is 17 days ahead: not yet
    assert _expiring_events(db) == []

    first = world.tick(at("2026-02-28"))
    again = world.tick(at("2026-03-01"))
    assert (first.notices, again.notices) == (1, 0)
    [event] = _expiring_events(db)
    assert event["account_id"] == str(wang)
    assert event["member_id"] == str(world.member_ids["王芳"])
    assert (event["expires_on"], event["points"], event["kind"]) == ("2026-03-09", 15, "expiry")
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(func.count()).select_from(ExpiryNotice)).scalar_one() == 1

    world.tick(at("2026-03-10"))  # the points go; nothing more is announced
    assert len(_expiring_events(db)) == 1
    assert [e.amount for e in world.expiries(wang)] == [-15]


def test_notice_zero_announces_nothing(world: World, db: Database) -> None:
    _the_story(world, notice_days=0)
    world.tick(at("2026-03-09"))
    assert _expiring_events(db) == []
