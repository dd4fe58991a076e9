"""Every background worker's rhythm: how often it polls behind NOTIFY, how it backs off."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class WorkerSettings(SettingsGroup):
    poll_seconds: float = Field(
        default=0.5,
        gt=0,
        alias="relay_poll_seconds",
        description="Poll interval behind NOTIFY (sequencer, log hub, consumers, timers,"
        " webhooks): a lost notification only delays.",
    )
    leader_retry_seconds: float = Field(
        default=1.0,
        gt=0,
        alias="leader_retry_seconds",
        description="How often a standby tries to take over leadership.",
    )
    outage_backoff_max_seconds: float = Field(
        default=10.0,
        gt=0,
        alias="outage_backoff_max_seconds",
        description="Through a database outage workers retry at growing intervals, at most"
        " this long apart.",
    )
