"""How commands run: retries, snapshots, idempotency, the entity cache."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class CommandSettings(SettingsGroup):
    snapshot_every: int = Field(
        default=100, ge=0, alias="snapshot_every", description="Snapshot each N events; 0: never."
    )
    retries: int = Field(
        default=8,
        ge=0,
        alias="command_retries",
        description="Re-decisions after a lost optimistic-concurrency race.",
    )
    idempotency_ttl_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        alias="idempotency_ttl_seconds",
        description="How long an Idempotency-Key is remembered.",
    )
    cache_size: int = Field(
        default=10_000,
        ge=0,
        alias="entity_cache_size",
        description="Entities kept in memory; 0 disables the cache.",
    )
