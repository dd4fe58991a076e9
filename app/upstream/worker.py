"""A view or action of this service fed by another service's public stream.

The consumer runner's rules hold as for the local log (one leader per consumer, a failing
event pinned and retried with backoff, pause, skip, a batch's effect and its cursor moved
together), with the producer's ``seq`` as the cursor, kept in this service's database. What
differs is where events come from: pages of the producer's stream, asked for with a long
poll once caught up (the producer answers as soon as its log moves); behind the head, the
next few stretches of the log asked for at once while this one is applied. A producer that
cannot be read (down, refusing the key, no such stream) turns the consumer
``upstream-unavailable`` with the reason; it is asked again with backoff and the consumer
resumes from its cursor: nothing is lost or applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from app.background.tasks import cancel_and_wait, first_of
from app.relay.consumer import Consumer, ConsumerWorker
from app.relay.sql import CONTROL_CHANNEL
from app.upstream.client import UpstreamPage, UpstreamUnavailable
from app.upstream.settings import UpstreamSettings
from app.upstream.source import UpstreamSource

log = logging.getLogger("sluice.upstream")

STATUS_EVERY_SECONDS = 1.0  # the producer's head is recorded at most this often when healthy
READ_AHEAD = 3  # pages asked for ahead of the one being applied


class SubscriptionWorker(ConsumerWorker):
    channels = (CONTROL_CHANNEL,)  # an operator's pause, resume or skip cuts a long poll short

    def __init__(
        self,
        consumer: Consumer,
        *,
        source: UpstreamSource,
        upstream_settings: UpstreamSettings,
        **runner: object,
    ) -> None:
        super().__init__(consumer, event_log=source, **runner)  # type: ignore[arg-type]
        self.source = source
        self.upstream_settings = upstream_settings
        self.unavailable = 0  # consecutive failed asks of the producer
        # Pages read ahead, oldest first, each with the cursor it starts after: while one
        # page is applied the next READ_AHEAD are on their way, in flight together.
        self._ahead: deque[tuple[int, asyncio.Task[UpstreamPage]]] = deque()
        self._recorded_at = float("-inf")
        self._head_seen = 0  # the producer's newest head any page has shown
        self._ahead_until = 0  # where the newest page asked for ahead ends

    async def close(self) -> None:
        await super().close()
        await self.source.close()

    async def _batch(self) -> float | None:
        await self._pace()
        position, paused, waiting = await self.checkpoints.upstream_progress(self.name)
        if paused:
            await self._drop_prefetch()
            return None
        try:
            if waiting:  # registered to start "now": now is the producer's head
                await self.checkpoints.start_at_head(self.name, await self.source.head())
                return 0
            page = await self._next_page(position)
        except UpstreamUnavailable as error:
            return await self._unavailable(str(error))
        if page is None:
            return 0  # an operator's control arrived during the long poll
        await self._reachable(page, position)
        if page.next_after <= position:
            return 0  # the long poll ended with nothing new
        self._read_ahead(page)
        if page.next_after >= page.head:
            self.caught_up_at = time.monotonic()
        self.batches += 1
        await self._apply(position, page.next_after, page.rows)
        return 0

    async def _next_page(self, position: int) -> UpstreamPage | None:
        if self._ahead:
            start, task = self._ahead.popleft()
            if start == position and self.narrow_until <= position:
                return await task
            await self._drop_prefetch()
        limit = 1 if self.narrow_until > position else self.upstream_settings.page_size
        fetch = asyncio.create_task(
            self.source.page(self.name, position, limit, self.upstream_settings.wait_seconds)
        )
        try:
            await first_of(fetch, self._waker.wait())
        finally:
            if fetch.cancelled() or not fetch.done():
                await cancel_and_wait(fetch)  # an operator's control came first
        return None if fetch.cancelled() else fetch.result()

    def _read_ahead(self, page: UpstreamPage) -> None:
        """Behind the head, ask for the next stretches of the producer's log at once, each
        as its own range of seqs: the producer's seqs have no gaps, so a range of
        ``page_size`` seqs fits one page and ends where the next begins. Several requests
        in flight keep the producer reading its log while this worker decodes and applies
        (one at a time, each side mostly waited for the other). Not while narrowing in on a
        failing event: that goes one event at a time."""
        if self.narrow_until > page.next_after:
            return
        self._head_seen = max(self._head_seen, page.head)
        size = self.upstream_settings.page_size
        cursor = self._ahead_until if self._ahead else page.next_after
        while len(self._ahead) < READ_AHEAD and cursor < self._head_seen:
            upto = min(cursor + size, self._head_seen)
            task = asyncio.create_task(self._range(cursor, upto))
            self._ahead.append((cursor, task))
            cursor = upto
        self._ahead_until = cursor

    async def _range(self, after: int, upto: int) -> UpstreamPage:
        size = self.upstream_settings.page_size
        page = await self.source.client.page(after, size, upto=upto)
        return await self.source.prepared(self.name, after, page)

    async def _drop_prefetch(self) -> None:
        """Pages read ahead are dropped whenever the local one would be: a lost lead, an
        outage, a pause, a producer gone, the worker stopping, a cursor moved."""
        await super()._drop_prefetch()
        while self._ahead:
            await cancel_and_wait(self._ahead.popleft()[1])

    async def _reachable(self, page: UpstreamPage, position: int) -> None:
        """The producer answered: record its head (at most once a second while healthy)."""
        recovered = self.unavailable > 0
        if recovered:
            log.info("%s: %s readable again", self.name, self.source.subscription.upstream)
        self.unavailable = 0
        now = time.monotonic()
        if recovered or now - self._recorded_at >= STATUS_EVERY_SECONDS:
            self._recorded_at = now
            caught_up = page.next_after >= page.head
            await self.checkpoints.upstream_reached(self.name, page.head, caught_up=caught_up)

    async def _unavailable(self, reason: str) -> float:
        await self._drop_prefetch()
        self.unavailable += 1
        delay = self.settings.backoff(self.unavailable)
        if self.unavailable == 1 or self.unavailable % 10 == 0:
            log.warning(
                "%s: %s unavailable (attempt %d, next in %.1fs): %s",
                self.name,
                self.source.subscription.upstream,
                self.unavailable,
                delay,
                reason,
            )
        await self.checkpoints.upstream_failed(self.name, reason)
        return delay
