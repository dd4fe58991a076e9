"""Every knob Sluice reads, from the environment (prefix ``SLUICE_``, plus ``DATABASE_URL``).

Each field is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    pool_min_size: int = Field(default=4, ge=1, description="Connections kept open.")
    pool_max_size: int = Field(default=16, ge=1, description="Connections at most.")

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
