"""Settings, read once from the environment (prefix JIFEN_). Nothing else reads os.environ."""

from __future__ import annotations

from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore")

    database_url: str = "sqlite:///jifen.db"
    # FULL survives power loss after every commit; NORMAL (in WAL) may lose the last commits
    # on power loss but never corrupts. Durability is the default.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Villages reckon dates (deactivation, "today") in local time.
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    postings_per_entry_max: int = 64
    amount_abs_max: int = 10**12
    # An entry may be dated at most this far ahead of the server clock.
    occurred_at_future_skew_seconds: int = 300
    idempotency_key_length_max: int = 255

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        # One PostgreSQL driver (psycopg 3) whatever spelling the operator used.
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
