"""The consumer runner shared by views, actions and the webhook dispatcher: checkpoint,
leadership, retries.

Each consumer reads the log from its checkpoint in bounded ranges, only while this process
leads it, waking on the sequencer's NOTIFY and polling anyway (``PollingWorker``). A failing
handler is never swallowed: the consumer records the error and the seq it is stuck on,
retries with capped exponential backoff, and waits for the event to succeed or for an
operator to skip it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from app.background.leadership import Leadership
from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.tasks import cancel_and_wait, describe, wait_for
from app.background.worker import PollingWorker
from app.db.outages import OUTAGE_ERRORS
from app.relay.checkpoints import Checkpoints
from app.relay.log import EventLog, Row
from app.relay.pacing import Pacing
from app.relay.settings import ConsumerSettings
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


class RetryLater(PositionMoved):
    """What the consumer feeds cannot take the batch now (a broker down): nothing moved;
    the consumer has waited its backoff and the batch is read again from the checkpoint."""


class Consumer(Protocol):
    name: str
    kind: str
    log_types: frozenset[str] | None  # None: every event
    reads_log: bool  # False: it reads the log in its own statement; its rows come empty
    start_from: str  # "beginning" or "now": where it starts when first deployed

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        """Apply ``rows`` and move the checkpoint to ``upto``, or raise HandlerFailed."""

    def reset(self) -> None:
        """Forget anything held in memory about the consumer's effects."""


class ConsumerWorker(PollingWorker):
    channels = (LOG_CHANNEL, CONTROL_CHANNEL)

    def __init__(
        self,
        consumer: Consumer,
        *,
        checkpoints: Checkpoints,
        event_log: EventLog,
        leadership: Leadership,
        listener: Listener,
        settings: ConsumerSettings,
        worker_settings: WorkerSettings,
    ) -> None:
        super().__init__(listener=listener, settings=worker_settings)
        self.consumer = consumer
        self.name = consumer.name
        self.checkpoints = checkpoints
        self.event_log = event_log
        self.leadership = leadership
        self.settings = settings
        self.narrow_until = 0  # after an unattributed batch failure: one event at a time
        self._control = listener.waker(CONTROL_CHANNEL)  # wakes a failing consumer early
        self._prefetched: tuple[int, int, asyncio.Task[list[Row]]] | None = None
        self._led = False  # this process has taken up the lead (recorded, memory reset)
        self.caught_up_at = float("-inf")  # when a batch last reached the head
        self.batches = 0  # ranges taken from the log
        self.held_back = 0  # batches that waited for the pace while events were waiting
        self.pacing = Pacing(settings.min_interval_seconds, settings.max_interval_seconds)
        leadership.want(self.name)

    async def step(self) -> float | None:
        """One batch, or nothing to do (None: wait for a NOTIFY or the poll interval)."""
        if not self.leadership.leading(self.name) or not self._led:
            await self._take_the_lead()
        return await self._batch()

    async def _take_the_lead(self) -> None:
        self._led = False
        await self._drop_prefetch()
        await self.leadership.wait_leading(self.name)
        await self.checkpoints.record_leader(self.name, self.leadership.identity)
        self.consumer.reset()
        self._led = True

    async def on_outage(self, error: BaseException) -> None:
        self._led = False  # take the lead up again: record it, start from the checkpoint
        self.consumer.reset()
        await self._drop_prefetch()

    async def close(self) -> None:
        await self._drop_prefetch()
        self.listener.forget(self._control)  # type: ignore[union-attr]

    async def _batch(self) -> float | None:
        paced = await self._pace()
        position, paused, head = await self._progress()
        if paced and head > position:
            self.held_back += 1
        if paused:
            await self._drop_prefetch()
            return None
        if head <= position:
            return None
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
            read = self._read_range(upto, following)
            self._prefetched = (upto, following, asyncio.create_task(read))
        await self._apply(position, upto, rows)
        return 0

    async def _progress(self) -> tuple[int, bool, int]:
        """Where the next batch starts, whether an operator paused the consumer, and the
        log's head."""
        return await self.checkpoints.progress(self.name)

    async def _apply(self, position: int, upto: int, rows: list[Row]) -> None:
        started = time.perf_counter()
        try:
            await self.consumer.process(position, upto, rows)
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
        else:
            reads = self.consumer.reads_log
            if rows or not reads:  # nothing for it: no step worth a line
                _log_batch(
                    self.name, position, upto, len(rows) if reads else upto - position, started
                )

    async def _pace(self) -> bool:
        """Under a steady stream of events, at most one batch per interval (``Pacing``)."""
        return await self.pacing.wait_after(self.caught_up_at)

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
        return upto, await self._read_range(position, upto)

    async def _read_range(self, after: int, upto: int) -> list[Row]:
        if not self.consumer.reads_log:
            return []
        return await self.event_log.read_range(self.name, after, upto, self.consumer.log_types)

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


def _log_batch(name: str, position: int, upto: int, events: int, started: float) -> None:
    steps.info(
        "%s applied seq %d..%d (%d event%s)",
        name,
        position + 1,
        upto,
        events,
        "" if events == 1 else "s",
        extra={
            "fields": {
                "step": "consume",
                "consumer": name,
                "after": position,
                "upto": upto,
                "events": events,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        },
    )
