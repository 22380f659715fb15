"""The webhook tests' receivers listen on http://127.0.0.1 at a random port: they run
with the development settings that allow it (production refuses such URLs, see
test_ssrf.py)."""

from __future__ import annotations

import pytest

from jifen.config import Settings
from jifen.webhooks.ssrf import UrlPolicy

DEVELOPMENT = {
    "webhook_allow_http": True,
    "webhook_allow_private_addresses": True,
    "webhook_ports": "any",
}
DEVELOPMENT_ENV = {f"JIFEN_{name.upper()}": str(value) for name, value in DEVELOPMENT.items()}
DEVELOPMENT_POLICY = UrlPolicy(allow_http=True, allow_private_addresses=True, ports=None)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, **DEVELOPMENT)  # type: ignore[arg-type]
