"""The consumer runner shared by views, actions (and webhooks): checkpoint, leadership, retries.

Each consumer reads the log from its checkpoint in bounded ranges, only while this process
leads it, waking on the sequencer's NOTIFY and polling anyway. A failing handler is never
swallowed: the consumer records the error and the seq it is stuck on, retries with capped
exponential backoff, and waits for the event to succeed or for an operator to skip it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from app.db.outages import OUTAGE_ERRORS
from app.relay.background import cancel_and_wait
from app.relay.checkpoints import Checkpoints
from app.relay.consumer_log import ConsumerLog, Row
from app.relay.leadership import Leadership
from app.relay.listener import Listener, wait_for
from app.relay.sql import CONTROL_CHANNEL, LOG_CHANNEL

log = logging.getLogger("sluice.consumers")
steps = logging.getLogger("sluice.steps")


class HandlerFailed(Exception):
    """The event at ``seq`` failed; everything before it has been committed."""

    def __init__(self, seq: int, error: BaseException) -> None:
        super().__init__(f"seq {seq}: {describe(error)}")
        self.seq = seq
        self.error = error


class PositionMoved(Exception):
    """The checkpoint is not where this batch started (another process, or a skip)."""


class Consumer(Protocol):
    name: str
    kind: str
    log_types: frozenset[str] | None  # None: every event

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        """Apply ``rows`` and move the checkpoint to ``upto``, or raise HandlerFailed."""

    def reset(self) -> None:
        """Forget anything held in memory about the consumer's effects."""


@dataclass(frozen=True)
class ConsumerSettings:
    batch_size: int = 1000
    poll_interval: float = 0.5
    min_interval: float = 0.0  # see _pace
    backoff_initial: float = 0.1
    backoff_max: float = 30.0

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** max(attempts - 1, 0))


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class ConsumerWorker:
    def __init__(
        self,
        consumer: Consumer,
        *,
        checkpoints: Checkpoints,
        consumer_log: ConsumerLog,
        leadership: Leadership,
        listener: Listener,
        settings: ConsumerSettings,
    ) -> None:
        self.consumer = consumer
        self.name = consumer.name
        self.checkpoints = checkpoints
        self.consumer_log = consumer_log
        self.leadership = leadership
        self.listener = listener
        self.settings = settings
        self.narrow_until = 0  # after an unattributed batch failure: one event at a time
        self._control = asyncio.Event()
        self._prefetched: tuple[int, int, asyncio.Task[list[Row]]] | None = None
        self.caught_up_at = float("-inf")  # when a batch last reached the head
        self.batches = 0  # ranges taken from the log
        self._task: asyncio.Task[None] | None = None
        leadership.want(self.name)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"sluice-consumer-{self.name}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def run(self) -> None:
        waker = self.listener.waker(LOG_CHANNEL, CONTROL_CHANNEL)
        self._control = self.listener.waker(CONTROL_CHANNEL)
        outage_delay = self.settings.backoff_initial
        try:
            while True:
                await self.leadership.wait_leading(self.name)
                try:
                    await self.checkpoints.record_leader(self.name, self.leadership.identity)
                    self.consumer.reset()
                    while self.leadership.leading(self.name):
                        await self.step(waker)
                        outage_delay = self.settings.backoff_initial
                except OUTAGE_ERRORS as error:
                    self.consumer.reset()
                    log.warning("%s: database unavailable (%s); retrying", self.name, error)
                    await asyncio.sleep(outage_delay)
                    outage_delay = min(outage_delay * 2, self.settings.backoff_max)
        finally:
            if self._prefetched is not None:
                self._prefetched[2].cancel()
            self.listener.forget(waker)
            self.listener.forget(self._control)

    async def step(self, waker: asyncio.Event) -> None:
        """One batch, or one wait when there is nothing to do."""
        await self._pace()
        waker.clear()  # before reading: a notification arriving meanwhile is kept
        position, paused, head = await self.checkpoints.progress(self.name)
        if paused:
            await self._drop_prefetch()
            await wait_for(waker, self.settings.poll_interval)
            return
        if head <= position:
            await wait_for(waker, self.settings.poll_interval)
            return
        upto = min(head, position + self.settings.batch_size)
        if self.narrow_until > position:
            upto = position + 1
        upto, rows = await self._read(position, upto)
        self.batches += 1
        if upto >= head:
            self.caught_up_at = time.monotonic()
        following = min(head, upto + self.settings.batch_size)
        if following > upto and self.narrow_until <= upto:
            # Read the next range while this one is applied: the database's time on one
            # overlaps Python's on the other.
            read = self.consumer_log.read(self.name, upto, following, self.consumer.log_types)
            self._prefetched = (upto, following, asyncio.create_task(read))
        started = time.perf_counter()
        try:
            await self.consumer.process(position, upto, rows)
            if rows:  # a range with nothing for this consumer is not a step worth a line
                steps.info(
                    "%s applied seq %d..%d (%d events)",
                    self.name,
                    position + 1,
                    upto,
                    len(rows),
                    extra={
                        "fields": {
                            "step": "consume",
                            "consumer": self.name,
                            "after": position,
                            "upto": upto,
                            "events": len(rows),
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    },
                )
        except PositionMoved:
            self.consumer.reset()
        except HandlerFailed as failed:
            await self._failed(failed.seq, failed.error)
        except OUTAGE_ERRORS:
            raise
        except Exception as error:  # not attributable to one event (e.g. a constraint)
            self.consumer.reset()
            if upto - position > 1:
                self.narrow_until = upto  # find the culprit one event at a time
                return
            await self._failed(upto, error)

    async def _pace(self) -> None:
        """Under a steady stream of events, start at most one batch per ``min_interval``.

        Each batch costs several round trips whatever its size, on the event loop that also
        serves requests: at 1,000 events/s a consumer woken by every sequencer batch took a
        quarter of a busy process's time for batches of two or three events, and delayed
        everything else on its loop. Pacing only follows a batch that caught up with the
        head, so an event after a quiet spell goes at once and a backlog drains at full
        speed; a view's freshness under load costs at most ``min_interval``.
        """
        wait = self.caught_up_at + self.settings.min_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _drop_prefetch(self) -> None:
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            await cancel_and_wait(prefetched[2])

    async def _read(self, position: int, upto: int) -> tuple[int, list[Row]]:
        """The range to apply and its rows: the prefetched one if it starts here."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            start, end, task = prefetched
            if start == position and self.narrow_until <= position:
                return end, await task
            await cancel_and_wait(task)
        return upto, await self.consumer_log.read(
            self.name, position, upto, self.consumer.log_types
        )

    async def _failed(self, seq: int, error: BaseException) -> None:
        self.consumer.reset()
        self._control.clear()
        attempts = await self.checkpoints.record_failure(self.name, seq, describe(error))
        delay = self.settings.backoff(attempts)
        log.error(
            "%s: failed at seq %d (attempt %d, next in %.1fs): %s",
            self.name,
            seq,
            attempts,
            delay,
            describe(error),
            exc_info=(attempts == 1 and error) or None,
        )
        await wait_for(self._control, delay)  # an operator's skip or resume wakes it early
