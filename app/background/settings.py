"""Every background worker's rhythm: how often it polls behind NOTIFY, how it backs off."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class WorkerSettings(SettingsGroup):
    poll_seconds: float = setting(
        0.5,
        "relay_poll_seconds",
        "Poll interval behind NOTIFY (sequencer, log hub, consumers, timers,"
        " webhooks): a lost notification only delays.",
        gt=0,
    )
    leader_retry_seconds: float = setting(
        1.0, "leader_retry_seconds", "How often a standby tries to take over leadership.", gt=0
    )
    outage_backoff_max_seconds: float = setting(
        10.0,
        "outage_backoff_max_seconds",
        "Through a database outage workers retry at growing intervals, at most this long apart.",
        gt=0,
    )
