"""API keys: the one seeded from the environment, and the limits on using keys."""

from __future__ import annotations

from pydantic import field_validator

from app.config import SettingsGroup, setting
from app.keys.material import looks_like_key
from app.keys.ratelimit import MAX_RATE, MIN_RATE, check_rate


class KeySettings(SettingsGroup):
    admin_key: str | None = setting(
        None,
        "admin_key",
        "An admin API key (sk_…) seeded at start; its hash is stored, never the key.",
    )
    rate_limit_per_second: float = setting(
        1000.0,
        "rate_limit_per_second",
        "Requests per second per API key per process (token bucket); 0: no limit.",
        ge=0,
        le=MAX_RATE,
    )
    rate_limit_burst: float = setting(
        2000.0, "rate_limit_burst", "Requests a key may send at once above its rate.", ge=1
    )
    auth_failures_per_second: float = setting(
        1.0,
        "auth_failures_per_second",
        "Unknown or revoked keys one client address may present per second"
        " (after the burst); beyond, 429 without a lookup.",
        ge=MIN_RATE,
    )
    auth_failures_burst: float = setting(
        20.0, "auth_failures_burst", "Failed authentications an address may make at once.", ge=1
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
