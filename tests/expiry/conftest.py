"""Fixtures of the expiry tests: a village the tests give a charter and a clock."""

from __future__ import annotations

import pytest

from jifen.config import Settings
from jifen.db import Database
from tests.expiry.world import World, make_world


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return make_world(db, settings)
