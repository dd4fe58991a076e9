"""The timer worker: fires due timers through the command path, at least once, in every process.

Every process runs one; they share the due timers through SKIP LOCKED leases (see store.py).
It sleeps until the next timer is due — or a new one is scheduled (NOTIFY), or the poll
interval passes — so a timer fires within about one poll interval of its time.
"""

from __future__ import annotations

import asyncio
import logging

from app.db.outages import OUTAGE_ERRORS
from app.journal.commands import CommandRequest, CommandRunner
from app.journal.errors import CommandRejected
from app.relay.background import cancel_and_wait
from app.relay.consumer import describe
from app.relay.listener import Listener, wait_for
from app.relay.sql import TIMER_CHANNEL
from app.timers.store import DueTimer, TimerStore

log = logging.getLogger("sluice.timers")
steps = logging.getLogger("sluice.steps")

IDEMPOTENCY_SCOPE = "timer"
LEASE_SECONDS = 60.0
BATCH = 100


class TimerWorker:
    def __init__(
        self,
        store: TimerStore,
        runner: CommandRunner,
        listener: Listener,
        *,
        poll_interval: float = 0.5,
        backoff_max: float = 300.0,
    ) -> None:
        self.store = store
        self.runner = runner
        self.listener = listener
        self.poll_interval = poll_interval
        self.backoff_max = backoff_max
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="sluice-timers")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def run(self) -> None:
        waker = self.listener.waker(TIMER_CHANNEL)
        delay = self.poll_interval
        try:
            while True:
                waker.clear()
                try:
                    due = await self.store.claim(BATCH, LEASE_SECONDS)
                    await asyncio.gather(*(self.fire(timer) for timer in due))
                    if len(due) == BATCH:
                        continue
                    wait = await self.store.seconds_to_next()
                    delay = self.poll_interval
                except OUTAGE_ERRORS as error:
                    log.warning("timers: database unavailable (%s); retrying", error)
                    wait, delay = delay, min(delay * 2, 10.0)
                sleep = self.poll_interval if wait is None else max(0.0, wait)
                await wait_for(waker, min(sleep, self.poll_interval))
        finally:
            self.listener.forget(waker)

    async def fire(self, timer: DueTimer) -> None:
        """Send the timer's command; a rejection is an answer too, so the timer is done."""
        try:
            entity = self.runner.entity(timer.entity_type)
            body = entity.commands[timer.command].model.model_validate(timer.body)
            await self.runner.run(
                CommandRequest(
                    entity_type=timer.entity_type,
                    entity_id=timer.entity_id,
                    command=timer.command,
                    body=body,
                    idempotency_key=f"timer:{timer.timer_id}",
                    idempotency_scope=IDEMPOTENCY_SCOPE,
                    metadata={**timer.metadata, "actor": f"timer:{timer.owner}/{timer.key}"},
                )
            )
        except CommandRejected as rejection:
            log.info(
                "timer %s/%s: %s rejected: %s",
                timer.owner,
                timer.key,
                timer.command,
                rejection.reason,
            )
        except OUTAGE_ERRORS:
            raise
        except Exception as error:  # a bug or a stale timer: keep it, visible, and back off
            delay = min(self.backoff_max, 2.0**timer.attempts)
            log.error(
                "timer %s/%s failed (attempt %d): %s",
                timer.owner,
                timer.key,
                timer.attempts,
                describe(error),
            )
            await self.store.retry_later(timer.timer_id, describe(error), delay)
            return
        await self.store.done(timer.timer_id)
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
