"""The sequencer: the one process that numbers committed outbox rows into the public log.

Leadership is a PostgreSQL advisory lock held by a dedicated connection, and sequencing runs
on that same connection: if the connection (or the process) dies, the lock and any
half-done batch go with it, and a standby takes over at its next try (every
``standby_interval`` seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection

from app.relay import sql
from app.relay.background import cancel_and_wait
from app.relay.listener import Listener, wait_for

log = logging.getLogger("sluice.relay")
steps = logging.getLogger("sluice.steps")


@dataclass
class SequencerStats:
    batches: int = 0
    sequenced: int = 0
    head: int = 0
    leading: bool = False


class Sequencer:
    def __init__(
        self,
        conninfo: str,
        listener: Listener,
        *,
        batch_size: int = 5000,
        poll_interval: float = 0.5,
        standby_interval: float = 1.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.on_batch = on_batch  # told how many rows each batch numbered
        self.listener = listener
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        # Notifications carry the batch's rows only while the queue is under this share full
        # (see sql.SEQUENCE_BATCH); 0 sends the head alone.
        self.rows_in_notify_below = 0.01
        self.stats = SequencerStats()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="sluice-sequencer")

    async def stop(self) -> None:
        """Stop and close the connection: the lock is released at once for a standby."""
        await cancel_and_wait(self._task)

    async def run(self) -> None:
        waker = self.listener.waker(sql.OUTBOX_CHANNEL)
        delay = self.standby_interval
        try:
            while True:
                try:
                    async with await AsyncConnection.connect(
                        self.conninfo, autocommit=True
                    ) as conn:
                        await conn.execute(sql.SESSION_SETUP)
                        await self._wait_for_leadership(conn)
                        delay = self.standby_interval
                        await self._lead(conn, waker)
                except (psycopg.Error, OSError) as error:
                    log.warning("sequencer connection failed (%s); retrying in %.1fs", error, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                finally:
                    if self.stats.leading:
                        log.info("sequencer: leadership released")
                    self.stats.leading = False
        finally:
            self.listener.forget(waker)

    async def _wait_for_leadership(self, conn: AsyncConnection) -> None:
        while True:
            row = await (await conn.execute(sql.TRY_LOCK, [sql.SEQUENCER_LOCK])).fetchone()
            if row and row[0]:
                self.stats.leading = True
                log.info("sequencer: this process leads")
                return
            await asyncio.sleep(self.standby_interval)

    async def _lead(self, conn: AsyncConnection, waker: asyncio.Event) -> None:
        while True:
            waker.clear()  # cleared before the batch: a notification during it is kept
            taken = await self.sequence_once(conn)
            if taken == 0:
                await wait_for(waker, self.poll_interval)

    async def sequence_once(self, conn: AsyncConnection) -> int:
        """Number one batch of committed outbox rows; returns how many were taken."""
        params = {"limit": self.batch_size, "queue_limit": self.rows_in_notify_below}
        cursor = await conn.execute(sql.SEQUENCE_BATCH, params)
        row = await cursor.fetchone()
        if row is None:
            return 0
        taken, head, _ = row
        self.listener.wake_local(sql.LOG_CHANNEL)  # this process's hub need not wait for NOTIFY
        self.stats.batches += 1
        self.stats.sequenced += taken
        self.stats.head = head
        if self.on_batch is not None:
            self.on_batch(int(taken))
        steps.info(
            "sequenced %d events up to seq %d",
            taken,
            head,
            extra={"fields": {"step": "sequence", "events": taken, "head": head}},
        )
        return int(taken)
