"""Fixtures: a village under 清泉村's household charter, or 罗峪村's member charter."""

from __future__ import annotations

import pytest

from jifen.config import Settings
from jifen.db import Database
from tests.records.charters import luoyu, qingquan
from tests.records.world import World, make_world


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    """Household points (一户一档), deductions floored at zero."""
    return make_world(db, settings, qingquan())


@pytest.fixture
def member_world(db: Database, settings: Settings) -> World:
    """Member points, deductions may go below zero."""
    return make_world(db, settings, luoyu())
