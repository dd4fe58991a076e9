"""The outreach team's own settings (environment variables prefixed SLUICE_OUTREACH_)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutreachSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_OUTREACH_", extra="ignore")

    accept_seconds: float = Field(
        default=120,
        gt=0,
        description="A paged responder who has not accepted within this many seconds is passed"
        " over for the next one on the roster.",
    )
    arrival_minutes: float = Field(
        default=15,
        gt=0,
        description="No one arrived this many minutes after acceptance: the emergency team is"
        " paged.",
    )


# Read when a step starts, so a changed setting applies to the next step that starts.
def accept_window(_state: object = None) -> timedelta:
    return timedelta(seconds=OutreachSettings().accept_seconds)


def arrival_window(_state: object = None) -> timedelta:
    return timedelta(minutes=OutreachSettings().arrival_minutes)
