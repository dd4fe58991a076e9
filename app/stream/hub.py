"""The log hub: each process follows the log's head and keeps the recent tail in memory.

The sequencer's notification usually carries the events it numbered: the hub takes them from
there when they continue what it holds, and reads the journal only when they do not (a batch
too big to ride along, a notification missed while reconnecting) or when a poll comes due.

Subscribers never receive events pushed at them: each one pulls "everything after my cursor"
from the hub's buffer, or from the journal when its cursor is older than the buffer. So the
switch from catch-up to live has no seam where an event could be missed or repeated: the
cursor decides, whichever store answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.tasks import wait_for
from app.background.worker import PollingWorker
from app.relay.log import EventLog
from app.relay.sql import LOG_CHANNEL
from app.stream.entries import LogEntry

log = logging.getLogger("sluice.stream")


class LogHub(PollingWorker):
    """Follows the log while anyone watches (a ``PollingWorker`` without channels: the
    notifications it needs arrive through ``heard``, which decides whether to read)."""

    name = "log-hub"
    page_size = 1000

    def __init__(
        self,
        event_log: EventLog,
        listener: Listener,
        *,
        buffer_size: int,
        settings: WorkerSettings,
    ) -> None:
        super().__init__(listener=None, settings=settings)
        self.event_log = event_log
        self.head = 0
        self.deepest_queue = 0  # the fullest any subscriber's send queue has been
        self.slow_closed = 0  # subscribers closed (4008) for not keeping up
        self.journal_reads = 0  # reads of the journal (the rest came with notifications)
        self._buffer: deque[LogEntry] = deque(maxlen=buffer_size)
        self._advanced = asyncio.Event()
        self._behind = asyncio.Event()  # the log is (or may be) ahead of what is held
        self._watchers = 0
        self._watched = asyncio.Event()
        listener.on_payload(LOG_CHANNEL, self.heard)

    async def attach(self) -> int:
        """A subscriber arrives; returns the head to start a live stream from.

        The hub follows the log only while someone watches: reading and serializing every
        event for nobody cost a busy process a measurable share of its command throughput.
        """
        if self._watchers == 0:
            self._buffer.clear()  # whatever it held may be far behind by now
            self.head = await self.event_log.head()
        self._watchers += 1
        self._watched.set()
        return self.head

    def detach(self) -> None:
        self._watchers -= 1
        if self._watchers == 0:
            self._watched.clear()

    async def close(self) -> None:
        self._advanced.set()  # nobody waits on a hub that is gone

    def read_after(self, cursor: int, limit: int) -> list[LogEntry] | None:
        """Entries after ``cursor`` from memory; None when they are no longer (or not yet)
        in memory and must be read from the journal."""
        if cursor >= self.head:
            return []
        if not self._buffer or cursor + 1 < self._buffer[0].seq:
            return None
        start = cursor + 1 - self._buffer[0].seq
        return [self._buffer[i] for i in range(start, min(start + limit, len(self._buffer)))]

    async def wait_beyond(self, cursor: int, seconds: float) -> None:
        """Return once the head is past ``cursor`` (or after ``seconds``, to re-check)."""
        advanced = self._advanced
        if self.head > cursor:
            return
        await wait_for(advanced, seconds)

    def heard(self, payload: str) -> None:
        """A sequencer's notification: take the events it carries if they continue the
        buffer; otherwise (or for a bare wake-up) let the follower read the journal."""
        if self._watchers == 0:
            return
        try:
            head, events = self.event_log.notified(payload) if payload else (0, [])
            entries = [LogEntry.of(event) for event in events]
        except (ValueError, TypeError, KeyError) as error:
            log.warning("log hub ignores a notification it cannot read (%s)", error)
            self._behind.set()
            return
        fresh = [entry for entry in entries if entry.seq > self.head]  # a read got some first
        if fresh and fresh[0].seq == self.head + 1:
            self._append(fresh)
        if not payload or head > self.head:
            self._behind.set()

    async def step(self) -> float:
        await self._watched.wait()
        self._behind.clear()
        loaded = await self._load_new()
        if loaded < self.page_size:
            await wait_for(self._behind, self.poll_interval)
        return 0

    async def _load_new(self) -> int:
        entries = await self.read_journal(self.head, self.page_size)
        self.journal_reads += 1
        self._append([entry for entry in entries if entry.seq > self.head])  # heard meanwhile
        return len(entries)

    async def read_journal(self, after: int, limit: int) -> list[LogEntry]:
        """Every event after ``after`` from the journal (unfiltered, so a subscriber's cursor
        moves even past non-matching stretches), each serialized once."""
        return [LogEntry.of(event) for event in await self.event_log.read(after, limit)]

    def _append(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        if self._buffer and entries[0].seq != self._buffer[-1].seq + 1:
            self._buffer.clear()  # only a gapless run is kept, so indexes stay seq-based
        self._buffer.extend(entries)
        self.head = entries[-1].seq
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()
