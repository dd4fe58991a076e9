"""Every background worker's rhythm: how often it polls behind NOTIFY, how it backs off."""

from __future__ import annotations

import os

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


ROLES = ("all", "api", "workers")


class ProcessSettings(SettingsGroup):
    """What a `sluice serve` process runs, so the command side and the consumer side can be
    deployed, and scaled, apart."""

    role: str = setting(
        "all",
        "role",
        "all: the API and the workers; api: HTTP and WebSockets only (commands are appended,"
        " numbered by a workers process); workers: the sequencer, consumers, timers and"
        " webhook deliveries, serving only /healthz, /readyz and /metrics (`--role`).",
        pattern="^(all|api|workers)$",
    )
    workers: str = setting(
        "1",
        "workers",
        "Processes `sluice serve` runs on its one port (`--workers`): a number, or auto (one"
        " per CPU).",
        pattern="^(auto|[1-9][0-9]*)$",
    )

    @property
    def serves_api(self) -> bool:
        return self.role != "workers"

    @property
    def runs_workers(self) -> bool:
        return self.role != "api"

    def process_count(self) -> int:
        return (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)
