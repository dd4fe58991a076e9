"""Every knob Sluice reads, from the environment (prefix ``SLUICE_``, plus ``DATABASE_URL``).

Each field is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.keys.material import looks_like_key
from app.keys.ratelimit import MAX_RATE, MIN_RATE, check_rate
from app.webhooks.schedule import DEFAULT_SCHEDULE, parse_schedule


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the CLI prints this and exits 2."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SLUICE_DATABASE_URL"),
        description="PostgreSQL to use. Unset: an embedded server under data_dir.",
    )
    data_dir: Path = Field(default=Path(".sluice"), description="Embedded PostgreSQL's home.")
    embedded: bool = Field(
        default=True,
        description="Start an embedded PostgreSQL when DATABASE_URL is unset (false in images).",
    )
    service: str = Field(
        default="app.services.ward:service",
        description="The service to run, as 'module:attribute'.",
    )
    service_name: str | None = Field(
        default=None, description="Name used in event sources; defaults to the service's own."
    )
    host: str = Field(default="127.0.0.1", description="Where `sluice serve` listens.")
    port: int = Field(default=8000, description="Where `sluice serve` listens.")

    admin_key: str | None = Field(
        default=None,
        description="An admin API key (sk_…) seeded at start; its hash is stored, never the key.",
    )

    log_level: str = Field(
        default="INFO",
        pattern="(?i)^(debug|info|warning|error|critical)$",
        description="debug, info, warning or error.",
    )
    log_format: str = Field(
        default="json", pattern="^(json|text)$", description="json (one object per line) or text."
    )
    access_log: bool = Field(default=True, description="One log line per request.")
    rate_limit_per_second: float = Field(
        default=1000.0,
        ge=0,
        le=MAX_RATE,
        description="Requests per second per API key per process (token bucket); 0: no limit.",
    )
    rate_limit_burst: float = Field(
        default=2000.0, ge=1, description="Requests a key may send at once above its rate."
    )
    auth_failures_per_second: float = Field(
        default=1.0,
        ge=MIN_RATE,
        description="Unknown or revoked keys one client address may present per second"
        " (after the burst); beyond, 429 without a lookup.",
    )
    auth_failures_burst: float = Field(
        default=20.0, ge=1, description="Failed authentications an address may make at once."
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection must send a request's headers within this long, or it is"
        " closed (half-sent requests cannot pile up).",
    )
    http_keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this long."
    )
    http_max_connections: int = Field(
        default=2048,
        ge=1,
        description="Open connections (WebSockets included) and requests in flight per"
        " process at most; beyond, new requests get 503.",
    )
    max_json_depth: int = Field(
        default=32, ge=1, description="Deeper JSON bodies (nested objects/arrays) get 400."
    )
    ws_max_message_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger WebSocket messages from a client close it."
    )
    ws_clients_per_key: int = Field(
        default=100, ge=1, description="WebSocket connections one API key may hold per process."
    )

    pool_min_size: int = Field(default=4, ge=1, description="Connections kept open.")
    pool_max_size: int = Field(default=16, ge=1, description="Connections at most.")
    db_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="At start, how long `sluice serve`/`migrate` wait for an unreachable"
        " DATABASE_URL (retrying with backoff, a line per attempt) before giving up.",
    )
    db_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait for a database connection; then 503 (e.g. during an outage).",
    )

    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Larger bodies get 413.")
    snapshot_every: int = Field(default=100, ge=0, description="Snapshot each N events; 0: never.")
    command_retries: int = Field(
        default=8, ge=0, description="Re-decisions after a lost optimistic-concurrency race."
    )
    idempotency_ttl_seconds: float = Field(
        default=24 * 3600, gt=0, description="How long an Idempotency-Key is remembered."
    )
    sequencer_batch_size: int = Field(
        default=5000, ge=1, description="Outbox rows the sequencer numbers per transaction."
    )
    relay_poll_seconds: float = Field(
        default=0.5, gt=0, description="Poll interval behind NOTIFY (sequencer, log hub)."
    )
    leader_retry_seconds: float = Field(
        default=1.0, gt=0, description="How often a standby tries to take over leadership."
    )
    log_buffer_size: int = Field(
        default=10_000, ge=1, description="Recent log events each process keeps in memory."
    )
    ws_queue_size: int = Field(
        default=1000, ge=1, description="Events queued per WebSocket client at most."
    )
    ws_slow_after_seconds: float = Field(
        default=2.0, gt=0, description="A client whose queue stays full this long is closed 4008."
    )
    ws_ping_interval_seconds: float = Field(
        default=20.0, gt=0, description="The server pings WebSocket clients this often."
    )
    ws_ping_timeout_seconds: float = Field(
        default=20.0, gt=0, description="A client that does not answer a ping in time is closed."
    )
    entity_cache_size: int = Field(
        default=10_000, ge=0, description="Entities kept in memory; 0 disables the cache."
    )
    consumer_batch_size: int = Field(
        default=1000, ge=1, description="Log events a view or action takes per batch at most."
    )
    consumer_min_interval_seconds: float = Field(
        default=0.01,
        ge=0,
        description="Under load, a consumer caught up with the log starts at most one batch"
        " per interval, so batches grow instead of multiplying; 0 turns pacing off.",
    )
    consumer_backoff_initial_seconds: float = Field(
        default=0.1, gt=0, description="First retry delay of a failing consumer (then doubles)."
    )
    consumer_backoff_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest retry delay of a failing consumer."
    )
    view_cache_size: int = Field(
        default=100_000, ge=0, description="View rows each projector keeps in memory."
    )
    view_consistency_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long ?consistent_with= waits before a 503."
    )
    webhook_allow_private: bool | None = Field(
        default=None,
        description="Allow webhook URLs on private/loopback addresses and plain http. "
        "Unset: allowed with the embedded database (local use), refused with DATABASE_URL.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A delivery attempt's whole time (connect to answer)."
    )
    webhook_retry_schedule: str = Field(
        default=DEFAULT_SCHEDULE,
        description="Seconds between attempts after the first, comma-separated; then failed.",
    )
    webhook_secret_grace_seconds: float = Field(
        default=24 * 3600, ge=0, description="How long a rotated-out secret keeps signing."
    )
    webhook_disable_after_seconds: float = Field(
        default=5 * 24 * 3600, gt=0, description="A subscription failing this long is disabled."
    )
    webhook_concurrency: int = Field(
        default=64, ge=1, description="Delivery attempts in flight per process at most."
    )
    webhook_subscription_concurrency: int = Field(
        default=10, ge=1, description="In-flight attempts per subscription per process at most."
    )

    @field_validator("admin_key")
    @classmethod
    def _admin_key_shape(cls, value: str | None) -> str | None:
        if not value:  # SLUICE_ADMIN_KEY= (empty) is unset
            return None
        if not looks_like_key(value):
            raise ValueError("SLUICE_ADMIN_KEY must look like sk_ followed by 17-197 characters")
        return value

    @field_validator("rate_limit_per_second")
    @classmethod
    def _sensible_rate(cls, value: float) -> float:
        return check_rate(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    def uses_embedded_database(self) -> bool:
        return self.database_url is None and self.embedded

    def allows_private_webhooks(self) -> bool:
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return self.uses_embedded_database()


@lru_cache
def get_settings() -> Settings:
    return Settings()
