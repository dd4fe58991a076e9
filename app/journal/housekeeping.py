"""Idempotency records past their retention are dead weight: each process drops them now
and then (deleting what another process deleted already is harmless)."""

from __future__ import annotations

import logging

from app.background.settings import WorkerSettings
from app.background.worker import PollingWorker
from app.journal.repository import Journal

log = logging.getLogger("sluice")

PURGE_INTERVAL_SECONDS = 600.0


class ExpiredCommandPurger(PollingWorker):
    name = "command-log-purger"

    def __init__(self, journal: Journal, ttl_seconds: float, settings: WorkerSettings) -> None:
        super().__init__(listener=None, settings=settings)
        self.journal = journal
        self.ttl_seconds = ttl_seconds

    async def step(self) -> float:
        purged = await self.journal.purge_expired_commands(self.ttl_seconds)
        if purged:
            log.info("purged %d expired idempotency records", purged)
        return PURGE_INTERVAL_SECONDS
