"""One LISTEN connection per process, waking whoever waits on a channel.

The connection does nothing but wait for notifications, so none is lost while it runs other
statements. A notification is only a hint: every worker also polls, and after a reconnect all
channels are woken and every reader hears ``""``, because something may have been missed.

Channels are registered by the components that use them (``waker``, ``on_payload``); each
package names its own. One registered after the listener connected is listened to within
``LATE_CHANNEL_SECONDS`` (and woken then, as after a reconnect): until then its waiters poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from app.background.settings import WorkerSettings
from app.background.worker import PollingWorker

log = logging.getLogger("sluice.relay")

LATE_CHANNEL_SECONDS = 1.0  # how often the listen loop looks for channels registered late


class Listener(PollingWorker):
    name = "listener"

    def __init__(self, conninfo: str, settings: WorkerSettings) -> None:
        super().__init__(listener=None, settings=settings)
        self.conninfo = conninfo
        self._wakers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._readers: dict[str, list[Callable[[str], None]]] = defaultdict(list)
        self.connected = asyncio.Event()
        self._listening: frozenset[str] = frozenset()
        self._late = False  # a channel was registered while connected: LISTEN to it too

    @property
    def listened(self) -> tuple[str, ...]:
        return tuple(sorted({*self._wakers, *self._readers}))

    def waker(self, *channels: str) -> asyncio.Event:
        """An event set on every notification of any of ``channels``; the caller clears it."""
        event = asyncio.Event()
        for channel in channels:
            self._note(channel)
            self._wakers[channel].add(event)
        return event

    def on_payload(self, channel: str, reader: Callable[[str], None]) -> None:
        """Call ``reader(payload)`` for every notification on ``channel`` (then wake it), and
        ``reader("")`` after each (re)connection: anything may have been missed."""
        self._note(channel)
        self._readers[channel].append(reader)

    def _note(self, channel: str) -> None:
        if self.connected.is_set() and channel not in self._listening:
            self._late = True

    def wake_local(self, channel: str) -> None:
        """Wake this process's waiters now, without the round trip through PostgreSQL: the
        NOTIFY still reaches the other processes (and arrives here again, harmlessly)."""
        self._wake((channel,))

    def forget(self, event: asyncio.Event, *channels: str) -> None:
        for channel in channels or tuple(self._wakers):
            self._wakers[channel].discard(event)

    async def step(self) -> float | None:
        """Listen until the connection ends (an outage raises, and the loop backs off)."""
        try:
            await self._listen()
        finally:
            self.connected.clear()
        return 0

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            self._listening = frozenset()
            await self._listen_to_new(conn)
            self.connected.set()
            while True:
                async for notification in conn.notifies(timeout=LATE_CHANNEL_SECONDS):
                    for reader in self._readers.get(notification.channel, ()):
                        reader(notification.payload)
                    self._wake((notification.channel,))
                    if self._late:
                        break
                if self._late:
                    await self._listen_to_new(conn)

    async def _listen_to_new(self, conn: psycopg.AsyncConnection) -> None:
        """LISTEN to the channels not listened to yet, then tell their readers and waiters
        that anything may have happened before."""
        self._late = False
        new = [channel for channel in self.listened if channel not in self._listening]
        for channel in new:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._listening = self._listening | frozenset(new)
        for channel in new:
            for reader in self._readers.get(channel, ()):
                reader("")
        self._wake(new)

    def _wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            for event in self._wakers.get(channel, ()):
                event.set()
