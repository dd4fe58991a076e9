"""Views: their rows in memory, and how long a read waits to be consistent with a write."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class ViewSettings(SettingsGroup):
    cache_size: int = Field(
        default=100_000,
        ge=0,
        alias="view_cache_size",
        description="View rows each projector keeps in memory.",
    )
    consistency_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        alias="view_consistency_timeout_seconds",
        description="How long ?consistent_with= waits before a 503.",
    )
