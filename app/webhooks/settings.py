"""Webhook delivery: where it may go, how long an attempt takes, when it is tried again."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.config import SettingsGroup
from app.webhooks.schedule import DEFAULT_SCHEDULE, parse_schedule


class WebhookSettings(SettingsGroup):
    allow_private: bool | None = Field(
        default=None,
        alias="webhook_allow_private",
        description="Allow webhook URLs on private/loopback addresses and plain http. "
        "Unset: allowed with the embedded database (local use), refused with DATABASE_URL.",
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        alias="webhook_timeout_seconds",
        description="A delivery attempt's whole time (connect to answer).",
    )
    retry_schedule: str = Field(
        default=DEFAULT_SCHEDULE,
        alias="webhook_retry_schedule",
        description="Seconds between attempts after the first, comma-separated; then failed.",
    )
    secret_grace_seconds: float = Field(
        default=24 * 3600,
        ge=0,
        alias="webhook_secret_grace_seconds",
        description="How long a rotated-out secret keeps signing.",
    )
    disable_after_seconds: float = Field(
        default=5 * 24 * 3600,
        gt=0,
        alias="webhook_disable_after_seconds",
        description="A subscription failing this long is disabled.",
    )
    concurrency: int = Field(
        default=64,
        ge=1,
        alias="webhook_concurrency",
        description="Delivery attempts in flight per process at most.",
    )
    subscription_concurrency: int = Field(
        default=10,
        ge=1,
        alias="webhook_subscription_concurrency",
        description="In-flight attempts per subscription per process at most.",
    )

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    def schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.retry_schedule)
