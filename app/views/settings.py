"""Views: their rows in memory, and how long a read waits to be consistent with a write."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class ViewSettings(SettingsGroup):
    cache_size: int = setting(
        100_000, "view_cache_size", "View rows each projector keeps in memory.", ge=0
    )
    consistency_timeout_seconds: float = setting(
        5.0,
        "view_consistency_timeout_seconds",
        "How long ?consistent_with= waits before a 503.",
        gt=0,
    )
