"""Settings, read once from the environment (prefix JIFEN_). Nothing else reads os.environ."""

from __future__ import annotations

from functools import cached_property
from pathlib import PurePath
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
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
    # Stored answers to Idempotency-Key requests are kept this many days, then `jifen tick`
    # purges them (in batches of idempotency_purge_batch rows). A retry after that is still
    # safe: an entry's own (actor, key) is unique, so the ledger never books it twice.
    idempotency_retention_days: int = 30
    idempotency_purge_batch: int = 1000
    # Requests per API key or per client ("" turns limiting off), the token endpoint per
    # client_id, and member-binding attempts per client (each guesses a credential).
    rate_limit: str = "1200/minute"
    token_rate_limit: str = "60/minute"
    binding_rate_limit: str = "30/minute"
    # The public display (公示栏: /public and /p), without sign-in: per client address.
    public_rate_limit: str = "120/minute"
    # Lifetime of an OAuth2 access token, in seconds.
    access_token_ttl_seconds: int = 900
    # One-time binding codes a clerk issues expire after this many seconds.
    binding_code_ttl_seconds: int = 900
    # After a client or webhook secret is rotated, the old one still works this long
    # (a rotation may ask for less, or for at most secret_rotation_grace_seconds_max).
    secret_rotation_grace_seconds: int = Field(default=24 * 3600, ge=0)
    secret_rotation_grace_seconds_max: int = Field(default=7 * 24 * 3600, ge=0)
    # Web sign-in: the session cookie's lifetime, and whether it needs HTTPS.
    web_session_ttl_seconds: int = 8 * 3600
    web_cookie_secure: bool = False
    # Run the webhook delivery worker inside `jifen serve` (else run `jifen worker`).
    webhook_worker_in_process: bool = True
    webhook_attempts_max: int = 8
    webhook_timeout_seconds: float = 10.0
    # Where webhooks may go (jifen.webhooks.ssrf). Production: https only, public
    # addresses only, these ports ("any" for development). The allow_* switches are for
    # development against a receiver on this machine, never for production.
    webhook_allow_http: bool = False
    webhook_allow_private_addresses: bool = False
    webhook_ports: str = "443,80,8443"
    # Logs: JSON lines on stderr at this level (jifen.observability).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The bearer token Prometheus presents to read /metrics; unset, /metrics answers 404.
    metrics_token: SecretStr | None = None

    # --- bounds on every wait: past them a request gets 503 with Retry-After ---------------
    # Connecting to PostgreSQL, and waiting for a free connection of the pool.
    db_connect_timeout_seconds: int = 3
    db_pool_timeout_seconds: float = 5.0
    # Waiting for a lock: PostgreSQL's lock_timeout; on SQLite the write lock (in-process
    # and, for other processes, the busy timeout).
    db_lock_timeout_ms: int = 3000
    # One statement (PostgreSQL's statement_timeout), and the watchdog's bound on any one
    # request's use of a connection: past it the connection is broken off, so that a
    # frozen or unreachable server cannot hold a request.
    db_statement_timeout_ms: int = 15000
    # Connections the readers may hold at once (also the size of the thread pool that
    # runs reading endpoints); writes go through the group committer's own connection.
    db_pool_size: int = 16
    # Group commit: how long a write may wait for its turn, how many writes one database
    # transaction takes at most, and the longest it waits for more to arrive.
    write_wait_timeout_seconds: float = 5.0
    write_group_max: int = 1000
    write_window_ms_max: float = 4.0
    # Seconds a client should wait before retrying after a 503.
    retry_after_seconds: int = 1

    # --- signed checkpoints of every village's chain head (jifen.checkpoints) --------------
    # The Ed25519 private key, outside the database: a file (PEM, or the raw 32-byte seed,
    # or its base64), or the base64 seed itself as a secret. At most one of the two.
    checkpoint_key_file: str | None = None
    checkpoint_key: SecretStr | None = None
    # Where the signed checkpoints are appended as JSON Lines (one file a month).
    checkpoint_dir: str | None = None
    # `jifen tick` writes checkpoints when the last is older than this.
    checkpoint_every_minutes: int = 60
    # `jifen serve` runs `jifen tick` itself every N minutes (notice lists, boards,
    # expiry, purges, checkpoints); 0, the default, leaves it to cron or a timer.
    tick_every_minutes: int = Field(default=0, ge=0, le=1440)

    # --- evidence photos of records (jifen.evidence) -----------------------------------------
    # On disk (the default): this directory, else `evidence/` beside the SQLite file (or in
    # the working directory when the database is PostgreSQL). In an S3-compatible bucket
    # when a bucket is named: credentials come from the usual AWS_* variables.
    evidence_dir: str | None = None
    evidence_s3_bucket: str | None = None
    evidence_s3_endpoint_url: str | None = None
    evidence_s3_region: str | None = None
    evidence_s3_prefix: str = "evidence/"
    # What an upload may be: bytes of the file, and pixels of the image (a small file
    # that decompresses into gigabytes is refused before it is decoded).
    evidence_photo_bytes_max: int = Field(default=5 * 1024 * 1024, ge=1024)
    evidence_photo_pixels_max: int = Field(default=50_000_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        # One PostgreSQL driver (psycopg 3) whatever spelling the operator used.
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("idempotency_retention_days", "idempotency_purge_batch")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("checkpoint_every_minutes")
    @classmethod
    def _checkpoint_interval(cls, value: int) -> int:
        if value < 1:
            raise ValueError("JIFEN_CHECKPOINT_EVERY_MINUTES must be at least 1")
        return value

    @model_validator(mode="after")
    def _one_checkpoint_key(self) -> Settings:
        if self.checkpoint_key_file and self.checkpoint_key is not None:
            raise ValueError(
                "set JIFEN_CHECKPOINT_KEY_FILE or JIFEN_CHECKPOINT_KEY, not both: "
                "which key signs must not be a guess"
            )
        return self

    @model_validator(mode="after")
    def _whole_s3_or_none(self) -> Settings:
        named = {
            "JIFEN_EVIDENCE_S3_ENDPOINT_URL": self.evidence_s3_endpoint_url,
            "JIFEN_EVIDENCE_S3_REGION": self.evidence_s3_region,
        }
        given = [name for name, value in named.items() if value]
        if given and not self.evidence_s3_bucket:
            raise ValueError(
                f"{' and '.join(given)} set without JIFEN_EVIDENCE_S3_BUCKET: name the "
                "bucket, or unset them to keep evidence photos on disk"
            )
        if self.evidence_s3_bucket and self.evidence_dir:
            raise ValueError(
                "set JIFEN_EVIDENCE_S3_BUCKET or JIFEN_EVIDENCE_DIR, not both: where evidence "
                "photos are kept must not be a guess"
            )
        return self

    @property
    def evidence_directory(self) -> str:
        """Where the disk storage keeps evidence photos."""
        if self.evidence_dir:
            return self.evidence_dir
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            path = self.database_url[len(prefix) :].split("?")[0]
            return str(PurePath(path).parent / "evidence")
        return "evidence"

    @field_validator("webhook_ports")
    @classmethod
    def _ports(cls, value: str) -> str:
        if value.strip().lower() == "any":
            return "any"
        try:
            ports = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(
                "JIFEN_WEBHOOK_PORTS must be port numbers separated by commas, or 'any'"
            ) from None
        if not ports or any(not 1 <= port <= 65535 for port in ports):
            raise ValueError("JIFEN_WEBHOOK_PORTS: every port must be within 1-65535")
        return ",".join(str(port) for port in ports)

    @property
    def webhook_port_set(self) -> frozenset[int] | None:
        """The ports webhooks may go to (None: any)."""
        if self.webhook_ports == "any":
            return None
        return frozenset(int(port) for port in self.webhook_ports.split(","))

    @field_validator("metrics_token")
    @classmethod
    def _token_length(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and 0 < len(token.get_secret_value()) < 16:
            raise ValueError("JIFEN_METRICS_TOKEN must be at least 16 characters (or unset)")
        return token

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
