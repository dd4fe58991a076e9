"""Webhook delivery: where it may go, how long an attempt takes, when it is tried again."""

from __future__ import annotations

from pydantic import field_validator

from app.config import SettingsGroup, setting
from app.webhooks.schedule import DEFAULT_SCHEDULE, parse_schedule


class WebhookSettings(SettingsGroup):
    allow_private: bool | None = setting(
        None,
        "webhook_allow_private",
        "Allow webhook URLs on private/loopback addresses and plain http. "
        "Unset: allowed with the embedded database (local use), refused with DATABASE_URL.",
    )
    timeout_seconds: float = setting(
        10.0,
        "webhook_timeout_seconds",
        "A delivery attempt's whole time (connect to answer).",
        gt=0,
    )
    retry_schedule: str = setting(
        DEFAULT_SCHEDULE,
        "webhook_retry_schedule",
        "Seconds between attempts after the first, comma-separated; then failed.",
    )
    secret_grace_seconds: float = setting(
        24 * 3600,
        "webhook_secret_grace_seconds",
        "How long a rotated-out secret keeps signing.",
        ge=0,
    )
    disable_after_seconds: float = setting(
        5 * 24 * 3600,
        "webhook_disable_after_seconds",
        "A subscription failing this long is disabled.",
        gt=0,
    )
    concurrency: int = setting(
        64, "webhook_concurrency", "Delivery attempts in flight per process at most.", ge=1
    )
    subscription_concurrency: int = setting(
        10,
        "webhook_subscription_concurrency",
        "In-flight attempts per subscription per process at most.",
        ge=1,
    )

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    def schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.retry_schedule)
