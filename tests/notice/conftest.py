"""Fixtures of the notice tests."""

from __future__ import annotations

import pytest

from jifen.config import Settings
from jifen.db import Database
from tests.notice.world import notice_world
from tests.records.world import World


@pytest.fixture
def world(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> World:
    return notice_world(db, settings, monkeypatch)
