"""Fixtures of the access tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Village, make_village


@pytest.fixture
def village(client: TestClient) -> Village:
    """A fresh township and village, created over the API by a platform administrator."""
    return make_village(client)
