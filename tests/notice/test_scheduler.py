"""The in-process scheduler (`JIFEN_TICK_EVERY_MINUTES`): `jifen serve` runs the same tick
as `jifen tick`, at start and then every N minutes, safe beside a cron job.

October 2026's lists are open 25 Nov - 1 Dec 2026 and close at the start of 2 Dec.
Time is injected: the scheduler ticks by the clock it is given, and a test waits for a
round through its `round_done` event (bounded), never on the wall clock.
"""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from jifen import tick
from jifen.config import Settings
from jifen.main import create_app
from tests.notice.world import balance, lists, volunteer
from tests.records.world import World, at

ROUND_WAIT_SECONDS = 120  # a bound for a loaded machine, not a timing assertion


def test_a_round_ticks_by_the_clock_given_and_twice_books_once(world: World) -> None:
    volunteer(world, date(2026, 10, 10), 2)  # 4 points, held under October's list
    assert balance(world) == (0, 4, 0)
    settings = world.db.settings.model_copy(update={"tick_every_minutes": 5})
    instant = [at(2026, 11, 26, 8)]
    scheduler = tick.Scheduler(world.db, settings, clock=lambda: instant[0])

    first = scheduler.run_once()
    assert first is not None and (first.notice.opened, first.notice.closed) == (1, 0)
    assert [row.state for row in lists(world)] == ["open"]
    assert balance(world) == (0, 4, 0)

    instant[0] = at(2026, 12, 2, 8)
    closing = scheduler.run_once()
    assert closing is not None
    assert (closing.notice.closed, closing.notice.posted) == (1, 1)
    assert balance(world) == (4, 0, 4)
    # A cron job's `jifen tick` at the same instant finds nothing left to do.
    again = tick.run(world.db, settings, now=instant[0])
    assert (again.notice.opened, again.notice.closed, again.notice.posted) == (0, 0, 0)
    assert balance(world) == (4, 0, 4)
    assert scheduler.rounds == 2


def test_the_served_app_starts_the_scheduler_only_when_asked(world: World) -> None:
    volunteer(world, date(2026, 10, 10), 1)  # 2 points, held
    quiet = create_app(world.db.settings, world.db)
    with TestClient(quiet):
        assert quiet.state.scheduler is None

    settings = world.db.settings.model_copy(update={"tick_every_minutes": 60})
    app = create_app(settings, world.db, tick_scheduler=True)
    with TestClient(app):
        scheduler = app.state.scheduler
        assert isinstance(scheduler, tick.Scheduler)
        # It ticks once as it starts (by the wall clock: today is after October's list
        # opened, so the list exists once the round is done).
        assert scheduler.round_done.wait(ROUND_WAIT_SECONDS)
        assert scheduler.rounds >= 1 and scheduler.last is not None
        assert [row.period_start_on for row in lists(world)][:1] == [date(2026, 10, 1)]
    # Leaving the app stops the thread.
    assert scheduler._thread is None


def test_a_failed_round_is_logged_and_the_next_one_runs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.db.settings.model_copy(update={"tick_every_minutes": 5})
    scheduler = tick.Scheduler(world.db, settings, clock=lambda: at(2026, 11, 26, 8))
    calls = []

    def broken(*_args: object, **_kwargs: object) -> None:
        calls.append(1)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(tick.notice, "tick", broken)
    assert scheduler.run_once() is None
    assert (scheduler.rounds, calls) == (1, [1])
    monkeypatch.undo()
    assert scheduler.run_once() is not None
    assert scheduler.rounds == 2


def test_the_interval_is_validated() -> None:
    with pytest.raises(ValidationError):
        Settings(tick_every_minutes=-1)
    with pytest.raises(ValidationError):
        Settings(tick_every_minutes=24 * 60 + 1)
    with pytest.raises(ValueError, match="at least 1"):
        tick.Scheduler(None, Settings(tick_every_minutes=0))  # type: ignore[arg-type]
