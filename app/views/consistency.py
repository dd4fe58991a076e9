"""Read-your-writes for views: wait until a view has applied a given event.

A client that just ran a command holds its event ids; ``?consistent_with=<event_id>`` makes a
view query wait (bounded) until the view's checkpoint has passed that event's seq. Positions
arrive with the projectors' NOTIFY (payload ``name:position``) and from this process's own
projectors directly; a poll covers a lost notification.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from psycopg_pool import AsyncConnectionPool

from app.background.listener import Listener
from app.background.tasks import wait_for
from app.relay.checkpoints import Checkpoints
from app.relay.sql import CHECKPOINT_CHANNEL, LOG_CHANNEL

EVENT_SEQ = "SELECT seq FROM events WHERE event_id = %s"


class UnknownEvent(Exception):
    pass


class CheckpointWatch:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        checkpoints: Checkpoints,
        listener: Listener,
        *,
        poll_interval: float,
    ) -> None:
        self.pool = pool
        self.checkpoints = checkpoints
        self.listener = listener
        self.poll_interval = poll_interval
        self._known: dict[str, int] = {}
        self._waiters: set[asyncio.Event] = set()
        listener.on_payload(CHECKPOINT_CHANNEL, self._heard)

    def note(self, name: str, position: int) -> None:
        """A checkpoint moved (heard, or committed in this process): wake the waiters."""
        if position > self._known.get(name, -1):
            self._known[name] = position
        for waiter in self._waiters:
            waiter.set()

    def _heard(self, payload: str) -> None:
        name, _, position = payload.rpartition(":")
        if position.isdigit():
            self.note(name, int(position))

    async def wait_until_applied(self, name: str, event_id: uuid.UUID, within: float) -> bool:
        """True once ``name`` has applied the event; False if ``within`` seconds pass first."""
        deadline = time.monotonic() + within
        seq = await self._seq_of(event_id, deadline)
        if seq is None:
            return False
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            polled = 0.0
            while True:
                waiter.clear()
                if self._known.get(name, -1) >= seq:
                    return True
                now = time.monotonic()
                if now - polled >= self.poll_interval:
                    polled = now
                    position = await self.checkpoints.position(name)
                    if position is not None:
                        self.note(name, position)
                    continue
                remaining = deadline - now
                if remaining <= 0:
                    return False
                await wait_for(waiter, min(remaining, self.poll_interval))
        finally:
            self._waiters.discard(waiter)

    async def _seq_of(self, event_id: uuid.UUID, deadline: float) -> int | None:
        """The event's seq, waiting for the sequencer if it has not numbered it yet."""
        waker = self.listener.waker(LOG_CHANNEL)
        try:
            while True:
                waker.clear()
                async with self.pool.connection() as conn:
                    row = await (await conn.execute(EVENT_SEQ, [event_id])).fetchone()
                if row is None:
                    raise UnknownEvent(str(event_id))
                if row[0] is not None:
                    return int(row[0])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                await wait_for(waker, min(remaining, self.poll_interval))
        finally:
            self.listener.forget(waker)
