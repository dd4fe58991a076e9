"""The timer worker: fires due timers, at least once, in every process.

Every process runs one; they share the due timers through SKIP LOCKED leases (see sql.py).
It sleeps until the next timer is due — or a new one is scheduled (NOTIFY), or the poll
interval passes — so a timer fires within about one poll interval of its time. A worker
that dies mid-batch leaves its leases to expire (``LEASE_SECONDS``); one that lost the database
mid-batch hands them back as soon as it returns, so an outage delays no timer past its end.

Firing is the command path's business (the timer's command, with the idempotency key
``timer:{timer_id}``): the worker is handed that as ``fire`` and only keeps the books — a
timer whose command ran (or was refused: a refusal is an answer too) is done; one that
failed otherwise stays, visible, and is tried again later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.tasks import describe
from app.background.worker import PollingWorker
from app.db.outages import OUTAGE_ERRORS
from app.timers.sql import TIMER_CHANNEL
from app.timers.store import DueTimer, TimerStore

log = logging.getLogger("sluice.timers")
steps = logging.getLogger("sluice.steps")

LEASE_SECONDS = 60.0
BATCH = 100
RETRY_MAX_SECONDS = 300.0

Fire = Callable[[DueTimer], Awaitable[None]]


class TimerWorker(PollingWorker):
    name = "timers"
    channels = (TIMER_CHANNEL,)

    def __init__(
        self, store: TimerStore, fire: Fire, listener: Listener, settings: WorkerSettings
    ) -> None:
        super().__init__(listener=listener, settings=settings)
        self.store = store
        self._fire = fire
        self._held: set[uuid.UUID] = set()  # claimed, not yet done or put off

    async def step(self) -> float | None:
        if self._held:  # an outage interrupted the last batch: its leases go back first
            await self.store.release(sorted(self._held))
            self._held.clear()
        due = await self.store.claim(BATCH, LEASE_SECONDS)
        self._held = {timer.timer_id for timer in due}
        fired = await asyncio.gather(*(self.fire(timer) for timer in due), return_exceptions=True)
        failure = next((result for result in fired if isinstance(result, BaseException)), None)
        if failure is not None:
            raise failure  # every fire has ended: none runs on behind the loop's back
        if len(due) == BATCH:
            return 0
        wait = await self.store.seconds_to_next()
        return None if wait is None else min(max(0.0, wait), self.poll_interval)

    async def fire(self, timer: DueTimer) -> None:
        try:
            await self._fire(timer)
        except OUTAGE_ERRORS:
            raise
        except Exception as error:  # a bug or a stale timer: keep it, visible, and back off
            delay = min(RETRY_MAX_SECONDS, 2.0**timer.attempts)
            log.error(
                "timer %s/%s failed (attempt %d): %s",
                timer.owner,
                timer.key,
                timer.attempts,
                describe(error),
            )
            await self.store.retry_later(timer.timer_id, describe(error), delay)
            self._held.discard(timer.timer_id)
            return
        await self.store.done(timer.timer_id)
        self._held.discard(timer.timer_id)
        steps.info(
            "timer %s/%s fired %s",
            timer.owner,
            timer.key,
            timer.command,
            extra={
                "fields": {
                    "step": "timer",
                    "timer_id": str(timer.timer_id),
                    "command": f"{timer.entity_type}/{timer.entity_id}:{timer.command}",
                    "correlation_id": timer.metadata.get("correlation_id"),
                }
            },
        )
