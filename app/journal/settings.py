"""How commands run: retries, snapshots, idempotency, the entity cache."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class CommandSettings(SettingsGroup):
    snapshot_every: int = setting(100, "snapshot_every", "Snapshot each N events; 0: never.", ge=0)
    retries: int = setting(
        8, "command_retries", "Re-decisions after a lost optimistic-concurrency race.", ge=0
    )
    idempotency_ttl_seconds: float = setting(
        24 * 3600, "idempotency_ttl_seconds", "How long an Idempotency-Key is remembered.", gt=0
    )
    cache_size: int = setting(
        10_000, "entity_cache_size", "Entities kept in memory; 0 disables the cache.", ge=0
    )
