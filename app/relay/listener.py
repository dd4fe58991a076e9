"""One LISTEN connection per process, waking whoever waits on a channel.

The connection does nothing but wait for notifications, so none is lost while it runs other
statements. A notification is only a hint: every worker also polls, and after a reconnect all
channels are woken because something may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from app.relay.background import cancel_and_wait

log = logging.getLogger("sluice.relay")


class Listener:
    def __init__(self, conninfo: str, channels: Iterable[str]) -> None:
        self.conninfo = conninfo
        self.channels = tuple(channels)
        self._wakers: dict[str, set[asyncio.Event]] = {channel: set() for channel in self.channels}
        self._readers: dict[str, list[Callable[[str], None]]] = {c: [] for c in self.channels}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def waker(self, *channels: str) -> asyncio.Event:
        """An event set on every notification of any of ``channels``; the caller clears it."""
        event = asyncio.Event()
        for channel in channels:
            self._wakers[channel].add(event)
        return event

    def on_payload(self, channel: str, reader: Callable[[str], None]) -> None:
        """Call ``reader(payload)`` for every notification on ``channel`` (then wake it), and
        ``reader("")`` after each (re)connection: anything may have been missed."""
        self._readers[channel].append(reader)

    def wake_local(self, channel: str) -> None:
        """Wake this process's waiters now, without the round trip through PostgreSQL: the
        NOTIFY still reaches the other processes (and arrives here again, harmlessly)."""
        self._wake((channel,))

    def forget(self, event: asyncio.Event, *channels: str) -> None:
        for channel in channels or self.channels:
            self._wakers[channel].discard(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sluice-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                self.connected.clear()
                log.warning("listener lost its connection (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.1

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            for channel in self.channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.connected.set()
            for readers in self._readers.values():  # anything may have happened meanwhile
                for reader in readers:
                    reader("")
            self._wake(self.channels)
            async for notification in conn.notifies():
                for reader in self._readers.get(notification.channel, ()):
                    reader(notification.payload)
                self._wake((notification.channel,))

    def _wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            for event in self._wakers.get(channel, ()):
                event.set()


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Sleep until ``event`` is set or ``seconds`` pass (then poll anyway).

    asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow a cancellation
    that races with its timeout, and the cancelled worker then never stops.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
