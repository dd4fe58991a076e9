"""The ward monitor's own settings (environment variables prefixed SLUICE_WARD_)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_WARD_", extra="ignore")

    ack_minutes: float = Field(
        default=15,
        gt=0,
        description="An alert not acknowledged within this many minutes is escalated.",
    )


def ack_delay() -> timedelta:
    """Read when an alert is raised, so a changed setting applies to the next alert."""
    return timedelta(minutes=WardSettings().ack_minutes)
