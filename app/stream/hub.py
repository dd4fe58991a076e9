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

import psycopg

from app.relay.background import cancel_and_wait
from app.relay.listener import Listener, wait_for
from app.relay.sql import LOG_CHANNEL
from app.stream.log import EventLog, LogEntry

log = logging.getLogger("sluice.stream")


class LogHub:
    def __init__(
        self,
        event_log: EventLog,
        listener: Listener,
        *,
        buffer_size: int = 10_000,
        page_size: int = 1000,
        poll_interval: float = 0.5,
    ) -> None:
        self.event_log = event_log
        self.listener = listener
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.head = 0
        self.deepest_queue = 0  # the fullest any subscriber's send queue has been
        self.slow_closed = 0  # subscribers closed (4008) for not keeping up
        self.journal_reads = 0  # reads of the journal (the rest came with notifications)
        self._buffer: deque[LogEntry] = deque(maxlen=buffer_size)
        self._advanced = asyncio.Event()
        self._behind = asyncio.Event()  # the log is (or may be) ahead of what is held
        self._task: asyncio.Task[None] | None = None
        self._watchers = 0
        self._watched = asyncio.Event()
        listener.on_payload(LOG_CHANNEL, self.heard)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="sluice-log-hub")

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

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._advanced.set()

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
            head, entries = self.event_log.notified_entries(payload) if payload else (0, [])
        except (ValueError, TypeError, KeyError) as error:
            log.warning("log hub ignores a notification it cannot read (%s)", error)
            self._behind.set()
            return
        fresh = [entry for entry in entries if entry.seq > self.head]  # a read got some first
        if fresh and fresh[0].seq == self.head + 1:
            self._append(fresh)
        if not payload or head > self.head:
            self._behind.set()

    async def _follow(self) -> None:
        while True:
            await self._watched.wait()
            self._behind.clear()
            try:
                loaded = await self._load_new()
            except (psycopg.Error, OSError) as error:
                log.warning("log hub cannot read the log (%s); retrying", error)
                await asyncio.sleep(self.poll_interval)
                continue
            if loaded < self.page_size:
                await wait_for(self._behind, self.poll_interval)

    async def _load_new(self) -> int:
        entries = await self.event_log.read_entries(self.head, self.page_size)
        self.journal_reads += 1
        self._append([entry for entry in entries if entry.seq > self.head])  # heard meanwhile
        return len(entries)

    def _append(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        if self._buffer and entries[0].seq != self._buffer[-1].seq + 1:
            self._buffer.clear()  # only a gapless run is kept, so indexes stay seq-based
        self._buffer.extend(entries)
        self.head = entries[-1].seq
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()
